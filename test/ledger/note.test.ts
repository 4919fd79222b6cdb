/**
 * C2SP signed notes and checkpoints (src/ledger/note.ts) against the example of
 * c2sp.org/signed-note, and a checkpoint this code signs read back.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  checkpointText,
  noteKeyId,
  openNote,
  parseCheckpointText,
  parseVerifierKey,
  signNote,
  verifierKey,
} from '../../src/ledger/note';

const SPEC_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const SPEC_NOTE =
  'This is an example message.\n\n' +
  '\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

describe('C2SP signed notes', () => {
  it('reads the spec example: key id from name and key, and its signature', () => {
    const key = parseVerifierKey(SPEC_VKEY);
    const raw = Buffer.from('AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k', 'base64').subarray(1);
    expect(noteKeyId('example.com/foo', raw).toString('hex')).toBe('530d903a');
    expect(verifierKey('example.com/foo', raw)).toBe(SPEC_VKEY);
    expect(openNote(SPEC_NOTE, key)).toBe('This is an example message.\n');
    expect(() => openNote(SPEC_NOTE.replace('example message', 'example massage'), key)).toThrow(
      /does not verify/,
    );
  });

  it('signs checkpoints that read back, and refuses another key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
    const origin = 'llmring.test/production';
    const root = Buffer.alloc(32, 7);
    const note = signNote(checkpointText({ origin, treeSize: 42, rootHash: root }), origin, raw, (b) =>
      sign(null, b, privateKey),
    );
    expect(note.split('\n').slice(0, 3)).toEqual([origin, '42', root.toString('base64')]);
    const text = openNote(note, parseVerifierKey(verifierKey(origin, raw)));
    expect(parseCheckpointText(text)).toEqual({ origin, treeSize: 42, rootHash: root });

    const other = generateKeyPairSync('ed25519').publicKey;
    const otherRaw = Buffer.from(other.export({ format: 'jwk' }).x!, 'base64url');
    expect(() => openNote(note, parseVerifierKey(verifierKey(origin, otherRaw)))).toThrow(/no signature by/);
    expect(() => parseVerifierKey(SPEC_VKEY.replace('530d903a', '530d903b'))).toThrow(/does not match/);
  });

  it("verifies docs/ledger.md's example checkpoint with its vkey", () => {
    const doc = fs.readFileSync(path.resolve(__dirname, '..', '..', 'docs', 'ledger.md'), 'utf8');
    const note = /```\n(llmring\.example\.com\/client-a\n[\s\S]*?\n)```/.exec(doc)![1];
    const vkey = /verifier key `([^`]+)`/.exec(doc)![1];
    expect(parseCheckpointText(openNote(note, parseVerifierKey(vkey)))).toMatchObject({
      origin: 'llmring.example.com/client-a',
      treeSize: 1284,
    });
  });
});
