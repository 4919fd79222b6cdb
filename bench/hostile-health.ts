/**
 * Issue 22's bound, measured: while a key holder sends the hostile statistics requests of its
 * finding 2 (years 0001-9999 in 16 spellings of one zone; then 200 spellings in ten-year
 * ranges, 20 at a time), /health is polled every 10 ms, and the longest answer and the event
 * loop's longest delay are printed against the 100 ms target, with the RSS growth.
 * test/robustness/hostile-stats.test.ts checks the answers; the timing is measured here.
 *
 *   npx tsx bench/hostile-health.ts        # embedded PGlite in memory; DATABASE_URL for Postgres
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { createApp } from '../src/app';
import { createLogger } from '../src/logger';

const ADMIN = randomBytes(24).toString('hex');

/** Case variations of one zone name: every one is a different string. */
function spellings(zone: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    out.push([...zone].map((c, j) => ((i >> j) & 1 ? c.toUpperCase() : c.toLowerCase())).join(''));
  }
  return out;
}

async function main() {
  // The embedded database in a fresh folder, unless DATABASE_URL names a server.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-hostile-'));
  const config = loadConfig({
    LLMRING_ENV: 'test',
    LOG_LEVEL: 'silent',
    LLMRING_ADMIN_TOKEN: ADMIN,
    LLMRING_DATA_DIR: dataDir,
    ...process.env,
  });
  const app = await createApp(config, createLogger({ level: 'silent' }));
  const base = await app.server.listen({ port: 0, host: '127.0.0.1' });
  const key = app.firstProject!.secret;
  const stats = (z: string, startDate: string, endDate: string) =>
    fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({
        query: `query($f: UsageFilter, $z: String!) { usageStats(filter: $f, timeZone: $z, groupBy: DAY) {
          summary { requests } byPeriod { periodStart } } }`,
        variables: { f: { startDate, endDate }, z },
      }),
    }).then((r) => r.text());

  const measure = async (label: string, work: () => Promise<unknown>) => {
    let slowest = 0;
    let done = false;
    const delay = monitorEventLoopDelay({ resolution: 5 });
    const rss = process.memoryUsage().rss;
    delay.enable();
    const poll = (async () => {
      while (!done) {
        const t = performance.now();
        await fetch(`${base}/health`).then((r) => r.text());
        slowest = Math.max(slowest, performance.now() - t);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const t0 = performance.now();
    await work();
    const took = performance.now() - t0;
    done = true;
    await poll;
    delay.disable();
    const grew = (process.memoryUsage().rss - rss) / 1024 / 1024;
    console.log(
      `${label}: ${took.toFixed(0)} ms in all; /health slowest ${slowest.toFixed(1)} ms, ` +
        `event loop delay max ${(delay.max / 1e6).toFixed(1)} ms (target: under 100 ms), RSS ${grew >= 0 ? '+' : ''}${grew.toFixed(0)} MB`,
    );
  };

  await stats('Etc/Universal', '2016-01-02T00:00:00Z', '2026-01-01T00:00:00Z'); // warm
  await measure('16 requests over years 0001-9999 at once (refused)', () =>
    Promise.all(
      spellings('etc/universal', 16).map((z) => stats(z, '0001-01-01T00:00:00Z', '9999-12-31T00:00:00Z')),
    ),
  );
  const names = spellings('etc/universal', 200);
  await measure('200 spellings of one zone over ten years, 20 at a time', async () => {
    for (let i = 0; i < names.length; i += 20) {
      await Promise.all(
        names.slice(i, i + 20).map((z) => stats(z, '2016-01-02T00:00:00Z', '2026-01-01T00:00:00Z')),
      );
    }
  });
  await app.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
