/**
 * Soak: mixed traffic at a fixed rate for a long time, to show that neither the server's memory
 * nor its latency grows. Not part of CI.
 *
 *   npx tsx bench/soak.ts [--minutes 10] [--rate 50]
 *
 * Creates a fresh Postgres database (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/
 * postgres, loopback only), starts the real server on it as a child process, and sends `rate`
 * requests a second, open loop (a request starts on schedule whether or not earlier ones have
 * answered): 90% logUsage with realistic inputs (bench/lib/workload.ts), 10% usageStats over the
 * last day in whole hours. Each minute it samples the server's RSS (VmRSS from /proc) and the
 * p50/p99 latency of the requests that finished in that minute, and at the end prints a
 * markdown table and whether
 * RSS or p99 grows: the mean of the last third of the minutes against the first third. The first
 * minute is warm-up (JIT, pools, caches) and is left out when there are three minutes or more.
 * The database and the server go at the end and on Ctrl-C.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Cleanup } from './lib/cleanup';
import { GraphQLClient } from './lib/http';
import { errorMessage, progress, sleep } from './lib/log';
import { connect, createDatabase, databaseUrl, dropDatabase } from './lib/pg';
import { readMemory, ServerProcess } from './lib/server';
import { fmtMs, percentile } from './lib/stats-math';
import { logInput, rng } from './lib/workload';

const LOG_USAGE = `mutation SoakLogUsage($input: LogUsageInput!) {
  logUsage(input: $input) { usageLog { id } receipt { receiptId } }
}`;
const USAGE_STATS = `query SoakStats($filter: UsageFilter!) {
  usageStats(filter: $filter, groupBy: HOUR) {
    summary { requests cost } byPeriod { periodStart requests } byAlias { aliasName cost } byModel { model cost }
  }
}`;
/**
 * The last 24 hours in whole hours, the current one included, as a dashboard asks: statistics
 * then read hourly rollups plus the few logs past the rollup watermark. (A window ending at
 * `now` reads the raw logs of the current partial hour instead, so its cost grows with the
 * hour's volume until the hour turns: a sawtooth, not a leak, that would hide one.)
 */
function lastDayInWholeHours(): { startDate: string; endDate: string } {
  const hour = 3_600_000;
  const next = Math.floor(Date.now() / hour) * hour + hour;
  return { startDate: new Date(next - 24 * hour).toISOString(), endDate: new Date(next).toISOString() };
}

/** More requests than this in flight means the server has fallen behind: they are counted as late and skipped. */
const MAX_IN_FLIGHT = 500;
/** Growth that counts as growing: relative and absolute, both must be exceeded. */
const RSS_GROWTH = { ratio: 0.15, mb: 15 };
const P99_GROWTH = { ratio: 0.5, ms: 5 };

interface Options {
  minutes: number;
  rate: number;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { minutes: 10, rate: 50 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write('usage: npx tsx bench/soak.ts [--minutes 10] [--rate 50]\n');
      process.exit(0);
    } else if ((flag === '--minutes' || flag === '--rate') && value !== undefined && Number(value) > 0) {
      opts[flag === '--minutes' ? 'minutes' : 'rate'] = Number(value);
      i++;
    } else throw new Error(`unknown or incomplete argument ${flag} (see --help)`);
  }
  return opts;
}

interface Minute {
  minute: number;
  sent: number;
  ok: number;
  errors: number;
  late: number;
  logMs: number[];
  statsMs: number[];
  rssMb: number;
}

const newMinute = (minute: number): Minute => ({
  minute,
  sent: 0,
  ok: 0,
  errors: 0,
  late: 0,
  logMs: [],
  statsMs: [],
  rssMb: NaN,
});

