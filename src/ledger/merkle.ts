/**
 * RFC 9162 (certificate transparency v2) Merkle tree hashing, proofs and their verification,
 * over SHA-256 from node:crypto. Pure functions: no database here.
 *
 * A tree of n leaves is stored as some of its complete (perfect) subtrees: node (level, index)
 * is the hash of leaves [index·2^level, (index+1)·2^level). Every hash a proof needs is the
 * hash of a range of leaves, and every such range is a few complete subtrees (`rangeNodes`).
 * Only the nodes of every NODE_STRIDE-th level are stored (`isStoredLevel`; level 0 is the
 * leaves): one stored row per 15 leaves instead of one per leaf, and a node of another level
 * is the fold of at most 2^(NODE_STRIDE-1) stored ones beneath it (`storedNodes`,
 * `perfectRoot`), so a proof costs a few dozen index lookups at any tree size, never a
 * recomputation of more than 8 hashes per node.
 *
 * Sizes and indexes are JavaScript numbers (safe up to 2^53 leaves); no bitwise operators,
 * which would cut them to 32 bits.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../receipts/jcs';

export type Hash = Buffer;

/** A complete subtree: the hash of leaves [index·2^level, (index+1)·2^level). */
export interface NodeRef {
  level: number;
  index: number;
}

