/**
 * The settings of receipt keys (LLMRING_RECEIPTS_PRIVATE_KEY, _KEY_ID, _VERIFY_KEYS), parsed
 * into KeyObjects once. Error messages name settings and key ids, never key material.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';

/** Thrown by ReceiptKeyring.load for bad settings; the message names the setting, never a secret. */
export class ReceiptKeyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReceiptKeyConfigError';
  }
}

export const ENV_PRIVATE_KEY = 'LLMRING_RECEIPTS_PRIVATE_KEY';
export const ENV_KEY_ID = 'LLMRING_RECEIPTS_KEY_ID';
export const ENV_VERIFY_KEYS = 'LLMRING_RECEIPTS_VERIFY_KEYS';

const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** 32 bytes in base64url: 43 characters, optionally one '=' of padding. */
const RAW_KEY_PATTERN = /^[A-Za-z0-9_-]{43}=?$/;
/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A public key that verifies receipts, with its published forms precomputed. */
export interface VerificationKey {
  keyId: string;
  publicKey: KeyObject;
  publicKeyPem: string;
  x: string;
  /** Where it came from, for conflict messages. */
  source: string;
}

export function verificationKey(keyId: string, publicKey: KeyObject, source: string): VerificationKey {
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

export function publicKeyFromRaw(x: string): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
}

export function derivedKeyId(publicKey: KeyObject): string {
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return `k-${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`;
}

/** LLMRING_RECEIPTS_PRIVATE_KEY: PKCS#8 PEM (literal '\n' escapes allowed) or a base64url seed. */
export function parsePrivateKey(value: string): KeyObject {
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

export function checkKeyId(keyId: string, setting: string): string {
  if (!KEY_ID_PATTERN.test(keyId)) {
    throw new ReceiptKeyConfigError(
      `${setting}: a key id must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return keyId;
}

export function parseVerifyKeys(value: string | undefined): VerificationKey[] {
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

/** A fresh Ed25519 key as configuration values: the seed for LLMRING_RECEIPTS_PRIVATE_KEY and the public key. */
export function newSigningKeyMaterial(): { privateKeySeed: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKeySeed: String(jwk.d), publicKey: String(jwk.x) };
}
