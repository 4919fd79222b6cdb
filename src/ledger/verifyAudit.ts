/**
 * The offline verifier of an audit-log export, behind `llmring-server verify-audit`
 * (docs/access.md): what an auditor runs on an export (`llmring-server audit export`) with a
 * verifier key they trust and, ideally, checkpoints or exports they saved earlier. Nothing the
 * server says is believed; everything is recomputed here with node:crypto.
 *
 * 1. The export's checkpoint: its note signature by a trusted vkey, and its origin.
 * 2. The leaves: numbered 0 to the checkpoint's size − 1, and their hashes give its root
 *    (RFC 9162), so the signed checkpoint commits to each of them.
 * 3. Each entry against its leaf: present, the same id, and the leaf hash of its document
 *    (src/ledger/auditEntry.ts). A deleted or edited row is named here, first one first.
 * 4. Entries of the table in no leaf (written around the server).
 * 5. Each earlier checkpoint: signed, not larger than the log, and the root of the log's first
 *    leaves at its size. An earlier export names the first leaf that differs.
 *
 * Each failure is one line naming what failed and why.
 */
import { auditLeafHash, AUDIT_EXPORT_FORMAT, type AuditDocument, type AuditExportLeaf } from './auditEntry';
import { EMPTY_ROOT, Frontier, type Hash } from './merkle';
import { openNote, parseCheckpointText, parseVerifierKey, type Checkpoint } from './note';

export interface EarlierCheckpoint {
  /** How to name it in a failure (a file name). */
  name: string;
  /** A signed checkpoint note, or an earlier export's lines (parsed JSON). */
  note?: string;
  export?: unknown[];
}

export interface VerifyAuditOptions {
  /** The export's lines, parsed: the header first. */
  lines: unknown[];
  /** The verifier keys to trust (GET /audit/vkey, saved). */
  vkeys: string[];
  earlier?: EarlierCheckpoint[];
}

export interface VerifyAuditResult {
  ok: boolean;
  failures: string[];
  /** The first entry that does not match its leaf (or is missing, or in no leaf), if any. */
  firstMismatch: string | null;
  checked: { leaves: number; entries: number; treeSize: number | null; earlier: number };
}

