/**
 * Keys this server generated itself, kept in receipt_signing_keys (see its migration): read,
 * created once race-free across instances, and parsed.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import type { Knex } from 'knex';

export const TABLE = 'receipt_signing_keys';

export interface StoredKeyRow {
  key_id: string;
  private_key_pem: string;
  public_key_pem: string;
  created_at: Date | string;
  retired_at: Date | string | null;
}

export async function readStoredKeys(db: Knex): Promise<StoredKeyRow[]> {
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
export async function insertGeneratedKey(db: Knex): Promise<void> {
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

export function storedPrivateKey(row: StoredKeyRow): KeyObject {
  try {
    const key = createPrivateKey({ key: row.private_key_pem, format: 'pem' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519');
    return key;
  } catch {
    throw new Error(`${TABLE}: the private key of ${row.key_id} is not an Ed25519 PKCS#8 PEM key`);
  }
}

export function storedPublicKey(row: StoredKeyRow): KeyObject {
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
