/**
 * Receipt documents and the keyring: the contract of ../shared/spec/receipts.md, checked
 * against an independent verifier (node:crypto + the same JCS library, as a third party would
 * verify), on a real database (embedded PGlite, or Postgres with TEST_DATABASE_URL).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { spawnSync } from 'node:child_process';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import pino from 'pino';
import type { Logger } from '../src/logger';
import {
  buildReceiptDocument,
  newReceiptId,
  newSigningKeyMaterial,
  ReceiptKeyConfigError,
  ReceiptKeyring,
  type ReceiptDocument,
  type ReceiptKeySettings,
} from '../src/receipts';
import { ED25519_SIGNER, Ed25519Signer, WORKER_MIN_MESSAGES } from '../src/receipts/ed25519';
import { createMigratedDatabase, type TestDatabase } from './helpers/db';

interface CapturedLogger {
  logger: Logger;
  lines: string[];
}

function captureLogger(): CapturedLogger {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

function keyMaterial(): { seed: string; x: string; privateKey: KeyObject; pem: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    seed: String(jwk.d),
    x: String(jwk.x),
    privateKey,
    pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/** What a third party does: drop signature, JCS, Ed25519 verify with the published key. */
function independentlyValid(document: Record<string, unknown>, publicKey: KeyObject): boolean {
  const { signature, ...rest } = document;
  const match = /^ed25519:([A-Za-z0-9_-]+)$/.exec(String(signature));
  if (!match) return false;
  return verify(
    null,
    Buffer.from(canonicalize(rest)!, 'utf8'),
    publicKey,
    Buffer.from(match[1], 'base64url'),
  );
}

/** Signs any document the way the spec says, without the keyring (e.g. as the legacy server did). */
function signRaw(document: Record<string, unknown>, privateKey: KeyObject): Record<string, unknown> {
  const signature = sign(null, Buffer.from(canonicalize(document)!, 'utf8'), privateKey).toString(
    'base64url',
  );
  return { ...document, signature: `ed25519:${signature}` };
}

