/**
 * Regenerates src/pricing/snapshot.json, the prices the server ships with, from a copy of the
 * llmring registry (manifest.json + <provider>/models.json).
 *
 *   npx tsx scripts/build-price-snapshot.ts [registryDir]          # default: ../shared/registry
 *   npx tsx scripts/build-price-snapshot.ts [registryDir] --check  # exit 1 if the snapshot is stale
 *
 * The server never reads the registry folder: only the generated snapshot, so a fresh clone
 * runs without it.
 */
import fs from 'node:fs';
import path from 'node:path';
import prettier from 'prettier';
import {
  parseManifest,
  parseProviderModels,
  serializePriceTable,
  type PriceTable,
} from '../src/pricing/registry';

const repoRoot = path.resolve(__dirname, '..');
const output = path.join(repoRoot, 'src', 'pricing', 'snapshot.json');

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Formatted as `npm run format` would, so the formatter never rewrites the generated file. */
async function format(text: string): Promise<string> {
  const options = (await prettier.resolveConfig(output)) ?? {};
  return prettier.format(text, { ...options, filepath: output });
}

async function main(argv: string[]): Promise<number> {
  const check = argv.includes('--check');
  const positional = argv.filter((a) => !a.startsWith('--'));
  const registryDir = path.resolve(positional[0] ?? path.join(repoRoot, '..', 'shared', 'registry'));

  const manifest = parseManifest(readJson(path.join(registryDir, 'manifest.json')));
  const table: PriceTable = {
    format: 1,
    registry: { version: manifest.version, updatedAt: manifest.updatedAt },
    providers: {},
  };
  for (const provider of manifest.providers) {
    const { prices, problems } = parseProviderModels(
      provider,
      readJson(path.join(registryDir, provider, 'models.json')),
    );
    for (const p of problems) console.warn(`warning: ${p}`);
    table.providers[provider] = prices;
    console.log(`${provider}: ${prices.models.length} models (file version ${prices.version ?? 'none'})`);
  }

  const text = await format(serializePriceTable(table));
  if (check) {
    const current = fs.existsSync(output) ? fs.readFileSync(output, 'utf8') : '';
    if (current !== text) {
      console.error(`${path.relative(repoRoot, output)} is out of date; run scripts/build-price-snapshot.ts`);
      return 1;
    }
    console.log(`${path.relative(repoRoot, output)} is current`);
    return 0;
  }
  fs.writeFileSync(output, text);
  console.log(`wrote ${path.relative(repoRoot, output)} (registry ${manifest.version ?? 'unversioned'})`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`build-price-snapshot: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
