/**
 * Ed25519 signing for receipts. Every logged call is signed, so this is on the ingest hot path:
 * libsodium (sodium-native, which ships prebuilt binaries and needs no compiler) signs in about
 * half the time of node:crypto's OpenSSL 3 one-shot sign (`npx tsx bench/sign-rate.ts`).
 * Ed25519 signatures are deterministic, so both give the same bytes. Where sodium-native cannot
 * load (a platform it has no binary for), node:crypto signs.
 */
import { sign, type KeyObject } from 'node:crypto';

/** The part of sodium-native this module uses. */
export interface Libsodium {
  crypto_sign_BYTES: number;
  crypto_sign_detached(signature: Buffer, message: Buffer, secretKey: Buffer): void;
}

function loadLibsodium(): Libsodium | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('sodium-native') as Libsodium;
  } catch {
    return null;
  }
}

const libsodium = loadLibsodium();

/** Which implementation signs receipts in this process: 'libsodium' or 'node:crypto'. */
export const ED25519_SIGNER: 'libsodium' | 'node:crypto' = libsodium ? 'libsodium' : 'node:crypto';

/** A function that signs messages with this Ed25519 private key (parsed once, here). */
export function ed25519Signer(
  privateKey: KeyObject,
  sodium: Libsodium | null = libsodium,
): (message: Buffer) => Buffer {
  if (!sodium) return (message) => sign(null, message, privateKey);
  const jwk = privateKey.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.d || !jwk.x) throw new Error('not an Ed25519 private key');
  // libsodium's secret key is the 32-byte seed followed by the 32-byte public key.
  const secretKey = Buffer.concat([Buffer.from(jwk.d, 'base64url'), Buffer.from(jwk.x, 'base64url')]);
  return (message) => {
    const signature = Buffer.allocUnsafe(sodium.crypto_sign_BYTES);
    sodium.crypto_sign_detached(signature, message, secretKey);
    return signature;
  };
}
