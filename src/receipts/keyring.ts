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
import { createPublicKey, verify as verifyBytes, type KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from '../logger';
import { Ed25519Signer } from './ed25519';
import { canonicalJson } from './jcs';
import type { ReceiptDocument, UnsignedReceiptDocument } from './document';
import {
  checkKeyId,
  derivedKeyId,
  ENV_KEY_ID,
  ENV_PRIVATE_KEY,
  parsePrivateKey,
  parseVerifyKeys,
  ReceiptKeyConfigError,
  verificationKey,
  type VerificationKey,
} from './keys';
import { insertGeneratedKey, readStoredKeys, storedPrivateKey, storedPublicKey, TABLE } from './storedKeys';

export { newSigningKeyMaterial, ReceiptKeyConfigError } from './keys';

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

export const SIGNATURE_PREFIX = 'ed25519:';
/** 64 bytes in unpadded base64url are 86 characters. */
const SIGNATURE_PATTERN = /^ed25519:([A-Za-z0-9_-]{86})$/;
/** The bytes that are signed: the document without `signature`, canonicalized (RFC 8785), UTF-8. */
function signedBytes(unsigned: Record<string, unknown>): Buffer {
  return Buffer.from(canonicalJson(unsigned), 'utf8');
}

/** A shallow copy without `signature`. Object.fromEntries defines own properties, so even a
 * '__proto__' member is kept (and so signed and checked) rather than setting a prototype. */
function withoutSignature(document: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(document).filter(([k]) => k !== 'signature'));
}

function invalid(keyId: string | null, reason: string): ReceiptVerification {
  return { valid: false, keyId, reason };
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

  /**
   * Signs many documents, off the event loop when there are enough of them (see ed25519.ts):
   * receipts, and any other document the server signs the same way (a re-pricing's adjustment).
   */
  async signAll<T extends { key_id: string } = UnsignedReceiptDocument>(
    docs: T[],
  ): Promise<Array<T & { signature: string }>> {
    const unsigned = docs.map((doc) => this.signable(doc));
    const signatures = await this.signer.signAll(unsigned.map(signedBytes));
    return unsigned.map((doc, i) => this.signed(doc, signatures[i]) as unknown as T & { signature: string });
  }

  /** Stops the signing thread (the keyring still signs; a later signAll starts it again). */
  close(): Promise<void> {
    return this.signer.close();
  }

  private signable(doc: { key_id: string }): Record<string, unknown> {
    if (doc.key_id !== this.activeKeyId) {
      throw new Error(`receipt key_id ${doc.key_id} is not the active signing key ${this.activeKeyId}`);
    }
    // A document built for signing has no signature member; copy only one that has.
    return 'signature' in doc ? withoutSignature(doc) : (doc as unknown as Record<string, unknown>);
  }

  /**
   * The signed document, `signature` in its canonical place among the members (they come in
   * canonical order: src/receipts/document.ts), so that its RFC 8785 text, which the ledger's
   * leaf hashes, takes canonicalJson's fast path.
   */
  private signed(unsigned: Record<string, unknown>, signature: Buffer): ReceiptDocument {
    const out: Record<string, unknown> = {};
    let placed = false;
    for (const key of Object.keys(unsigned)) {
      if (!placed && key > 'signature') {
        out.signature = SIGNATURE_PREFIX + signature.toString('base64url');
        placed = true;
      }
      out[key] = unsigned[key];
    }
    if (!placed) out.signature = SIGNATURE_PREFIX + signature.toString('base64url');
    return out as unknown as ReceiptDocument;
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

  /**
   * Signs raw bytes with the active key (the ledger's checkpoint notes, docs/ledger.md).
   * Ed25519 over the bytes as given: the caller frames them so they cannot pass for a receipt.
   */
  signBytes(message: Buffer): Buffer {
    return this.signer.sign(message);
  }

  /** The 32 raw bytes of the active public key (RFC 8032 encoding). */
  activePublicKeyRaw(): Buffer {
    return Buffer.from(this.published[0].jwk.x, 'base64url');
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
