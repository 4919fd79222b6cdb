/**
 * A receipt-key rotation does not break the ledger's history: checkpoints saved before it
 * were signed by the old key, and the server keeps publishing that key's vkey (after the
 * active one), so `verify-ledger` checks them, and the new key's checkpoints, together.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { createApp, type App } from '../../src/app';
import { createLogger } from '../../src/logger';
import type { DatabaseSettings } from '../../src/db/connection';
import { newSigningKeyMaterial } from '../../src/receipts';
import { openNote, parseVerifierKey } from '../../src/ledger/note';
import { httpLedgerServer, verifyLedger } from '../../src/ledger/verify';
import { createTestDatabase, type TestDatabase } from '../helpers/db';
import { integrateAll } from '../helpers/ledger';

const keyA = newSigningKeyMaterial();
const keyB = newSigningKeyMaterial();

async function start(
  database: DatabaseSettings,
  env: Record<string, string>,
): Promise<{ app: App; base: string }> {
  const config = loadConfig({
    LLMRING_ENV: 'test',
    LOG_LEVEL: 'silent',
    LLMRING_LEDGER_MAX_DELAY_MS: '3600000',
    ...env,
  });
  config.database = { ...config.database, ...database };
  const app = await createApp(config, createLogger({ level: 'silent' }));
  await app.services.ledger.stop();
  return { app, base: await app.server.listen({ port: 0, host: '127.0.0.1' }) };
}

async function logCalls(base: string, key: string, n: number): Promise<unknown[]> {
  const docs: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({
        query: 'mutation($i: LogUsageInput!) { logUsage(input: $i) { receipt { document } } }',
        variables: {
          i: { provider: 'openai', model: 'gpt-4o', inputTokens: 10 + i, outputTokens: 1, cost: 0.01 },
        },
      }),
    });
    docs.push(
      ((await res.json()) as { data: { logUsage: { receipt: { document: unknown } } } }).data.logUsage.receipt
        .document,
    );
  }
  return docs;
}

let database: TestDatabase;
let settings: DatabaseSettings;
let dataDir: string | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  await database.db.destroy();
  if (database.settings.url) {
    settings = database.settings;
  } else {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-ledger-rotation-'));
    settings = { poolMax: 1, dataDir };
  }
});

afterAll(async () => {
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  else await database.destroy();
});

test('checkpoints signed before a key rotation verify after it', async () => {
  const first = await start(settings, {
    LLMRING_RECEIPTS_PRIVATE_KEY: keyA.privateKeySeed,
    LLMRING_RECEIPTS_KEY_ID: 'k-a',
  });
  const secret = first.app.firstProject!.secret;
  const projectKey = first.app.firstProject!.projectKey;
  const kept = await logCalls(first.base, secret, 3);
  await integrateAll(first.app.services.ledger, first.app.services.db);
  const before = await (await fetch(`${first.base}/ledger/${projectKey}/checkpoint`)).text();
  const oldVkey = (await (await fetch(`${first.base}/ledger/${projectKey}/vkey`)).text()).trim();
  await first.app.close();

  const second = await start(settings, {
    LLMRING_RECEIPTS_PRIVATE_KEY: keyB.privateKeySeed,
    LLMRING_RECEIPTS_KEY_ID: 'k-b',
    LLMRING_RECEIPTS_VERIFY_KEYS: `k-a:${keyA.publicKey}`,
  });
  try {
    kept.push(...(await logCalls(second.base, secret, 2)));
    await integrateAll(second.app.services.ledger, second.app.services.db);
    const after = await (await fetch(`${second.base}/ledger/${projectKey}/checkpoint`)).text();
    const vkeys = (await (await fetch(`${second.base}/ledger/${projectKey}/vkey`)).text()).trim().split('\n');
    expect(vkeys).toHaveLength(2);
    expect(vkeys[1]).toBe(oldVkey); // the retired key's, after the active one
    expect(() => openNote(before, parseVerifierKey(vkeys[0]))).toThrow(/no signature by/);
    expect(() => openNote(after, parseVerifierKey(oldVkey))).toThrow(/no signature by/);

    const result = await verifyLedger({
      receipts: kept,
      checkpoints: [before, after],
      server: httpLedgerServer(second.base, secret),
    });
    expect(result).toMatchObject({ ok: true, failures: [], checked: { checkpoints: 2, newestSize: 5 } });
  } finally {
    await second.app.close();
  }
});
