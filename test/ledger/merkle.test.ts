/**
 * RFC 9162 hashing and proofs (src/ledger/merkle.ts) against the Certificate Transparency
 * reference vectors (the RFC 6962 test data of transparency-dev/merkle, used as data), and
 * against the RFC's recursive definitions computed directly from the leaves, for every tree
 * size up to 70.
 */
import { createHash } from 'node:crypto';
import {
  consistencyRanges,
  EMPTY_ROOT,
  foldRange,
  Frontier,
  inclusionRanges,
  leafHash,
  nodeHash,
  rangeNodes,
  rootOf,
  verifyConsistency,
  verifyInclusion,
  type Hash,
} from '../../src/ledger/merkle';

const hex = (b: Buffer) => b.toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex');

const CT_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map((d) => leafHash(unhex(d)));
const CT_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

/** MTH(D[lo:hi]) straight from RFC 9162 section 2.1.1. */
function mth(leaves: Hash[], lo = 0, hi = leaves.length): Hash {
  const n = hi - lo;
  if (n === 0) return createHash('sha256').digest();
  if (n === 1) return leaves[lo];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return nodeHash(mth(leaves, lo, lo + k), mth(leaves, lo + k, hi));
}

/** What the server does: each range's hash from its complete subtrees. */
function proofOf(leaves: Hash[], ranges: ReadonlyArray<readonly [number, number]>): Hash[] {
  return ranges.map(([a, b]) =>
    foldRange(rangeNodes(a, b).map((r) => mth(leaves, r.index * 2 ** r.level, (r.index + 1) * 2 ** r.level))),
  );
}

const leaves = Array.from({ length: 70 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));

describe('RFC 9162 Merkle tree', () => {
  it('gives the reference roots for sizes 0 to 8', () => {
    expect(hex(EMPTY_ROOT)).toBe(CT_ROOTS[0]);
    for (let n = 0; n <= 8; n++) expect(hex(rootOf(CT_LEAVES.slice(0, n)))).toBe(CT_ROOTS[n]);
  });

  it('gives the reference inclusion and consistency proofs', () => {
    expect(proofOf(CT_LEAVES, inclusionRanges(0, 8)).map(hex)).toEqual([
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ]);
    expect(proofOf(CT_LEAVES, inclusionRanges(5, 8)).map(hex)).toEqual([
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ]);
    expect(proofOf(CT_LEAVES, consistencyRanges(2, 8)).map(hex)).toEqual([
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ]);
    expect(proofOf(CT_LEAVES, consistencyRanges(2, 5)).map(hex)).toEqual([
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ]);
  });

  it('appends like the definition: the frontier root is MTH at every size', () => {
    const f = new Frontier(0);
    for (let n = 1; n <= leaves.length; n++) {
      f.append(leaves[n - 1]);
      expect(hex(f.root())).toBe(hex(mth(leaves, 0, n)));
    }
  });

  it('makes every inclusion proof verify, and none with a wrong leaf, index, size or hash', () => {
    for (let n = 1; n < leaves.length; n++) {
      const root = mth(leaves, 0, n);
      for (let m = 0; m < n; m++) {
        const proof = proofOf(leaves, inclusionRanges(m, n));
        expect(verifyInclusion(leaves[m], m, n, proof, root)).toBe(true);
        expect(verifyInclusion(leaves[(m + 1) % n], m, n, proof, root)).toBe(n === 1);
        if (n > 1) expect(verifyInclusion(leaves[m], (m + 1) % n, n, proof, root)).toBe(false);
        // (Another size with the same proof may verify: the root, signed with its size, decides.)
        expect(verifyInclusion(leaves[m], m, n, proof, mth(leaves, 0, n + 1))).toBe(false);
        if (proof.length) {
          const bad = proof.map((h, i) => (i === proof.length - 1 ? leafHash(h) : h));
          expect(verifyInclusion(leaves[m], m, n, bad, root)).toBe(false);
        }
      }
    }
  });

  it('makes every consistency proof verify, and none for a different older tree', () => {
    for (let n = 1; n <= leaves.length; n++) {
      const toRoot = mth(leaves, 0, n);
      for (let m = 1; m <= n; m++) {
        const fromRoot = mth(leaves, 0, m);
        const proof = proofOf(leaves, consistencyRanges(m, n));
        expect(verifyConsistency(m, n, proof, fromRoot, toRoot)).toBe(true);
        // A history rewritten before m: the old root no longer follows.
        const forged = mth([leafHash(Buffer.from('forged')), ...leaves.slice(1)], 0, m);
        expect(verifyConsistency(m, n, proof, forged, toRoot)).toBe(false);
        if (m < n) expect(verifyConsistency(m, n, proof.slice(0, -1), fromRoot, toRoot)).toBe(false);
      }
    }
  });

  it('keeps proofs to a few stored nodes: about two per level', () => {
    const n = 10_000_019;
    const refs = inclusionRanges(1234567, n).flatMap(([a, b]) => rangeNodes(a, b));
    expect(refs.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)));
    const crefs = consistencyRanges(7_654_321, n).flatMap(([a, b]) => rangeNodes(a, b));
    expect(crefs.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(n)));
  });
});