interface ParsedExport {
  note: string;
  leaves: AuditExportLeaf[];
  unlogged: AuditExportLeaf[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Splits an export into its header's note and its lines; throws naming what is malformed. */
export function parseAuditExport(lines: unknown[]): ParsedExport {
  const [header, ...rest] = lines;
  if (!isObject(header) || header.format !== AUDIT_EXPORT_FORMAT || typeof header.checkpoint !== 'string') {
    throw new Error(
      `not an audit export: its first line is no ${AUDIT_EXPORT_FORMAT} header with a checkpoint`,
    );
  }
  const leaves: AuditExportLeaf[] = [];
  const unlogged: AuditExportLeaf[] = [];
  rest.forEach((line, i) => {
    if (
      !isObject(line) ||
      typeof line.entryId !== 'string' ||
      !(line.entry === null || isObject(line.entry))
    ) {
      throw new Error(`line ${i + 2} of the export is not an entry line`);
    }
    (line.leafIndex === null ? unlogged : leaves).push(line as unknown as AuditExportLeaf);
  });
  return { note: header.checkpoint, leaves, unlogged };
}

function hashOf(b64: unknown): Hash | null {
  if (typeof b64 !== 'string') return null;
  const h = Buffer.from(b64, 'base64');
  return h.length === 32 && h.toString('base64') === b64 ? h : null;
}

const describe = (entry: AuditDocument) => `${entry.action} by ${entry.actor} at ${entry.at}`;

/** The roots of the first `size` leaves, for each size asked (sizes beyond the leaves: absent). */
function prefixRoots(leaves: readonly Hash[], sizes: readonly number[]): Map<number, Hash> {
  const wanted = new Set(sizes);
  const roots = new Map<number, Hash>();
  if (wanted.has(0)) roots.set(0, EMPTY_ROOT);
  const f = new Frontier(0);
  for (const leaf of leaves) {
    f.append(leaf);
    if (wanted.has(f.size)) roots.set(f.size, f.root());
  }
  return roots;
}

export function verifyAuditExport(opts: VerifyAuditOptions): VerifyAuditResult {
  const failures: string[] = [];
  let firstMismatch: string | null = null;
  const entryFailure = (what: string, why: string) => {
    firstMismatch ??= what;
    failures.push(`${what}: ${why}`);
  };
  const vkeys = opts.vkeys.map(parseVerifierKey);
  if (vkeys.length === 0) throw new Error('no verifier key to check the checkpoints with');
  const origin = vkeys[0].name;
  const openCheckpoint = (note: string): Checkpoint => {
    const c = parseCheckpointText(openNote(note, vkeys));
    if (c.origin !== origin) throw new Error(`its origin ${c.origin} is not the audit log's, ${origin}`);
    return c;
  };

  const exp = parseAuditExport(opts.lines);
  let checkpoint: Checkpoint | null = null;
  try {
    checkpoint = openCheckpoint(exp.note);
  } catch (err) {
    failures.push(`the export's checkpoint: ${(err as Error).message}`);
  }

  // 2. The leaves, in order, commit to the signed root.
  const hashes: Hash[] = [];
  let leavesInOrder = true;
  exp.leaves.forEach((l, i) => {
    const h = hashOf(l.leafHash);
    if (l.leafIndex !== i || !h) {
      if (leavesInOrder)
        failures.push(
          `the export's leaf ${i}: missing, out of order or without a hash: the export was altered`,
        );
      leavesInOrder = false;
      return;
    }
    hashes.push(h);
  });
  if (checkpoint && leavesInOrder) {
    if (hashes.length !== checkpoint.treeSize) {
      failures.push(
        `the export has ${hashes.length} leaves but its checkpoint covers ${checkpoint.treeSize}: the export was cut or padded`,
      );
    } else if (!prefixRoots(hashes, [hashes.length]).get(hashes.length)!.equals(checkpoint.rootHash)) {
      failures.push(
        "the export's leaf hashes do not give its checkpoint's root: the leaves were altered after the checkpoint was signed",
      );
    }
  }

  // 3. Each entry against its leaf.
  exp.leaves.forEach((l, i) => {
    const what = `leaf ${i} (audit entry ${l.entryId})`;
    const leaf = hashOf(l.leafHash);
    if (!leaf) return; // reported above
    if (l.entry === null) {
      entryFailure(what, 'the audit log no longer holds this entry: it was deleted after it was logged');
    } else if (l.entry.id !== l.entryId) {
      entryFailure(what, `the export pairs it with audit entry ${String(l.entry.id)}`);
    } else if (!auditLeafHash(l.entry).equals(leaf)) {
      entryFailure(
        what,
        `the entry (${describe(l.entry)}) is not the one logged: it was changed after it was written`,
      );
    }
  });
  // 4. Entries in no leaf.
  for (const l of exp.unlogged) {
    entryFailure(
      `audit entry ${l.entryId}`,
      `in no leaf of the log (${l.entry ? describe(l.entry) : 'no document'}): written to the table around the server`,
    );
  }

  // 5. Earlier checkpoints: the log must still extend each.
  const earlier = opts.earlier ?? [];
  for (const e of earlier) {
    let old: Checkpoint;
    let oldLeaves: AuditExportLeaf[] | null = null;
    try {
      if (e.export) {
        const parsed = parseAuditExport(e.export);
        old = openCheckpoint(parsed.note);
        oldLeaves = parsed.leaves;
      } else {
        old = openCheckpoint(e.note ?? '');
      }
    } catch (err) {
      failures.push(`the earlier checkpoint ${e.name}: ${(err as Error).message}`);
      continue;
    }
    const label = `the earlier checkpoint ${e.name} (size ${old.treeSize})`;
    if (old.treeSize > hashes.length || !leavesInOrder) {
      if (leavesInOrder)
        failures.push(`${label}: the log is now smaller (size ${hashes.length}): entries were removed`);
      continue;
    }
    if (prefixRoots(hashes, [old.treeSize]).get(old.treeSize)!.equals(old.rootHash)) continue;
    failures.push(
      `${label}: the log no longer extends it: entries before leaf ${old.treeSize} were changed, removed or inserted`,
    );
    // An earlier export says which leaf differs, and what it held then.
    const oldHashes = (oldLeaves ?? []).map((l) => hashOf(l.leafHash));
    const oldGood =
      oldLeaves !== null &&
      oldHashes.length === old.treeSize &&
      oldHashes.every((h): h is Hash => h !== null) &&
      prefixRoots(oldHashes, [old.treeSize]).get(old.treeSize)!.equals(old.rootHash);
    if (!oldGood) continue;
    const i = oldHashes.findIndex((h, k) => !h!.equals(hashes[k]));
    if (i < 0) continue;
    const was = oldLeaves![i];
    entryFailure(
      `leaf ${i} (audit entry ${was.entryId} in ${e.name})`,
      `the log's leaf differs from the one in the earlier export (${was.entry ? describe(was.entry) : 'no document'}; now audit entry ${exp.leaves[i]?.entryId}): the log was rewritten from there on`,
    );
  }

  return {
    ok: failures.length === 0,
    failures,
    firstMismatch,
    checked: {
      leaves: hashes.length,
      entries: exp.leaves.filter((l) => l.entry !== null).length + exp.unlogged.length,
      treeSize: checkpoint?.treeSize ?? null,
      earlier: earlier.length,
    },
  };
}