function sampleDocument(keyId: string, overrides: Partial<Parameters<typeof buildReceiptDocument>[0]> = {}) {
  return buildReceiptDocument({
    receiptId: 'rcpt_abcdefghijklmnopqrstuvwxyz',
    issuedAt: new Date('2026-11-26T11:00:00.000Z'),
    occurredAt: new Date('2026-11-26T10:59:58.000Z'),
    projectKey: 'production',
    usageLogId: '8d5c2a0e-1111-4a4a-9b9b-0123456789ab',
    aliasName: 'summarizer',
    provider: 'openai',
    modelUsed: 'gpt-4o',
    tokens: { input: 1000, output: 200, cachedInput: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
    cost: { amount: '0.00450000', source: 'registry' },
    pricing: null,
    keyId,
    ...overrides,
  });
}

let t: TestDatabase;
beforeAll(async () => {
  t = await createMigratedDatabase();
});
afterAll(async () => {
  await t.destroy();
});

async function load(
  settings: ReceiptKeySettings,
  logger: Logger = captureLogger().logger,
): Promise<ReceiptKeyring> {
  return ReceiptKeyring.load({ settings, db: t.db, logger });
}

describe('receipt documents', () => {
  test('the version-2 document has exactly the members of docs/receipts.md', () => {
    expect(sampleDocument('k-2026-11')).toStrictEqual({
      version: 2,
      receipt_id: 'rcpt_abcdefghijklmnopqrstuvwxyz',
      issued_at: '2026-11-26T11:00:00.000Z',
      occurred_at: '2026-11-26T10:59:58.000Z',
      project_key: 'production',
      usage_log_id: '8d5c2a0e-1111-4a4a-9b9b-0123456789ab',
      alias_name: 'summarizer',
      provider: 'openai',
      model_used: 'gpt-4o',
      tokens: {
        input: 1000,
        output: 200,
        cached_input: 0,
        cache_write_5m: 0,
        cache_write_1h: 0,
        reasoning: 0,
      },
      cost: { amount: '0.00450000', currency: 'USD', source: 'registry' },
      pricing: null,
      key_id: 'k-2026-11',
    });
    expect(sampleDocument('k', { aliasName: null }).alias_name).toBeNull();
  });

  test('receipt ids are rcpt_ and 26 URL-safe random characters', () => {
    const ids = Array.from({ length: 1000 }, () => newReceiptId());
    for (const id of ids) expect(id).toMatch(/^rcpt_[a-z2-7]{26}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('inputs that would put a wrong value into signed bytes are refused', () => {
    expect(() => sampleDocument('k', { cost: { amount: '0.0045', source: 'registry' } })).toThrow(
      /8 fractional/,
    );
    expect(() => sampleDocument('k', { cost: { amount: '1e-3', source: 'registry' } })).toThrow(
      /8 fractional/,
    );
    expect(() =>
      sampleDocument('k', {
        tokens: { input: 1.5, output: 0, cachedInput: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
      }),
    ).toThrow(/tokens.input/);
    expect(() =>
      sampleDocument('k', {
        tokens: { input: 1, output: -1, cachedInput: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
      }),
    ).toThrow(/tokens.output/);
    expect(() => sampleDocument('k', { issuedAt: new Date('nope') })).toThrow(/issuedAt/);
  });
});

describe('the Ed25519 signer', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const viaLibsodium = new Ed25519Signer(privateKey);
  const viaNode = new Ed25519Signer(privateKey, null);
  afterAll(() => viaLibsodium.close());

  test("libsodium signs here: sodium-native is a dependency and ships this platform's binary", () => {
    expect(ED25519_SIGNER).toBe('libsodium');
  });

  test('libsodium and the node:crypto fallback give the signature node:crypto gives', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const message = Buffer.from(bytes);
        const expected = sign(null, message, privateKey);
        expect(viaLibsodium.sign(message)).toStrictEqual(expected);
        expect(viaNode.sign(message)).toStrictEqual(expected);
        expect(verify(null, message, publicKey, viaLibsodium.sign(message))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  test('many messages at once, on the signing thread or not, get each its own signature, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 3 * WORKER_MIN_MESSAGES }),
        async (arrays) => {
          const messages = arrays.map((a) => Buffer.from(a));
          const expected = messages.map((m) => sign(null, m, privateKey));
          expect(await viaLibsodium.signAll(messages)).toStrictEqual(expected);
          expect(await viaNode.signAll(messages)).toStrictEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('concurrent calls each get their own answers; a closed thread starts again when needed', async () => {
    const batches = Array.from({ length: 5 }, (_, b) =>
      Array.from({ length: WORKER_MIN_MESSAGES + b }, (_, i) => Buffer.from(`batch ${b} message ${i}`)),
    );
    const signed = await Promise.all(batches.map((batch) => viaLibsodium.signAll(batch)));
    signed.forEach((signatures, b) =>
      expect(signatures).toStrictEqual(batches[b].map((m) => sign(null, m, privateKey))),
    );
    await viaLibsodium.close();
    expect(await viaLibsodium.signAll(batches[0])).toStrictEqual(signed[0]);
  });

  test('the signing thread keeps a process alive while it signs, and not once it is idle', () => {
    // A process whose only pending work is a signAll: it must print the answer, then exit.
    const script = [
      `const { generateKeyPairSync } = require('node:crypto');`,
      `const { Ed25519Signer } = require(${JSON.stringify(require.resolve('../src/receipts/ed25519'))});`,
      `const signer = new Ed25519Signer(generateKeyPairSync('ed25519').privateKey);`,
      `const messages = Array.from({ length: ${WORKER_MIN_MESSAGES * 4} }, (_, i) => Buffer.from('m' + i));`,
      `signer.signAll(messages).then((s) => console.log(s.length + ' signed'));`,
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(child.error).toBeUndefined(); // a timeout: the idle thread held the process
    expect(child.stdout.trim()).toBe(`${WORKER_MIN_MESSAGES * 4} signed`);
    expect(child.status).toBe(0);
  });

  test('a key that is not Ed25519 is refused', () => {
    const { privateKey: x25519 } = generateKeyPairSync('x25519');
    expect(() => new Ed25519Signer(x25519)).toThrow(/not an Ed25519 private key/);
  });
});

describe('signing and verifying', () => {
  const main = keyMaterial();
  let keyring: ReceiptKeyring;
  let signed: ReceiptDocument;
  beforeAll(async () => {
    keyring = await load({ privateKey: main.seed, keyId: 'k-2026-11' });
    signed = keyring.sign(sampleDocument(keyring.activeKeyId));
  });

  test('a signed receipt lists its members in RFC 8785 order, signature included (its JSON is its JCS text)', () => {
    expect(JSON.stringify(signed)).toBe(canonicalize(signed));
  });

  test('a signed receipt verifies, with the keyring and independently', () => {
    expect(keyring.activeKeyId).toBe('k-2026-11');
    expect(signed.signature).toMatch(/^ed25519:[A-Za-z0-9_-]{86}$/);
    expect(keyring.verify(signed)).toEqual({ valid: true, keyId: 'k-2026-11', reason: null });
    expect(independentlyValid({ ...signed }, createPublicKey(main.privateKey))).toBe(true);
    // Through JSON and back, as every client sees it.
    expect(keyring.verify(JSON.parse(JSON.stringify(signed)))).toMatchObject({ valid: true });
  });

  test('signing refuses a document that names another key', () => {
    expect(() => keyring.sign(sampleDocument('k-other'))).toThrow(/not the active signing key/);
  });

  test('signAll (on the signing thread for many) signs each document as sign does', async () => {
    const documents = Array.from({ length: 2 * WORKER_MIN_MESSAGES }, (_, i) =>
      sampleDocument(keyring.activeKeyId, {
        tokens: { input: i, output: 2 * i, cachedInput: 0, cacheWrite5m: 0, cacheWrite1h: 0, reasoning: 0 },
      }),
    );
    const all = await keyring.signAll(documents);
    expect(all).toStrictEqual(documents.map((d) => keyring.sign(d)));
    for (const doc of all)
      expect(independentlyValid({ ...doc }, createPublicKey(main.privateKey))).toBe(true);
    await expect(keyring.signAll([sampleDocument('k-other')])).rejects.toThrow(/not the active signing key/);
    await keyring.close();
  });

  type Editable = Record<string, unknown> & {
    tokens: Record<string, unknown>;
    cost: Record<string, unknown>;
  };
  const tamperings: Array<[string, (d: Editable) => void]> = [
    ['version', (d) => (d.version = 1)],
    ['occurred_at', (d) => (d.occurred_at = '2026-11-26T10:59:58.001Z')],
    ['tokens.cache_write_5m', (d) => (d.tokens.cache_write_5m = 1)],
    ['tokens.reasoning', (d) => (d.tokens.reasoning = 1)],
    ['receipt_id', (d) => (d.receipt_id = 'rcpt_bbcdefghijklmnopqrstuvwxyz')],
    ['issued_at', (d) => (d.issued_at = '2026-11-26T11:00:00.001Z')],
    ['project_key', (d) => (d.project_key = 'staging')],
    ['usage_log_id', (d) => (d.usage_log_id = '8d5c2a0e-1111-4a4a-9b9b-0123456789ac')],
    ['alias_name', (d) => (d.alias_name = 'summariser')],
    ['alias_name to null', (d) => (d.alias_name = null)],
    ['provider', (d) => (d.provider = 'azure')],
    ['model_used', (d) => (d.model_used = 'gpt-4o-mini')],
    ['tokens.input', (d) => (d.tokens.input = 1001)],
    ['tokens.output', (d) => (d.tokens.output = 199)],
    ['tokens.cached_input', (d) => (d.tokens.cached_input = 1)],
    ['tokens.input as a string', (d) => (d.tokens.input = '1000')],
    ['cost.amount', (d) => (d.cost.amount = '0.00450001')],
    ['cost.amount formatting', (d) => (d.cost.amount = '0.0045')],
    ['cost.currency', (d) => (d.cost.currency = 'EUR')],
    ['cost.source', (d) => (d.cost.source = 'client')],
    ['an added member', (d) => (d.note = 'hello')],
    ['an added nested member', (d) => (d.cost.discount = '0')],
    ['a removed member', (d) => delete d.alias_name],
  ];
  test.each(tamperings)('tampering is detected: %s', (_name, tamper) => {
    const doc = structuredClone(signed) as unknown as Editable;
    tamper(doc);
    const result = keyring.verify(doc);
    expect(result.valid).toBe(false);
    expect(result.keyId).toBe('k-2026-11');
    expect(result.reason).toMatch(/^signature does not match/);
  });

  test('an injected __proto__ member is a changed document, not a prototype', () => {
    const text = JSON.stringify(signed).replace(/^\{/, '{"__proto__":{"admin":true},');
    const doc = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(doc)).toContain('__proto__');
    expect(keyring.verify(doc)).toMatchObject({
      valid: false,
      reason: expect.stringMatching(/^signature does not match/),
    });
  });

  test('an unknown key_id is reported as such', () => {
    const result = keyring.verify({ ...signed, key_id: 'k-1999-01' });
    expect(result).toEqual({
      valid: false,
      keyId: 'k-1999-01',
      reason: expect.stringMatching(/^unknown key_id/),
    });
  });

  test.each([
    'missing',
    'not a string',
    'without the prefix',
    'with another algorithm',
    'too short',
    'with padding',
    'in standard base64',
    'with stray bits in the last character',
  ])('a malformed signature (%s) is reported as such', (name) => {
    const sig = signed.signature.slice('ed25519:'.length);
    const variants: Record<string, unknown> = {
      missing: undefined,
      'not a string': 12345,
      'without the prefix': sig,
      'with another algorithm': `rsa:${sig}`,
      'too short': 'ed25519:abc',
      'with padding': `${signed.signature}==`,
      'in standard base64': `ed25519:${Buffer.from(sig, 'base64url').toString('base64')}`,
      // 86 characters carry 516 bits for 512: the last character's low 4 bits must be zero.
      'with stray bits in the last character': `ed25519:${sig.slice(0, 85)}${sig[85] === 'B' ? 'C' : 'B'}`,
    };
    const doc: Record<string, unknown> = { ...signed, signature: variants[name] };
    if (variants[name] === undefined) delete doc.signature;
    const result = keyring.verify(doc);
    expect(result).toEqual({
      valid: false,
      keyId: 'k-2026-11',
      reason: expect.stringMatching(/^malformed signature/),
    });
  });

  test('a receipt signed by another key under the same key id does not verify', async () => {
    const impostor = await load({ privateKey: keyMaterial().seed, keyId: 'k-2026-11' });
    const forged = impostor.sign(sampleDocument('k-2026-11'));
    expect(impostor.verify(forged).valid).toBe(true);
    expect(keyring.verify(forged)).toEqual({
      valid: false,
      keyId: 'k-2026-11',
      reason: expect.stringMatching(/^signature does not match/),
    });
  });

  test('garbage never throws', () => {
    const cyclic: Record<string, unknown> = { key_id: 'k-2026-11', signature: signed.signature };
    cyclic.self = cyclic;
    const hostile = {
      key_id: 'k-2026-11',
      signature: signed.signature,
      get boom(): never {
        throw new Error('boom');
      },
    };
    const inputs: unknown[] = [
      null,
      undefined,
      42,
      'a string',
      true,
      [signed],
      {},
      { key_id: 7 },
      { key_id: '' },
      { ...signed, big: BigInt(1) },
      { ...signed, nan: Number.NaN },
      cyclic,
      hostile,
      new Proxy(
        {},
        {
          get() {
            throw new Error('trap');
          },
          ownKeys() {
            throw new Error('trap');
          },
        },
      ),
    ];
    for (const input of inputs) {
      const result = keyring.verify(input);
      expect(result.valid).toBe(false);
      expect(typeof result.reason).toBe('string');
    }
    expect(keyring.verify(null).reason).toMatch(/not a JSON object/);
    expect(keyring.verify({}).reason).toMatch(/no key_id/);
  });

  test('verification does not depend on member order (jsonb reorders members)', () => {
    fc.assert(
      fc.property(fc.func(fc.integer()), (rank) => {
        const shuffle = (o: Record<string, unknown>): Record<string, unknown> =>
          Object.fromEntries(
            Object.entries(o)
              .map(
                ([k, v]) =>
                  [k, v && typeof v === 'object' ? shuffle(v as Record<string, unknown>) : v] as const,
              )
              .sort(([a], [b]) => rank(a) - rank(b)),
          );
        return keyring.verify(shuffle({ ...signed })).valid;
      }),
      { numRuns: 50 },
    );
  });

  test('a legacy receipt with alias resolution details verifies as stored, also after a jsonb round trip', async () => {
    const legacy = signRaw(
      {
        version: 1,
        receipt_id: 'rcpt_legacy0000000000000000001',
        issued_at: '2025-06-01T08:30:00.000Z',
        project_key: 'production',
        usage_log_id: 'f0e1d2c3-0000-4000-8000-000000000001',
        alias: {
          id: '0b4c7d64-2f1e-4a5b-9c8d-7e6f5a4b3c2d',
          name: 'summarizer',
          resolved_model: 'openai:gpt-4o',
        },
        alias_name: 'summarizer',
        provider: 'openai',
        model_used: 'gpt-4o',
        tokens: { input: 1000, output: 200, cached_input: 0 },
        cost: { amount: '0.00450000', currency: 'USD', source: 'registry' },
        key_id: 'k-2026-11',
      },
      main.privateKey,
    );
    expect(keyring.verify(legacy)).toEqual({ valid: true, keyId: 'k-2026-11', reason: null });

    const rows = (await t.db.raw('SELECT ?::jsonb AS document', [JSON.stringify(legacy)])) as {
      rows: Array<{ document: unknown }>;
    };
    const stored = rows.rows[0].document;
    const parsed = (typeof stored === 'string' ? JSON.parse(stored) : stored) as Record<string, unknown>;
    expect(parsed).toEqual(legacy);
    expect(keyring.verify(parsed).valid).toBe(true);

    const withoutDetails = { ...parsed };
    delete withoutDetails.alias;
    expect(keyring.verify(withoutDetails).reason).toMatch(/^signature does not match/);
  });

  test('published keys (PEM and JWK) verify receipts with node:crypto alone', () => {
    const [published] = keyring.publicKeys();
    expect(published).toMatchObject({ keyId: 'k-2026-11', algorithm: 'Ed25519', active: true });
    expect(published.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(keyring.activePublicKeyPem()).toBe(published.publicKeyPem);
    expect(published.jwk).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: main.x,
      kid: 'k-2026-11',
      use: 'sig',
      alg: 'EdDSA',
    });
    expect(keyring.jwks()).toEqual({ keys: [published.jwk] });

    const fromPem = createPublicKey(published.publicKeyPem);
    const fromJwk = createPublicKey({ key: published.jwk, format: 'jwk' });
    expect(independentlyValid({ ...signed }, fromPem)).toBe(true);
    expect(independentlyValid({ ...signed }, fromJwk)).toBe(true);
    expect(independentlyValid({ ...signed, provider: 'azure' }, fromJwk)).toBe(false);
  });
});

describe('key configuration', () => {
  test('a PKCS#8 PEM (also with \\n escapes, as env files hold it) and its seed are the same key', async () => {
    const k = keyMaterial();
    const fromSeed = await load({ privateKey: k.seed, keyId: 'k-a' });
    const fromPem = await load({ privateKey: k.pem, keyId: 'k-a' });
    const fromEscapedPem = await load({ privateKey: k.pem.replace(/\n/g, '\\n'), keyId: 'k-a' });
    expect(fromPem.jwks()).toEqual(fromSeed.jwks());
    expect(fromEscapedPem.jwks()).toEqual(fromSeed.jwks());
    expect(fromSeed.verify(fromPem.sign(sampleDocument('k-a'))).valid).toBe(true);
  });

  test('without a key id, the id is derived from the public key and stable', async () => {
    const k = keyMaterial();
    const a = await load({ privateKey: k.seed });
    const b = await load({ privateKey: k.pem });
    expect(a.activeKeyId).toMatch(/^k-[0-9a-f]{16}$/);
    expect(b.activeKeyId).toBe(a.activeKeyId);
  });

  test('newSigningKeyMaterial gives values the settings accept', async () => {
    const m = newSigningKeyMaterial();
    const keyring = await load({ privateKey: m.privateKeySeed, keyId: 'k-new' });
    expect(keyring.jwks().keys[0].x).toBe(m.publicKey);
  });

  const secret = keyMaterial().seed;
  test.each<[string, ReceiptKeySettings, RegExp]>([
    ['a truncated seed', { privateKey: secret.slice(0, 40), keyId: 'k' }, /^LLMRING_RECEIPTS_PRIVATE_KEY:/],
    [
      'a seed with a bad character',
      { privateKey: `${secret.slice(0, 42)}!`, keyId: 'k' },
      /^LLMRING_RECEIPTS_PRIVATE_KEY:/,
    ],
    [
      'an RSA key',
      {
        privateKey: generateKeyPairSync('rsa', { modulusLength: 1024 })
          .privateKey.export({ format: 'pem', type: 'pkcs8' })
          .toString(),
        keyId: 'k',
      },
      /^LLMRING_RECEIPTS_PRIVATE_KEY: the key is not an Ed25519 key/,
    ],
    [
      'a public key',
      { privateKey: `-----BEGIN PUBLIC KEY-----\n${secret}\n-----END PUBLIC KEY-----` },
      /^LLMRING_RECEIPTS_PRIVATE_KEY:/,
    ],
    ['a key id with spaces', { privateKey: secret, keyId: 'my key' }, /^LLMRING_RECEIPTS_KEY_ID:/],
    [
      'a key id without a key',
      { keyId: 'k-2026' },
      /^LLMRING_RECEIPTS_KEY_ID is set but LLMRING_RECEIPTS_PRIVATE_KEY is not/,
    ],
    [
      'a verify key without an id',
      { privateKey: secret, verifyKeys: keyMaterial().x },
      /^LLMRING_RECEIPTS_VERIFY_KEYS: entry 1/,
    ],
    [
      'a verify key that is too short',
      { privateKey: secret, verifyKeys: 'k-old:abc' },
      /^LLMRING_RECEIPTS_VERIFY_KEYS: entry 1 \(key id k-old\)/,
    ],
    [
      'a verify key reusing the active key id for another key',
      { privateKey: secret, keyId: 'k-1', verifyKeys: `k-1:${keyMaterial().x}` },
      /^LLMRING_RECEIPTS_VERIFY_KEYS: key id k-1 is already used/,
    ],
  ])(
    '%s is refused with a message that names the setting and not the secret',
    async (_name, settings, message) => {
      const error = await load(settings).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ReceiptKeyConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain(secret.slice(0, 20));
    },
  );
});

describe('rotation', () => {
  test('after rotating, receipts signed with the old key still verify; new ones use the new key', async () => {
    const oldKey = keyMaterial();
    const newKey = keyMaterial();
    const before = await load({ privateKey: oldKey.seed, keyId: 'k-2026-10' });
    const oldReceipt = before.sign(sampleDocument('k-2026-10'));

    const other = keyMaterial();
    const after = await load({
      privateKey: newKey.seed,
      keyId: 'k-2026-11',
      verifyKeys: ` k-2026-10:${oldKey.x} , k-2026-09:${other.x},`,
    });
    expect(after.activeKeyId).toBe('k-2026-11');
    expect(after.verify(JSON.parse(JSON.stringify(oldReceipt)))).toEqual({
      valid: true,
      keyId: 'k-2026-10',
      reason: null,
    });
    const newReceipt = after.sign(sampleDocument(after.activeKeyId));
    expect(after.verify(newReceipt).valid).toBe(true);
    expect(before.verify(newReceipt).reason).toMatch(/^unknown key_id/);

    const keys = after.publicKeys();
    expect(keys.map((k) => [k.keyId, k.active])).toEqual([
      ['k-2026-11', true],
      ['k-2026-10', false],
      ['k-2026-09', false],
    ]);
    expect(keys[1].jwk.x).toBe(oldKey.x);

    // Without the old key configured, the old receipt is no longer verifiable: the setting matters.
    const forgetful = await load({ privateKey: newKey.seed, keyId: 'k-2026-11' });
    expect(forgetful.verify(oldReceipt).reason).toMatch(/^unknown key_id/);
  });
});

describe('the generated key', () => {
  beforeEach(async () => {
    await t.db('receipt_signing_keys').del();
  });

  test('is created once, kept in the database, and reused by the next start', async () => {
    const first = captureLogger();
    const a = await load({}, first.logger);
    expect(a.activeKeyId).toMatch(/^k-generated-[0-9a-f]{8}$/);
    const receipt = a.sign(sampleDocument(a.activeKeyId));

    const second = captureLogger();
    const b = await load({}, second.logger);
    expect(b.activeKeyId).toBe(a.activeKeyId);
    expect(b.jwks()).toEqual(a.jwks());
    expect(b.verify(receipt).valid).toBe(true);
    expect(await storedKeyCount()).toBe(1);

    for (const { lines } of [first, second]) {
      const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string; keyId?: string });
      const warned = warnings.filter((w) => w.level === 40);
      expect(warned).toHaveLength(1);
      expect(warned[0].msg).toMatch(/production deployments should configure their own/);
      expect(warned[0].keyId).toBe(a.activeKeyId);
      expect(lines.join('\n')).not.toMatch(/PRIVATE KEY/);
    }
    // Nor the seed: the last 32 bytes of the PKCS#8 DER.
    const row = (await t.db('receipt_signing_keys').first('private_key_pem')) as { private_key_pem: string };
    const der = createPrivateKey(row.private_key_pem).export({ format: 'der', type: 'pkcs8' });
    const seed = der.subarray(der.length - 32);
    for (const encoding of ['base64url', 'base64', 'hex'] as const) {
      expect(first.lines.join('\n')).not.toContain(seed.toString(encoding).slice(0, 16));
    }
  });

  test('two instances starting at once agree on one key', async () => {
    const [a, b, c] = await Promise.all([load({}), load({}), load({})]);
    expect(new Set([a.activeKeyId, b.activeKeyId, c.activeKeyId]).size).toBe(1);
    expect(await storedKeyCount()).toBe(1);
  });

  test('stays available for verification once an operator configures a key', async () => {
    const generated = await load({});
    const oldReceipt = generated.sign(sampleDocument(generated.activeKeyId));
    const quiet = captureLogger();
    const configured = await load({ privateKey: keyMaterial().seed, keyId: 'k-ops-1' }, quiet.logger);
    expect(configured.activeKeyId).toBe('k-ops-1');
    expect(configured.verify(oldReceipt)).toEqual({
      valid: true,
      keyId: generated.activeKeyId,
      reason: null,
    });
    expect(configured.publicKeys().map((k) => [k.keyId, k.active])).toEqual([
      ['k-ops-1', true],
      [generated.activeKeyId, false],
    ]);
    expect(quiet.lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 40)).toEqual([]);
  });
});

async function storedKeyCount(): Promise<number> {
  const [{ n }] = (await t.db('receipt_signing_keys').count({ n: '*' })) as Array<{ n: number | string }>;
  return Number(n);
}
