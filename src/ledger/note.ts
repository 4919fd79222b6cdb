/**
 * C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures, and the checkpoints of
 * c2sp.org/tlog-checkpoint in them: origin, tree size and base64 root hash, one per line.
 *
 * A signature line is `— <key name> base64(key id ‖ signature)`, the key id being the first
 * four bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key); the verifier key (vkey)
 * is `<key name>+<hex key id>+base64(0x01 ‖ public key)`. Existing witnesses and note tools
 * (golang.org/x/mod/sumdb/note) read both.
 */
import { createHash, createPublicKey, verify as verifyBytes, type KeyObject } from 'node:crypto';

const ED25519_TYPE = 0x01;
const EM_DASH = '\u2014';
/** SPKI DER prefix of an Ed25519 public key (RFC 8410): the 32 key bytes follow. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The 4-byte key id of an Ed25519 note key. */
export function noteKeyId(name: string, publicKey: Uint8Array): Buffer {
  return createHash('sha256')
    .update(Buffer.from(name + '\n', 'utf8'))
    .update(Buffer.from([ED25519_TYPE]))
    .update(publicKey)
    .digest()
    .subarray(0, 4);
}

/** The verifier key text of an Ed25519 note key. */
export function verifierKey(name: string, publicKey: Uint8Array): string {
  const material = Buffer.concat([Buffer.from([ED25519_TYPE]), publicKey]).toString('base64');
  return `${name}+${noteKeyId(name, publicKey).toString('hex')}+${material}`;
}

export interface ParsedVerifierKey {
  name: string;
  keyId: Buffer;
  publicKey: KeyObject;
}

/** Parses a vkey; throws an Error saying what is wrong. */
export function parseVerifierKey(vkey: string): ParsedVerifierKey {
  // Base64 has '+' in its alphabet: only the first two '+' separate parts.
  const m = /^([^+\s]+)\+([^+]*)\+(\S+)$/u.exec(vkey.trim());
  if (!m) throw new Error('a verifier key is <name>+<hex key id>+<base64 key>');
  const [, name, hex, b64] = m;
  const material = Buffer.from(b64, 'base64');
  if (!/^[0-9a-f]{8}$/.test(hex)) throw new Error('the key id of a verifier key is 8 lowercase hex digits');
  if (material.length !== 33 || material[0] !== ED25519_TYPE) {
    throw new Error('only Ed25519 verifier keys (type 0x01, 32-byte key) are supported');
  }
  const raw = material.subarray(1);
  if (!noteKeyId(name, raw).equals(Buffer.from(hex, 'hex'))) {
    throw new Error('the key id of the verifier key does not match its name and key');
  }
  const publicKey = createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, raw]),
    format: 'der',
    type: 'spki',
  });
  return { name, keyId: Buffer.from(hex, 'hex'), publicKey };
}

/** A signed note: `text` (ending in a newline), a blank line, one signature line. */
export function signNote(
  text: string,
  name: string,
  publicKey: Uint8Array,
  sign: (b: Buffer) => Buffer,
): string {
  if (!text.endsWith('\n')) throw new Error('note text must end with a newline');
  const signature = sign(Buffer.from(text, 'utf8'));
  const blob = Buffer.concat([noteKeyId(name, publicKey), signature]).toString('base64');
  return `${text}\n${EM_DASH} ${name} ${blob}\n`;
}

/**
 * The text of a note if a signature by one of `keys` on it verifies; throws naming what
 * failed. Signatures by other keys are ignored, as the spec says; one by a known key that
 * does not verify rejects the note.
 */
export function openNote(note: string, keys: ParsedVerifierKey | readonly ParsedVerifierKey[]): string {
  const known = Array.isArray(keys) ? keys : [keys as ParsedVerifierKey];
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n'))
    throw new Error('not a signed note (no blank line before signatures)');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  let found = false;
  for (const line of lines) {
    const m = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (!m) throw new Error(`malformed signature line: ${JSON.stringify(line.slice(0, 80))}`);
    const blob = Buffer.from(m[2], 'base64');
    const key = known.find((k) => k.name === m[1] && blob.length > 4 && blob.subarray(0, 4).equals(k.keyId));
    if (!key) continue;
    found = true;
    if (!verifyBytes(null, Buffer.from(text, 'utf8'), key.publicKey, blob.subarray(4))) {
      throw new Error(`the signature of ${key.name} on the note does not verify`);
    }
  }
  if (!found) {
    const names = known.map((k) => `${k.name}+${k.keyId.toString('hex')}`).join(', ');
    throw new Error(`the note has no signature by ${names || 'a trusted key'}`);
  }
  return text;
}

export interface Checkpoint {
  origin: string;
  treeSize: number;
  rootHash: Buffer;
}

/** The note text of a checkpoint. */
export function checkpointText(c: Checkpoint): string {
  return `${c.origin}\n${c.treeSize}\n${c.rootHash.toString('base64')}\n`;
}

/** Parses checkpoint note text (the text of a verified note); throws naming what is wrong. */
export function parseCheckpointText(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[0] === '')
    throw new Error('a checkpoint has an origin, a tree size and a root hash');
  if (!/^(0|[1-9][0-9]*)$/.test(lines[1]))
    throw new Error('the tree size of the checkpoint is not a decimal number');
  const rootHash = Buffer.from(lines[2], 'base64');
  if (rootHash.length !== 32 || rootHash.toString('base64') !== lines[2]) {
    throw new Error('the root hash of the checkpoint is not 32 bytes of base64');
  }
  const treeSize = Number(lines[1]);
  if (!Number.isSafeInteger(treeSize)) throw new Error('the tree size of the checkpoint is too large');
  return { origin: lines[0], treeSize, rootHash };
}
