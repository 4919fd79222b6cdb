/**
 * Builds the dashboard bundle exactly as the server does at start, reports its size, and fails
 * when it outgrows the budget. The server never reads what this writes: it bundles in memory.
 *
 *   npx tsx scripts/build-dashboard.ts              # report sizes; exit 1 over budget
 *   npx tsx scripts/build-dashboard.ts --out DIR    # also write index.html and the assets to DIR
 */
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildDashboardAssets } from '../src/http/dashboard';

/** Compressed bytes the page may download (JS + CSS), as a browser gets them with gzip. */
const BUDGET_GZIP_BYTES = 50 * 1024;

async function main(): Promise<void> {
  const outIndex = process.argv.indexOf('--out');
  const outDir = outIndex > 0 ? process.argv[outIndex + 1] : undefined;
  if (outIndex > 0 && !outDir) throw new Error('--out needs a directory');

  const { html, assets, buildMs } = await buildDashboardAssets();
  let totalGzip = 0;
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  for (const a of assets) {
    const gz = gzipSync(a.body, { level: 9 }).length;
    totalGzip += gz;
    console.log(`${a.name.padEnd(22)} ${kb(a.body.length).padStart(10)}  ${kb(gz).padStart(9)} gzip`);
  }
  console.log(`built in ${buildMs} ms; ${kb(totalGzip)} gzip in all (budget ${kb(BUDGET_GZIP_BYTES)})`);

  if (outDir) {
    const assetDir = path.join(outDir, 'dashboard', 'assets');
    fs.mkdirSync(assetDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'dashboard.html'), html);
    for (const a of assets) fs.writeFileSync(path.join(assetDir, a.name), a.body);
    console.log(`wrote ${path.resolve(outDir)}`);
  }
  if (totalGzip > BUDGET_GZIP_BYTES) {
    console.error(`the dashboard bundle is over budget by ${kb(totalGzip - BUDGET_GZIP_BYTES)}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