/** [start, end) of leaf indexes. */
export type LeafRange = readonly [number, number];

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** SHA-256(0x00 ‖ data): the hash of one leaf. */
export function leafHash(data: Uint8Array): Hash {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** The leaf hash of a ledger entry: SHA-256(0x00 ‖ RFC 8785 bytes of its signed document). */
export function entryLeafHash(document: unknown): Hash {
  return leafHash(Buffer.from(canonicalJson(document), 'utf8'));
}

/** SHA-256(0x01 ‖ left ‖ right): the hash of an interior node. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Hash {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The root of the empty tree: SHA-256 of no bytes. */
export const EMPTY_ROOT: Hash = createHash('sha256').digest();

/** The largest power of two smaller than n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isOdd = (x: number) => x % 2 === 1;
const half = (x: number) => Math.floor(x / 2);

/**
 * The complete subtrees whose hashes make up MTH(D[start:end]), left to right (largest
 * first). For the ranges proofs ask for (start aligned as RFC 9162's recursion leaves it),
 * folding them right to left with nodeHash gives exactly that MTH.
 */
export function rangeNodes(start: number, end: number): NodeRef[] {
  const out: NodeRef[] = [];
  let at = start;
  while (at < end) {
    let size = 1;
    let level = 0;
    while (at % (size * 2) === 0 && at + size * 2 <= end) {
      size *= 2;
      level++;
    }
    out.push({ level, index: at / size });
    at += size;
  }
  return out;
}

/** Nodes of levels that are multiples of this are stored; the others are computed from them. */
export const NODE_STRIDE = 4;

export const isStoredLevel = (level: number): boolean => level % NODE_STRIDE === 0;

/**
 * The stored nodes that give node `ref`: itself at a stored level, else its 2^k descendants,
 * left to right, at the stored level k below it.
 */
export function storedNodes(ref: NodeRef): NodeRef[] {
  const k = ref.level % NODE_STRIDE;
  if (k === 0) return [ref];
  const span = 2 ** k;
  return Array.from({ length: span }, (_, i) => ({ level: ref.level - k, index: ref.index * span + i }));
}

/** The hash of a perfect subtree from the hashes of its 2^k nodes at one level, left to right. */
export function perfectRoot(hashes: readonly Hash[]): Hash {
  let layer = [...hashes];
  while (layer.length > 1) {
    const next: Hash[] = [];
    for (let i = 0; i < layer.length; i += 2) next.push(nodeHash(layer[i], layer[i + 1]));
    layer = next;
  }
  return layer[0];
}

/** The hash of a range from the hashes of its rangeNodes, in the same order. */
export function foldRange(hashes: readonly Hash[]): Hash {
  if (hashes.length === 0) return EMPTY_ROOT;
  let h = hashes[hashes.length - 1];
  for (let i = hashes.length - 2; i >= 0; i--) h = nodeHash(hashes[i], h);
  return h;
}

/** RFC 9162 PATH(m, D[n]): the ranges whose hashes form the inclusion proof, in proof order. */
export function inclusionRanges(leafIndex: number, treeSize: number): LeafRange[] {
  if (!(leafIndex >= 0 && leafIndex < treeSize)) throw new RangeError('leaf index beyond the tree');
  const out: LeafRange[] = [];
  const walk = (m: number, lo: number, hi: number): void => {
    if (hi - lo <= 1) return;
    const k = splitPoint(hi - lo);
    if (m < k) {
      walk(m, lo, lo + k);
      out.push([lo + k, hi]);
    } else {
      walk(m - k, lo + k, hi);
      out.push([lo, lo + k]);
    }
  };
  walk(leafIndex, 0, treeSize);
  return out;
}

/** RFC 9162 PROOF(m, D[n]): the ranges whose hashes form the consistency proof (empty if m = n). */
export function consistencyRanges(fromSize: number, toSize: number): LeafRange[] {
  if (!(fromSize >= 1 && fromSize <= toSize)) throw new RangeError('sizes out of order');
  const out: LeafRange[] = [];
  const sub = (m: number, lo: number, hi: number, whole: boolean): void => {
    if (m === hi - lo) {
      if (!whole) out.push([lo, hi]);
      return;
    }
    const k = splitPoint(hi - lo);
    if (m <= k) {
      sub(m, lo, lo + k, whole);
      out.push([lo + k, hi]);
    } else {
      sub(m - k, lo + k, hi, false);
      out.push([lo, lo + k]);
    }
  };
  sub(fromSize, 0, toSize, true);
  return out;
}

/** RFC 9162 section 2.1.3.2: whether `proof` shows the leaf at `leafIndex` in the tree `root`. */
export function verifyInclusion(
  leaf: Hash,
  leafIndex: number,
  treeSize: number,
  proof: readonly Hash[],
  root: Hash,
): boolean {
  if (!(leafIndex >= 0 && leafIndex < treeSize)) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 section 2.1.4.2: whether `proof` shows tree `toRoot` extends tree `fromRoot`. */
export function verifyConsistency(
  fromSize: number,
  toSize: number,
  proof: readonly Hash[],
  fromRoot: Hash,
  toRoot: Hash,
): boolean {
  if (!(fromSize >= 1 && fromSize <= toSize)) return false;
  if (fromSize === toSize) return proof.length === 0 && fromRoot.equals(toRoot);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(fromSize) ? [fromRoot, ...proof] : [...proof];
  let fn = fromSize - 1;
  let sn = toSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return fr.equals(fromRoot) && sr.equals(toRoot) && sn === 0;
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

/**
 * The right edge of a growing tree: the hashes of the complete subtrees that make up its
 * current size, by level. Appending a leaf merges equal-sized subtrees like a binary
 * increment; each merge is a new stored node.
 */
export class Frontier {
  /** level → hash of the complete subtree at that level on the right edge. */
  private readonly byLevel = new Map<number, Hash>();

  constructor(
    public size: number,
    edge: ReadonlyArray<{ level: number; hash: Hash }> = [],
  ) {
    for (const { level, hash } of edge) this.byLevel.set(level, hash);
  }

  /** The nodes of the right edge of a tree of `size` leaves, largest first. */
  static edge(size: number): NodeRef[] {
    return rangeNodes(0, size);
  }

  /** Appends a leaf; returns the interior nodes it completes (level ≥ 1), lowest first. */
  append(leaf: Hash): Array<NodeRef & { hash: Hash }> {
    const made: Array<NodeRef & { hash: Hash }> = [];
    let hash = leaf;
    let level = 0;
    let index = this.size;
    while (isOdd(index)) {
      const left = this.byLevel.get(level);
      if (!left) throw new Error(`ledger frontier lacks its level-${level} subtree`);
      this.byLevel.delete(level);
      hash = nodeHash(left, hash);
      level++;
      index = half(index);
      made.push({ level, index, hash });
    }
    this.byLevel.set(level, hash);
    this.size++;
    return made;
  }

  /** MTH of the whole tree. */
  root(): Hash {
    const levels = [...this.byLevel.keys()].sort((a, b) => b - a);
    return foldRange(levels.map((l) => this.byLevel.get(l)!));
  }
}

/** MTH of a list of leaf hashes, computed from scratch (for checks and tests). */
export function rootOf(leaves: readonly Hash[]): Hash {
  const f = new Frontier(0);
  for (const l of leaves) f.append(l);
  return f.root();
}
