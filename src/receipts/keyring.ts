/**
 * Receipt signing keys: the active Ed25519 key that signs new receipts, and every public key
 * that may verify an existing one (../shared/spec/receipts.md).
 *
 * Where keys come from:
 * - LLMRING_RECEIPTS_PRIVATE_KEY (PKCS#8 PEM, or the base64url 32-byte seed) with
 *   LLMRING_RECEIPTS_KEY_ID: the active key. Without a key id, the id is derived from the
 *   public key ('k-' + 16 hex digits of its SHA-256), so it is stable across restarts.
 * - LLMRING_RECEIPTS_VERIFY_KEYS ('keyId:base64urlPublicKey', comma-separated): retired
 *   keys, for verification only.
 * - The receipt_signing_keys table: keys this server generated when none was configured.
 *   With no configured key the current generated key signs; stored keys always verify, so
 *   receipts signed before an operator configured a key keep verifying.
 *
 * Rotation: configure the new key as LLMRING_RECEIPTS_PRIVATE_KEY/KEY_ID and move the old
 * key's id and public key (the `x` of its JWK) into LLMRING_RECEIPTS_VERIFY_KEYS.
 *
 * Keys are parsed once into KeyObjects; sign and verify do no key parsing. Error messages
 * and logs name settings and key ids, never key material.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  verify as verifyBytes,
  type KeyObject,
} from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Knex } from 'knex';
import type { Logger } from '../logger';
import { Ed25519Signer } from './ed25519';
import type { ReceiptDocument, UnsignedReceiptDocument } from './document';

export interface ReceiptKeySettings {
  privateKey?: string;
  keyId?: string;
  verifyKeys?: string;
}

/** A type alias, not an interface, so that it is assignable to a JSON object (Record<string, unknown>). */
export type ReceiptJwk = {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  use: 'sig';
  alg: 'EdDSA';
};

export interface ReceiptPublicKey {
  keyId: string;
  algorithm: 'Ed25519';
  /** SubjectPublicKeyInfo PEM. */
  publicKeyPem: string;
  jwk: ReceiptJwk;
  /** True for the key that signs new receipts. */
  active: boolean;
}

export interface ReceiptVerification {
  valid: boolean;
  /** The document's key_id when it has one (also when unknown), else null. */
  keyId: string | null;
  /** Why the document does not verify; null when valid. */
  reason: string | null;
}

/** Thrown by ReceiptKeyring.load for bad settings; the message names the setting, never a secret. */
export class ReceiptKeyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReceiptKeyConfigError';
  }
}

const ENV_PRIVATE_KEY = 'LLMRING_RECEIPTS_PRIVATE_KEY';
const ENV_KEY_ID = 'LLMRING_RECEIPTS_KEY_ID';
const ENV_VERIFY_KEYS = 'LLMRING_RECEIPTS_VERIFY_KEYS';
const TABLE = 'receipt_signing_keys';

export const SIGNATURE_PREFIX = 'ed25519:';
/** 64 bytes in unpadded base64url are 86 characters. */
const SIGNATURE_PATTERN = /^ed25519:([A-Za-z0-9_-]{86})$/;
const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** 32 bytes in base64url: 43 characters, optionally one '=' of padding. */
const RAW_KEY_PATTERN = /^[A-Za-z0-9_-]{43}=?$/;
/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A public key that verifies receipts, with its published forms precomputed. */
interface VerificationKey {
  keyId: string;
  publicKey: KeyObject;
  publicKeyPem: string;
  x: string;
  /** Where it came from, for conflict messages. */
  source: string;
}

interface StoredKeyRow {
  key_id: string;
  private_key_pem: string;
  public_key_pem: string;
  created_at: Date | string;
  retired_at: Date | string | null;
}

function verificationKey(keyId: string, publicKey: KeyObject, source: string): VerificationKey {
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error(`public key ${keyId} has no JWK x`);
  return {
    keyId,
    publicKey,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    x: jwk.x,
    source,
  };
}