/** Least-squares slope of y over x. */
function slope(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

/**
 * Grows: the mean of the last third of the minutes exceeds the mean of the first third (the
 * baseline) by more than both limits, so that one noisy minute cannot decide a long run.
 */
function verdict(
  name: string,
  values: number[],
  limit: { ratio: number; abs: number },
  unit: string,
): string {
  const third = Math.max(1, Math.floor(values.length / 3));
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const baseline = mean(values.slice(0, third));
  const last = mean(values.slice(-third));
  const change = last - baseline;
  const grows = change > limit.abs && change / baseline > limit.ratio;
  const trend = slope(values);
  return (
    `${name}: ${grows ? 'GROWS' : 'does not grow'} (first third ${baseline.toFixed(1)} ${unit}, ` +
    `last third ${last.toFixed(1)} ${unit}, change ${change >= 0 ? '+' : ''}${change.toFixed(1)} ${unit} = ` +
    `${((change / baseline) * 100).toFixed(1)}%, trend ${trend >= 0 ? '+' : ''}${trend.toFixed(2)} ${unit}/min; ` +
    `growing means over +${limit.abs} ${unit} and +${limit.ratio * 100}%)`
  );
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const cleanup = new Cleanup();
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    progress(`${signal}: stopping the server and dropping the soak database`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const dbName = `llmring_soak_${stamp}_${process.pid}`;
  const dbUrl = databaseUrl(dbName);
  try {
    progress(`creating database ${dbName}`);
    await createDatabase(dbName);
    cleanup.add(`drop database ${dbName}`, () => dropDatabase(dbName));

    const server = await ServerProcess.start({
      label: 'soak',
      env: {
        DATABASE_URL: dbUrl,
        LLMRING_ENV: 'production',
        LLMRING_ADMIN_TOKEN: randomBytes(24).toString('hex'),
        LLMRING_RECEIPTS_PRIVATE_KEY: String(
          generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }).d,
        ),
        LLMRING_RECEIPTS_KEY_ID: 'k-soak',
      },
      cleanup,
    });
    const key = server.firstKey;
    if (!key) throw new Error('the server printed no API key on its first start');
    const client = new GraphQLClient(server.url, { maxSockets: 256, timeoutMs: 30_000 });
    cleanup.add('close HTTP client', () => client.close());
    const headers = { 'x-api-key': key };
    progress(`server pid ${server.pid} on ${server.url}; ${opts.rate} req/s for ${opts.minutes} min`);

    const r = rng(20261126);
    const totalMinutes = Math.ceil(opts.minutes);
    const minutes: Minute[] = [newMinute(1)];
    const current = () => minutes[minutes.length - 1];
    let inFlight = 0;

    const fire = () => {
      const bucket = current();
      if (inFlight >= MAX_IN_FLIGHT) {
        bucket.late++;
        return;
      }
      const stats = r() < 0.1;
      const body = stats
        ? JSON.stringify({ query: USAGE_STATS, variables: { filter: lastDayInWholeHours() } })
        : JSON.stringify({ query: LOG_USAGE, variables: { input: logInput(r) } });
      bucket.sent++;
      inFlight++;
      const t0 = performance.now();
      client
        .post(body, headers)
        .then(({ status, text }) => {
          const b = current(); // counted in the minute it finished
          if (status === 200 && text.startsWith('{"data"') && !text.includes('"errors"')) {
            b.ok++;
            (stats ? b.statsMs : b.logMs).push(performance.now() - t0);
          } else {
            b.errors++;
            if (b.errors <= 3) progress(`error: HTTP ${status}: ${text.slice(0, 200)}`);
          }
        })
        .catch((err: unknown) => {
          const b = current();
          b.errors++;
          if (b.errors <= 3) progress(`error: ${errorMessage(err)}`);
        })
        .finally(() => inFlight--);
    };

    // Open loop on an absolute schedule: request i starts at start + i/rate, whatever the server does.
    const start = performance.now();
    const endAt = start + opts.minutes * 60_000;
    const interval = 1000 / opts.rate;
    let next = start;
    let minuteEnd = start + 60_000;
    while (!stopping) {
      const now = performance.now();
      if (now >= minuteEnd || now >= endAt) {
        const m = current();
        m.rssMb = (readMemory(server.pid)?.rssKb ?? NaN) / 1024;
        const all = [...m.logMs, ...m.statsMs];
        progress(
          `minute ${m.minute}: ${m.ok} ok, ${m.errors} errors, ${m.late} late, p99 ${fmtMs(percentile(all, 99))}, RSS ${m.rssMb.toFixed(1)} MB`,
        );
        server.assertAlive();
        if (now >= endAt || minutes.length >= totalMinutes) break;
        minutes.push(newMinute(m.minute + 1));
        minuteEnd += 60_000;
      }
      while (next <= now) {
        fire();
        next += interval;
      }
      await sleep(Math.max(0, Math.min(next, minuteEnd) - performance.now()));
    }
    while (inFlight > 0) await sleep(20);

    const db = await connect(dbUrl, 'llmring-soak');
    const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM usage_logs');
    await db.end();

    // ---- The table ---------------------------------------------------------------------------
    const out: string[] = [];
    out.push(`## Soak: ${opts.rate} req/s (90% logUsage, 10% usageStats), ${opts.minutes} min`, '');
    out.push('| minute | sent | ok | errors | late | p50 | p99 | p99 logUsage | p99 usageStats | RSS (MB) |');
    out.push('| -----: | ---: | -: | -----: | ---: | --: | --: | -----------: | -------------: | -------: |');
    for (const m of minutes) {
      const all = [...m.logMs, ...m.statsMs];
      out.push(
        `| ${m.minute} | ${m.sent} | ${m.ok} | ${m.errors} | ${m.late} | ${fmtMs(percentile(all, 50))} | ${fmtMs(percentile(all, 99))} | ` +
          `${fmtMs(percentile(m.logMs, 99))} | ${fmtMs(percentile(m.statsMs, 99))} | ${m.rssMb.toFixed(1)} |`,
      );
    }
    const judged = minutes.length >= 3 ? minutes.slice(1) : minutes; // minute 1 is warm-up
    out.push('');
    const note = judged.length < 3 ? ' (indicative only: fewer than 3 minutes after warm-up)' : '';
    out.push(
      `Logs stored: ${Number(rows[0].n).toLocaleString('en-US')}. Judged: minutes ${judged[0].minute}-${judged.at(-1)!.minute}${note}.`,
    );
    const p99Limit = { ratio: P99_GROWTH.ratio, abs: P99_GROWTH.ms };
    const rssLimit = { ratio: RSS_GROWTH.ratio, abs: RSS_GROWTH.mb };
    const p99Of = (pick: (m: Minute) => number[]) => judged.map((m) => percentile(pick(m), 99));
    out.push(
      `- ${verdict(
        'RSS',
        judged.map((m) => m.rssMb),
        rssLimit,
        'MB',
      )}`,
    );
    out.push(
      `- ${verdict(
        'p99 logUsage',
        p99Of((m) => m.logMs),
        p99Limit,
        'ms',
      )}`,
    );
    out.push(
      `- ${verdict(
        'p99 usageStats',
        p99Of((m) => m.statsMs),
        p99Limit,
        'ms',
      )}`,
    );
    out.push(
      `- ${verdict(
        'p99 overall',
        p99Of((m) => [...m.logMs, ...m.statsMs]),
        p99Limit,
        'ms',
      )}`,
    );
    const errors = minutes.reduce((n, m) => n + m.errors + m.late, 0);
    out.push(`- errors or late requests: ${errors}`);
    const logged = server.logged();
    if (logged.length) {
      out.push('', 'Server warnings and errors:');
      for (const l of logged.slice(0, 10)) out.push(`- ${l.level} ×${l.count}: ${l.message}`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await cleanup.run();
  }
}

main().catch((err: unknown) => {
  progress(`soak failed: ${errorMessage(err)}`);
  process.exitCode = 1;
});
