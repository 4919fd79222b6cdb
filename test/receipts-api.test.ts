/**
 * Receipts as a client sees them: fetched over the API, verified offline with the README's
 * snippet and the published key, before and after a signing-key rotation.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { createApp, type App } from '../src/app';
import { createLogger } from '../src/logger';
import type { DatabaseSettings } from '../src/db/connection';
import { newSigningKeyMaterial } from '../src/receipts';
import { createTestDatabase, type TestDatabase } from './helpers/db';

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'test-output');

/** The snippet exactly as the README shows it. */
function readmeSnippet(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- verify-snippet:start -->\s*```js\n([\s\S]*?)```\s*<!-- verify-snippet:end -->/.exec(
    readme,
  );
  if (!block) throw new Error('README.md has no verify snippet between its markers');
  return block[1];
}

/** Runs the README snippet on a document and a PEM; true when it prints 'valid' and exits 0. */
function snippetSays(document: unknown, pem: string): boolean {
  fs.mkdirSync(OUT, { recursive: true });
  const dir = fs.mkdtempSync(path.join(OUT, 'verify-'));
  const script = path.join(dir, 'verify-receipt.js');
  fs.writeFileSync(script, readmeSnippet());
  fs.writeFileSync(path.join(dir, 'receipt.json'), JSON.stringify(document));
  fs.writeFileSync(path.join(dir, 'key.pem'), pem);
  try {
    const out = execFileSync(process.execPath, [script, 'receipt.json', 'key.pem'], {
      cwd: dir,
      encoding: 'utf8',
    });
    return out.trim() === 'valid';
  } catch (err) {
    const out = (err as { stdout?: string }).stdout ?? '';
    if (out.trim() !== 'INVALID') throw err;
    return false;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const keyA = newSigningKeyMaterial();
const keyB = newSigningKeyMaterial();

async function start(
  database: DatabaseSettings,
  env: Record<string, string>,
): Promise<{ app: App; base: string }> {
  const config = loadConfig({ LLMRING_ENV: 'test', LOG_LEVEL: 'silent', ...env });
  config.database = { ...config.database, ...database };
  const app = await createApp(config, createLogger({ level: 'silent' }));
  const base = await app.server.listen({ port: 0, host: '127.0.0.1' });
  return { app, base };
}

async function gql(base: string, key: string, query: string, variables?: object) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: Record<string, any>; errors?: unknown[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const LOG = `mutation($input: LogUsageInput!) { logUsage(input: $input) { receipt { receiptId keyId document } } }`;
const GET = `query($id: String!) { receipt(receiptId: $id) { keyId document } }`;
const VERIFY = `query($d: JSONObject!) { verifyReceipt(document: $d) { valid keyId reason } }`;
const KEYS = `{ receiptPublicKeys { keyId active publicKeyPem jwk } }`;

describe('receipts over the API', () => {
  let database: TestDatabase;
  let settings: DatabaseSettings;
  let dataDir: string | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    await database.db.destroy();
    if (database.settings.url) {
      settings = database.settings;
    } else {
      // The embedded database must outlive one server: keep it in a folder, not in memory.
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-rotation-'));
      settings = { poolMax: 1, dataDir };
    }
  });

  afterAll(async () => {
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    else await database.destroy();
  });

  test('a fetched receipt verifies offline with the README snippet, before and after a key rotation', async () => {
    // Before: signed with key A.
    const first = await start(settings, {
      LLMRING_RECEIPTS_PRIVATE_KEY: keyA.privateKeySeed,
      LLMRING_RECEIPTS_KEY_ID: 'k-a',
    });
    const key = first.app.firstProject!.secret;
    const logged = await gql(first.base, key, LOG, {
      input: {
        provider: 'openai',
        model: 'gpt-4o',
        aliasName: 'summarizer',
        inputTokens: 1000,
        outputTokens: 200,
      },
    });
    const receiptId = logged.logUsage.receipt.receiptId as string;
    const { document } = (await gql(first.base, key, GET, { id: receiptId })).receipt;
    expect(document.key_id).toBe('k-a');
    const pemA = await (await fetch(`${first.base}/receipts/public-key.pem`)).text();
    expect(pemA).toContain('BEGIN PUBLIC KEY');
    expect(snippetSays(document, pemA)).toBe(true);
    expect(snippetSays({ ...document, cost: { ...document.cost, amount: '0.00000001' } }, pemA)).toBe(false);
    expect(snippetSays({ ...document, alias_name: 'other' }, pemA)).toBe(false);
    await first.app.close();

    // After: key B signs; key A is kept for verification only.
    const second = await start(settings, {
      LLMRING_RECEIPTS_PRIVATE_KEY: keyB.privateKeySeed,
      LLMRING_RECEIPTS_KEY_ID: 'k-b',
      LLMRING_RECEIPTS_VERIFY_KEYS: `k-a:${keyA.publicKey}`,
    });
    try {
      const keys = (await gql(second.base, key, KEYS)).receiptPublicKeys as Array<Record<string, unknown>>;
      expect(keys.map((k) => [k.keyId, k.active])).toEqual(
        expect.arrayContaining([
          ['k-b', true],
          ['k-a', false],
        ]),
      );
      const jwks = (await (await fetch(`${second.base}/receipts/public-keys.json`)).json()) as {
        keys: Array<{ kid: string }>;
      };
      expect(jwks.keys.map((k) => k.kid).sort()).toEqual(['k-a', 'k-b']);

      const old = (await gql(second.base, key, GET, { id: receiptId })).receipt;
      expect(old.document).toEqual(document);
      expect((await gql(second.base, key, VERIFY, { d: old.document })).verifyReceipt).toEqual({
        valid: true,
        keyId: 'k-a',
        reason: null,
      });
      const oldPem = keys.find((k) => k.keyId === 'k-a')!.publicKeyPem as string;
      expect(snippetSays(old.document, oldPem)).toBe(true);

      const fresh = await gql(second.base, key, LOG, {
        input: {
          provider: 'anthropic',
          model: 'claude-3-5-haiku-20241022',
          inputTokens: 10,
          outputTokens: 5,
        },
      });
      const newDoc = fresh.logUsage.receipt.document;
      expect(newDoc.key_id).toBe('k-b');
      const pemB = await (await fetch(`${second.base}/receipts/public-key.pem`)).text();
      expect(snippetSays(newDoc, pemB)).toBe(true);
      expect(snippetSays(newDoc, oldPem)).toBe(false);
      const tampered = await gql(second.base, key, VERIFY, { d: { ...newDoc, model_used: 'gpt-4o' } });
      expect(tampered.verifyReceipt.valid).toBe(false);
      expect(tampered.verifyReceipt.reason).toMatch(/signature does not match/);
    } finally {
      await second.app.close();
    }
  });
});