function publicKeyFromRaw(x: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

function derivedKeyId(publicKey: KeyObject): string {
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return `k-${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`;
}

/** LLMRING_RECEIPTS_PRIVATE_KEY: PKCS#8 PEM (literal '\n' escapes allowed) or a base64url seed. */
function parsePrivateKey(value: string): KeyObject {
  const text = value.trim();
  let key: KeyObject;
  try {
    if (text.includes('-----BEGIN')) {
      key = createPrivateKey({ key: text.replace(/\\n/g, '\n'), format: 'pem' });
    } else if (RAW_KEY_PATTERN.test(text)) {
      const seed = Buffer.from(text, 'base64url');
      if (seed.length !== 32) throw new Error('bad seed length');
      key = createPrivateKey({
        key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
        format: 'der',
        type: 'pkcs8',
      });
    } else {
      throw new Error('unrecognised format');
    }
  } catch {
    // The underlying error is dropped on purpose: nothing derived from the value is reported.
    throw new ReceiptKeyConfigError(
      `${ENV_PRIVATE_KEY}: not an unencrypted PKCS#8 PEM Ed25519 private key nor a base64url 32-byte Ed25519 seed`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ReceiptKeyConfigError(`${ENV_PRIVATE_KEY}: the key is not an Ed25519 key`);
  }
  return key;
}

function checkKeyId(keyId: string, setting: string): string {
  if (!KEY_ID_PATTERN.test(keyId)) {
    throw new ReceiptKeyConfigError(
      `${setting}: a key id must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return keyId;
}

function parseVerifyKeys(value: string | undefined): VerificationKey[] {
  if (!value) return [];
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  return entries.map((entry, i) => {
    const colon = entry.lastIndexOf(':');
    const keyId = colon > 0 ? entry.slice(0, colon).trim() : '';
    const raw = colon > 0 ? entry.slice(colon + 1).trim() : '';
    const where = `${ENV_VERIFY_KEYS}: entry ${i + 1}`;
    if (!keyId || !raw) throw new ReceiptKeyConfigError(`${where} is not keyId:base64urlPublicKey`);
    checkKeyId(keyId, where);
    let publicKey: KeyObject;
    try {
      if (!RAW_KEY_PATTERN.test(raw)) throw new Error('bad format');
      const x = Buffer.from(raw, 'base64url');
      if (x.length !== 32) throw new Error('bad length');
      publicKey = publicKeyFromRaw(x.toString('base64url'));
    } catch {
      throw new ReceiptKeyConfigError(
        `${where} (key id ${keyId}): the public key is not a base64url 32-byte Ed25519 public key`,
      );
    }
    return verificationKey(keyId, publicKey, ENV_VERIFY_KEYS);
  });
}

/** The bytes that are signed: the document without `signature`, canonicalized (RFC 8785), UTF-8. */
function signedBytes(unsigned: Record<string, unknown>): Buffer {
  const text = canonicalize(unsigned);
  if (text === undefined) throw new Error('document does not canonicalize');
  return Buffer.from(text, 'utf8');
}

/** A shallow copy without `signature`. Object.fromEntries defines own properties, so even a
 * '__proto__' member is kept (and so signed and checked) rather than setting a prototype. */
function withoutSignature(document: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(document).filter(([k]) => k !== 'signature'));
}

function invalid(keyId: string | null, reason: string): ReceiptVerification {
  return { valid: false, keyId, reason };
}

/** A fresh Ed25519 key as configuration values: the seed for LLMRING_RECEIPTS_PRIVATE_KEY and the public key. */
export function newSigningKeyMaterial(): { privateKeySeed: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKeySeed: String(jwk.d), publicKey: String(jwk.x) };
}

export class ReceiptKeyring {
  readonly activeKeyId: string;
  private readonly signer: Ed25519Signer;
  private readonly keys: ReadonlyMap<string, VerificationKey>;
  private readonly published: ReceiptPublicKey[];

  private constructor(activeKeyId: string, privateKey: KeyObject, keys: VerificationKey[]) {
    this.activeKeyId = activeKeyId;
    this.signer = new Ed25519Signer(privateKey);
    const map = new Map<string, VerificationKey>();
    for (const key of keys) {
      const existing = map.get(key.keyId);
      if (!existing) {
        map.set(key.keyId, key);
      } else if (existing.x !== key.x) {
        throw new ReceiptKeyConfigError(
          `${key.source}: key id ${key.keyId} is already used by ${existing.source} for a different key`,
        );
      }
    }
    if (!map.has(activeKeyId)) throw new Error('the active key is not among the verification keys');
    this.keys = map;
    // Active first, then the others in the order they were given (configured, then stored).
    const ordered = [map.get(activeKeyId)!, ...[...map.values()].filter((k) => k.keyId !== activeKeyId)];
    this.published = ordered.map((k) => ({
      keyId: k.keyId,
      algorithm: 'Ed25519',
      publicKeyPem: k.publicKeyPem,
      jwk: { kty: 'OKP', crv: 'Ed25519', x: k.x, kid: k.keyId, use: 'sig', alg: 'EdDSA' },
      active: k.keyId === activeKeyId,
    }));
  }

  /**
   * Builds the keyring from settings (Config['receipts']) and the database. Throws a
   * ReceiptKeyConfigError for invalid settings. With no configured private key, uses (or
   * creates, once, race-free across instances) the generated key stored in the database,
   * and logs a warning that production should configure its own.
   */
  static async load(opts: {
    settings: ReceiptKeySettings;
    db: Knex;
    logger: Logger;
  }): Promise<ReceiptKeyring> {
    const { settings, db, logger } = opts;
    if (settings.keyId !== undefined && !settings.privateKey) {
      throw new ReceiptKeyConfigError(`${ENV_KEY_ID} is set but ${ENV_PRIVATE_KEY} is not`);
    }
    const configured = settings.privateKey ? parsePrivateKey(settings.privateKey) : null;
    const retired = parseVerifyKeys(settings.verifyKeys);

    let rows = await readStoredKeys(db);
    let active: { keyId: string; privateKey: KeyObject; verification: VerificationKey };
    if (configured) {
      const publicKey = createPublicKey(configured);
      const keyId = settings.keyId ? checkKeyId(settings.keyId, ENV_KEY_ID) : derivedKeyId(publicKey);
      active = {
        keyId,
        privateKey: configured,
        verification: verificationKey(keyId, publicKey, ENV_PRIVATE_KEY),
      };
    } else {
      let current = rows.find((r) => r.retired_at === null);
      if (!current) {
        await insertGeneratedKey(db);
        rows = await readStoredKeys(db);
        current = rows.find((r) => r.retired_at === null);
        if (!current) throw new Error(`no current key in ${TABLE} after generating one`);
      }
      const privateKey = storedPrivateKey(current);
      active = {
        keyId: current.key_id,
        privateKey,
        verification: verificationKey(current.key_id, createPublicKey(privateKey), TABLE),
      };
      logger.warn(
        { keyId: current.key_id },
        `Receipts are signed with a key this server generated and keeps in the database; production ` +
          `deployments should configure their own (${ENV_PRIVATE_KEY} and ${ENV_KEY_ID})`,
      );
    }

    const stored = rows.map((r) => verificationKey(r.key_id, storedPublicKey(r), TABLE));
    return new ReceiptKeyring(active.keyId, active.privateKey, [active.verification, ...retired, ...stored]);
  }

  /** Signs with the active key. The document must name the active key in key_id. */
  sign(doc: UnsignedReceiptDocument): ReceiptDocument {
    const unsigned = this.signable(doc);
    return this.signed(unsigned, this.signer.sign(signedBytes(unsigned)));
  }

  /** Signs many documents, off the event loop when there are enough of them (see ed25519.ts). */
  async signAll(docs: UnsignedReceiptDocument[]): Promise<ReceiptDocument[]> {
    const unsigned = docs.map((doc) => this.signable(doc));
    const signatures = await this.signer.signAll(unsigned.map(signedBytes));
    return unsigned.map((doc, i) => this.signed(doc, signatures[i]));
  }

  /** Stops the signing thread (the keyring still signs; a later signAll starts it again). */
  close(): Promise<void> {
    return this.signer.close();
  }

  private signable(doc: UnsignedReceiptDocument): Record<string, unknown> {
    if (doc.key_id !== this.activeKeyId) {
      throw new Error(`receipt key_id ${doc.key_id} is not the active signing key ${this.activeKeyId}`);
    }
    // A document built for signing has no signature member; copy only one that has.
    return 'signature' in doc ? withoutSignature(doc) : (doc as unknown as Record<string, unknown>);
  }

  private signed(unsigned: Record<string, unknown>, signature: Buffer): ReceiptDocument {
    return {
      ...(unsigned as unknown as UnsignedReceiptDocument),
      signature: SIGNATURE_PREFIX + signature.toString('base64url'),
    };
  }

  /**
   * Checks any document, version 1 or legacy (verification is generic over its members).
   * Never throws: garbage gets valid false and a reason.
   */
  verify(document: unknown): ReceiptVerification {
    try {
      if (typeof document !== 'object' || document === null || Array.isArray(document)) {
        return invalid(null, 'not a receipt: the document is not a JSON object');
      }
      const doc = document as Record<string, unknown>;
      const keyId = doc.key_id;
      if (typeof keyId !== 'string' || keyId === '') {
        return invalid(null, 'not a receipt: the document has no key_id');
      }
      const key = this.keys.get(keyId);
      if (!key) return invalid(keyId, 'unknown key_id: no public key of this server has this id');
      const match = typeof doc.signature === 'string' ? SIGNATURE_PATTERN.exec(doc.signature) : null;
      const raw = match ? Buffer.from(match[1], 'base64url') : null;
      // Re-encoding rejects non-canonical base64url (stray bits in the last character).
      if (!match || !raw || raw.length !== 64 || raw.toString('base64url') !== match[1]) {
        return invalid(
          keyId,
          "malformed signature: expected 'ed25519:' followed by the 64-byte signature in base64url without padding",
        );
      }
      let bytes: Buffer;
      try {
        bytes = signedBytes(withoutSignature(doc));
      } catch {
        return invalid(keyId, 'not a receipt: the document cannot be canonicalized as JSON (RFC 8785)');
      }
      if (!verifyBytes(null, bytes, key.publicKey, raw)) {
        return invalid(
          keyId,
          'signature does not match: a member of the document was changed, or it was signed by another key',
        );
      }
      return { valid: true, keyId, reason: null };
    } catch {
      // Hostile objects (throwing getters, proxies) end here; JSON input never does.
      return invalid(null, 'not a receipt: the document cannot be read');
    }
  }

  /** Every key that verifies receipts, the active one first. */
  publicKeys(): ReceiptPublicKey[] {
    return this.published.map((k) => ({ ...k, jwk: { ...k.jwk } }));
  }

  /** SubjectPublicKeyInfo PEM of the active key. */
  activePublicKeyPem(): string {
    return this.published[0].publicKeyPem;
  }

  /** The JWK set (RFC 7517) of every verification key, the active one first. */
  jwks(): { keys: ReceiptJwk[] } {
    return { keys: this.published.map((k) => ({ ...k.jwk })) };
  }
}

async function readStoredKeys(db: Knex): Promise<StoredKeyRow[]> {
  return db<StoredKeyRow>(TABLE)
    .select('key_id', 'private_key_pem', 'public_key_pem', 'created_at', 'retired_at')
    .orderBy([
      { column: 'created_at', order: 'asc' },
      { column: 'key_id', order: 'asc' },
    ]);
}

/**
 * Generates a key and stores it unless another instance stored one first: the partial unique
 * index allows one current key, and ON CONFLICT DO NOTHING turns losing the race into a no-op.
 */
async function insertGeneratedKey(db: Knex): Promise<void> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await db(TABLE)
    .insert({
      key_id: `k-generated-${randomBytes(4).toString('hex')}`,
      private_key_pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      public_key_pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    })
    .onConflict()
    .ignore();
}

function storedPrivateKey(row: StoredKeyRow): KeyObject {
  try {
    const key = createPrivateKey({ key: row.private_key_pem, format: 'pem' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    return key;
  } catch {
    throw new Error(`${TABLE}: the private key of ${row.key_id} is not an Ed25519 PKCS#8 PEM key`);
  }
}

function storedPublicKey(row: StoredKeyRow): KeyObject {
  try {
    const key = createPublicKey({ key: row.public_key_pem, format: 'pem' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    return key;
  } catch {
    throw new Error(
      `${TABLE}: the public key of ${row.key_id} is not an Ed25519 SubjectPublicKeyInfo PEM key`,
    );
  }
}
