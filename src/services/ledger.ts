/**
 * The usage ledger (docs/ledger.md): per project, an append-only RFC 9162 Merkle log of every
 * receipt and re-pricing adjustment, with signed checkpoints (C2SP tlog-checkpoint) and
 * inclusion and consistency proofs.
 *
 * Logging a call never touches the ledger: receipts and adjustments carry the id of the
 * transaction that stored them (`tx`), and the integrator, a background round on every
 * instance (one at a time across instances, through an advisory lock, like the rollup
 * worker), appends the entries of finished transactions (tx below the snapshot xmin) in
 * (tx, kind, id) order after its cursor. The tree is stored as complete-subtree hashes
 * of every fourth level (src/ledger/merkle.ts), so a proof is a few dozen primary-key lookups
 * at any size.
 *
 * The server watches itself: `check()` recomputes every project's root from its stored
 * leaves and compares it with the stored tree; a mismatch is logged as an error and shows
 * in /ready and /metrics. Nothing ever repairs the log.
 */
import type { Knex } from 'knex';
import type { Logger } from '../logger';
import type { Principal } from '../domain/principal';
import { requireScope } from './authz';
import { isUuid } from '../domain/limits';
import { toInt } from '../db/normalize';
import type { ReceiptKeyring } from '../receipts';
import { consistencyRanges, Frontier, entryLeafHash, inclusionRanges, type Hash } from '../ledger/merkle';
import {
  appendLeaves,
  AUDIT_LOG_ID,
  rangeHashes,
  treeHead,
  USAGE_ENTRY_KINDS,
  type TreeHead,
} from '../db/ledgerTrees';
import { checkpointText, signNote, verifierKey } from '../ledger/note';
import { badInput, forbidden, notFound, ServiceError, unauthenticated } from './errors';
import { checkStorable } from './validate';
import { Periodic } from './periodic';

/** The pg advisory lock of the integrator: one round at a time across instances. */
export const LEDGER_LOCK = 7_345_040;

/** Entries appended per transaction. */
const BATCH = 2_000;
/** Batches per round at most, so one round never holds the lock for long. */
const MAX_BATCHES_PER_ROUND = 50;
/** Leaves read per statement when the self-check recomputes a tree. */
const CHECK_CHUNK = 20_000;

type Kind = 0 | 1;
const KIND_NAMES = ['receipt', 'adjustment'] as const;

interface Entry {
  tx: bigint;
  kind: Kind;
  id: string;
  projectId: string;
  /** The leaf hash computed when the receipt was signed; null: compute it from the document. */
  leafHash: Hash | null;
  /** Read only when there is no stored leaf hash. */
  document: unknown;
}

interface Cursor {
  tx: string;
  kind: -1 | Kind;
  id: string;
}

export interface LedgerRound {
  /** False when another instance held the lock. */
  ran: boolean;
  /** Entries appended. */
  appended: number;
}

export interface LedgerPosition {
  leafIndex: number;
  integratedAt: Date;
}

export interface LedgerCheckpoint {
  origin: string;
  treeSize: number;
  /** Base64 of the 32-byte root hash. */
  rootHash: string;
  /** The C2SP signed note. */
  note: string;
  /** The receipt key that signed it. */
  keyId: string;
}

export interface InclusionProof {
  leafIndex: number;
  treeSize: number;
  /** Base64 hashes, in RFC 9162 order. */
  hashes: string[];
}

export interface LedgerHealth {
  /** False once a check found a stored tree that its leaves do not give. */
  ok: boolean;
  /** When the last check finished (null before the first). */
  checkedAt: Date | null;
  /** What the last check found wrong, one line per project. */
  problems: string[];
}

const toHash = (value: unknown): Hash => Buffer.from(value as Uint8Array);

/** A checkpoint of a log signed with the active receipt key; the origin is the note key's name. */
export function signCheckpoint(keyring: ReceiptKeyring, origin: string, head: TreeHead): LedgerCheckpoint {
  const note = signNote(
    checkpointText({ origin, treeSize: head.size, rootHash: head.root }),
    origin,
    keyring.activePublicKeyRaw(),
    (bytes) => keyring.signBytes(bytes),
  );
  return {
    origin,
    treeSize: head.size,
    rootHash: head.root.toString('base64'),
    note,
    keyId: keyring.activeKeyId,
  };
}

/** Every verifier key of a log's checkpoints, the active receipt key's first, then retired keys'. */
export function verifierKeysOf(keyring: ReceiptKeyring, origin: string): string[] {
  return keyring.publicKeys().map((k) => verifierKey(origin, Buffer.from(k.jwk.x, 'base64url')));
}

export class LedgerService {
  private readonly integrator: Periodic;
  private readonly watcher: Periodic;
  private state: LedgerHealth = { ok: true, checkedAt: null, problems: [] };
  /** Each project's tree as the last clean check found it: a later one must extend it. */
  private readonly seen = new Map<string, { size: number; root: Hash }>();

  constructor(
    private readonly deps: {
      db: Knex;
      keyring: ReceiptKeyring;
      logger: Logger;
      /** The first part of every origin: `<name>/<project key>`. */
      name: string;
      /** Most time between a receipt's answer and its leaf (the integrator runs 5 times as often). */
      maxDelayMs: number;
      /** How often the self-check recomputes the trees. */
      checkIntervalMs: number;
    },
  ) {
    const every = Math.max(20, Math.floor(deps.maxDelayMs / 5));
    this.integrator = new Periodic('ledger', every, deps.logger, () => this.runOnce());
    this.watcher = new Periodic('ledger check', deps.checkIntervalMs, deps.logger, () => this.check());
  }

  /**
   * The entries after the cursor, of finished transactions, in ledger order, at most `limit`.
   * ORDER BY names the tables' columns: a bare `tx` would be the text output column, which
   * sorts transaction 1000 before 999, so a batch across such a boundary ended on a cursor
   * behind entries it had appended (or, cut by the LIMIT, past entries it had not).
   */
  private async pending(trx: Knex.Transaction, cursor: Cursor, limit: number): Promise<Entry[]> {
    const high = `pg_snapshot_xmin(pg_current_snapshot())`;
    const after = (idColumn: string, kind: Kind): [string, string[]] => {
      if (cursor.kind === kind) return [`(tx, ${idColumn}) > (?::xid8, ?)`, [cursor.tx, cursor.id]];
      if (cursor.kind > kind) return ['tx > ?::xid8', [cursor.tx]];
      return ['tx >= ?::xid8', [cursor.tx]];
    };
    const [rc, rb] = after('receipt_id', 0);
    const [ac, ab] = after('adjustment_id', 1);
    const receipts = await trx.raw(
      `SELECT tx::text AS tx, receipt_id AS id, project_id, leaf_hash,
         CASE WHEN leaf_hash IS NULL THEN document END AS document FROM receipts
       WHERE ${rc} AND tx < ${high} ORDER BY receipts.tx, receipt_id LIMIT ?`,
      [...rb, limit],
    );
    const adjustments = await trx.raw(
      `SELECT tx::text AS tx, adjustment_id AS id, project_id, NULL::bytea AS leaf_hash, document
       FROM usage_adjustments
       WHERE ${ac} AND tx < ${high} ORDER BY usage_adjustments.tx, adjustment_id LIMIT ?`,
      [...ab, limit],
    );
    type Row = {
      tx: string;
      id: string;
      project_id: string;
      leaf_hash: Uint8Array | null;
      document: unknown;
    };
    const toEntry = (kind: Kind) => (r: Row) => ({
      tx: BigInt(r.tx),
      kind,
      id: r.id,
      projectId: r.project_id,
      leafHash: r.leaf_hash ? toHash(r.leaf_hash) : null,
      document: typeof r.document === 'string' ? JSON.parse(r.document) : r.document,
    });
    const a: Entry[] = (receipts.rows as Row[]).map(toEntry(0));
    const b: Entry[] = (adjustments.rows as Row[]).map(toEntry(1));
    // A merge by (tx, kind) that keeps each list in the database's order of ids.
    const merged: Entry[] = [];
    let i = 0;
    let j = 0;
    while (merged.length < limit && (i < a.length || j < b.length)) {
      if (j >= b.length || (i < a.length && a[i].tx <= b[j].tx)) merged.push(a[i++]);
      else merged.push(b[j++]);
    }
    return merged;
  }

  /** One batch in one transaction; returns how many entries it appended (-1: lock held elsewhere). */
  private async integrateBatch(): Promise<number> {
    return this.deps.db.transaction(async (trx) => {
      const [{ locked }] = (await trx.raw('SELECT pg_try_advisory_xact_lock(?) AS locked', [LEDGER_LOCK]))
        .rows;
      if (!locked) return -1;
      const [state] = (
        await trx.raw(
          `SELECT cursor_tx::text AS tx, cursor_kind AS kind, cursor_id AS id FROM ledger_state WHERE id = 1`,
        )
      ).rows as Array<{ tx: string; kind: number; id: string }>;
      const cursor: Cursor = { tx: state.tx, kind: toInt(state.kind) as Cursor['kind'], id: state.id };
      const entries = await this.pending(trx, cursor, BATCH);
      if (entries.length === 0) return 0;
      // An entry is appended once. One with a leaf already was not stored by this server's
      // logging path (someone wrote the ledger tables): said loudly, never appended again,
      // and it does not stop the other entries.
      const present = new Set(
        (
          await trx('ledger_leaves')
            .whereIn(
              'entry_id',
              entries.map((e) => e.id),
            )
            .whereIn('entry_kind', USAGE_ENTRY_KINDS)
            .select('entry_id', 'entry_kind')
        ).map((r: { entry_id: string; entry_kind: string }) => `${r.entry_kind}:${r.entry_id}`),
      );

      const byProject = new Map<string, Entry[]>();
      for (const e of entries) {
        if (present.has(`${KIND_NAMES[e.kind]}:${e.id}`)) {
          this.deps.logger.error(
            { entry: e.id, kind: KIND_NAMES[e.kind], projectId: e.projectId },
            'ledger: an entry to append is in the ledger already; not appended again (were the ledger tables written?)',
          );
          continue;
        }
        const list = byProject.get(e.projectId) ?? [];
        list.push(e);
        byProject.set(e.projectId, list);
      }
      await appendLeaves(
        trx,
        new Map(
          [...byProject].map(([projectId, list]) => [
            projectId,
            list.map((e) => ({
              kind: KIND_NAMES[e.kind],
              id: e.id,
              hash: e.leafHash ?? entryLeafHash(e.document),
            })),
          ]),
        ),
        new Date(),
      );
      const last = entries[entries.length - 1];
      await trx.raw(
        `UPDATE ledger_state SET cursor_tx = ?::xid8, cursor_kind = ?, cursor_id = ?, updated_at = now() WHERE id = 1`,
        [last.tx.toString(), last.kind, last.id],
      );
      return entries.length;
    });
  }

  /** One round: appends every entry of finished transactions (up to a bound; the next round goes on). */
  async runOnce(): Promise<LedgerRound> {
    let appended = 0;
    for (let i = 0; i < MAX_BATCHES_PER_ROUND; i++) {
      const n = await this.integrateBatch();
      if (n < 0) return { ran: appended > 0, appended };
      appended += n;
      if (n < BATCH) break;
    }
    return { ran: true, appended };
  }

  private origin(projectKey: string): string {
    return `${this.deps.name}/${projectKey}`;
  }

  /** The project a ledger call is about: the caller's own, or (admin, anyone) the one named. */
  private async project(principal: Principal, projectId: string | null | undefined, publicRead: boolean) {
    if (projectId !== null && projectId !== undefined && !isUuid(projectId)) {
      throw badInput('projectId', 'is not a project id (a UUID)');
    }
    if (principal.kind === 'project') {
      // Checkpoints and verifier keys are public; proofs need the key's READ scope.
      if (!publicRead) requireScope(principal, 'read');
      if (projectId && projectId !== principal.project.id && !publicRead) {
        throw forbidden('projectId names another project; an API key reads only its own project');
      }
      projectId ??= principal.project.id;
    } else if (!projectId) {
      if (principal.kind === 'anonymous' && !publicRead) throw unauthenticated();
      throw badInput('projectId', 'is required: name the project whose ledger to read');
    } else if (principal.kind === 'anonymous' && !publicRead) {
      throw unauthenticated();
    }
    const row = await this.deps.db('projects').where({ id: projectId }).first('id', 'key');
    if (!row) throw notFound('project');
    return row as { id: string; key: string };
  }

  private signedCheckpoint(projectKey: string, head: TreeHead): LedgerCheckpoint {
    return signCheckpoint(this.deps.keyring, this.origin(projectKey), head);
  }

  /** The newest checkpoint of a project's ledger (public: anyone may read it). */
  async checkpoint(principal: Principal, projectId?: string | null): Promise<LedgerCheckpoint> {
    const project = await this.project(principal, projectId, true);
    return this.signedCheckpoint(project.key, await treeHead(this.deps.db, project.id));
  }

  /** The same by project key, for GET /ledger/{projectKey}/checkpoint; null for an unknown key. */
  async checkpointByKey(projectKey: string): Promise<LedgerCheckpoint | null> {
    checkStorable('projectKey', projectKey);
    const row = await this.deps.db('projects').where({ key: projectKey }).first('id', 'key');
    if (!row) return null;
    return this.signedCheckpoint(row.key, await treeHead(this.deps.db, row.id));
  }

  /** The C2SP verifier key of a project's checkpoints (its origin is the key name). */
  async verifierKey(principal: Principal, projectId?: string | null): Promise<string> {
    const project = await this.project(principal, projectId, true);
    return verifierKey(this.origin(project.key), this.deps.keyring.activePublicKeyRaw());
  }

  /**
   * Every verifier key of a project's checkpoints, the active key's first: after a rotation of
   * the receipt key, checkpoints saved before it verify with a retired key's vkey.
   */
  async verifierKeysByKey(projectKey: string): Promise<string[] | null> {
    checkStorable('projectKey', projectKey);
    const row = await this.deps.db('projects').where({ key: projectKey }).first('key');
    if (!row) return null;
    return verifierKeysOf(this.deps.keyring, this.origin(row.key));
  }

  private checkSize(field: string, value: number, max: number): number {
    if (!Number.isSafeInteger(value) || value < 1) throw badInput(field, 'must be a positive integer');
    if (value > max) throw badInput(field, `is beyond the tree: the ledger has ${max} entries`);
    return value;
  }

  /**
   * The proof that a receipt (or adjustment) is in its project's ledger at `treeSize` (default:
   * the newest size). `projectIds`: the projects the caller may read (null: all). Works for
   * receipts retention deleted: their leaves stay.
   */
  async inclusionProof(
    entryId: string,
    treeSize: number | null | undefined,
    projectIds: string[] | null,
  ): Promise<InclusionProof> {
    checkStorable('receiptId', entryId);
    // Receipts and adjustments only: an audit entry's leaf is no receipt's.
    const q = this.deps
      .db('ledger_leaves')
      .where({ entry_id: entryId })
      .whereIn('entry_kind', USAGE_ENTRY_KINDS);
    if (projectIds) q.whereIn('project_id', projectIds);
    const leaf = await q.first('project_id', 'leaf_index');
    if (!leaf) {
      const rq = this.deps.db('receipts').where({ receipt_id: entryId });
      if (projectIds) rq.whereIn('project_id', projectIds);
      if (await rq.first('id')) {
        throw new ServiceError(
          'NOT_FOUND',
          `receipt ${entryId} is not in the ledger yet: receipts are appended within LLMRING_LEDGER_MAX_DELAY_MS of their answer`,
        );
      }
      throw notFound('receipt');
    }
    const leafIndex = toInt(leaf.leaf_index);
    const { size } = await treeHead(this.deps.db, leaf.project_id);
    const n = treeSize === null || treeSize === undefined ? size : this.checkSize('treeSize', treeSize, size);
    if (n <= leafIndex) {
      throw badInput(
        'treeSize',
        `must be greater than the entry's leaf index ${leafIndex}: it was appended later`,
      );
    }
    const hashes = await rangeHashes(this.deps.db, leaf.project_id, inclusionRanges(leafIndex, n));
    return { leafIndex, treeSize: n, hashes: hashes.map((h) => h.toString('base64')) };
  }

  /** The proof that the ledger at `toSize` (default: newest) extends the ledger at `fromSize`. */
  async consistencyProof(
    principal: Principal,
    projectId: string | null | undefined,
    fromSize: number,
    toSize: number | null | undefined,
  ): Promise<string[]> {
    const project = await this.project(principal, projectId, false);
    const { size } = await treeHead(this.deps.db, project.id);
    const to = toSize === null || toSize === undefined ? size : this.checkSize('toSize', toSize, size);
    const from = this.checkSize('fromSize', fromSize, size);
    if (from > to) throw badInput('fromSize', `must not exceed toSize (${to})`);
    const hashes = await rangeHashes(this.deps.db, project.id, consistencyRanges(from, to));
    return hashes.map((h) => h.toString('base64'));
  }

  /** For DataLoader: where each receipt is in its ledger, null while it is not yet. */
  async positionsOf(receiptIds: readonly string[]): Promise<Array<LedgerPosition | null>> {
    const rows = await this.deps
      .db('ledger_leaves')
      .whereIn('entry_id', receiptIds as string[])
      .whereIn('entry_kind', USAGE_ENTRY_KINDS)
      .select('entry_id', 'leaf_index', 'integrated_at');
    const byId = new Map(
      rows.map((r: { entry_id: string; leaf_index: unknown; integrated_at: Date | string }) => [
        r.entry_id,
        { leafIndex: toInt(r.leaf_index), integratedAt: new Date(r.integrated_at) },
      ]),
    );
    return receiptIds.map((id) => byId.get(id) ?? null);
  }

  /**
   * Recomputes every project's tree, and the audit log's (src/db/ledgerTrees.ts), from its
   * stored leaves and compares it with the stored size, root and right-edge nodes, in one snapshot. Logs each mismatch as an error; never
   * repairs anything.
   */
  async check(): Promise<LedgerHealth> {
    // No long transaction (it would hold back the snapshot xmin, and with it the integrator
    // and the rollups): leaves and nodes are append-only, so reading each tree's first `size`
    // leaves in chunks, after reading its size, sees exactly what a snapshot would.
    const { db } = this.deps;
    const found: string[] = [];
    const trees = await db('ledger_trees').select('project_id', 'tree_size', 'root_hash');
    for (const t of trees as Array<{ project_id: string; tree_size: unknown; root_hash: unknown }>) {
      const size = toInt(t.tree_size);
      const stored = toHash(t.root_hash);
      const where = t.project_id === AUDIT_LOG_ID ? 'the audit log' : `project ${t.project_id}`;
      const before = found.length;
      const earlier = this.seen.get(t.project_id);
      const frontier = new Frontier(0);
      let earlierMatches = earlier === undefined || earlier.size === 0;
      for (;;) {
        const rows = await db('ledger_leaves')
          .where('project_id', t.project_id)
          .where('leaf_index', '>=', frontier.size)
          .where('leaf_index', '<', size)
          .orderBy('leaf_index')
          .limit(CHECK_CHUNK)
          .select('leaf_index', 'leaf_hash');
        let gap = false;
        for (const r of rows as Array<{ leaf_index: unknown; leaf_hash: unknown }>) {
          if (toInt(r.leaf_index) !== frontier.size) {
            gap = true;
            break;
          }
          frontier.append(toHash(r.leaf_hash));
          if (earlier && frontier.size === earlier.size)
            earlierMatches = frontier.root().equals(earlier.root);
        }
        if (gap || rows.length < CHECK_CHUNK) break;
      }
      if (frontier.size !== size) {
        found.push(
          `${where}: the tree has size ${size} but only leaves 0 to ${frontier.size - 1} are stored`,
        );
      } else if (!frontier.root().equals(stored)) {
        found.push(`${where}: the root recomputed from the stored leaves differs from the stored root`);
      } else if (size > 0) {
        const [fromNodes] = await rangeHashes(db, t.project_id, [[0, size]]).catch(() => [null]);
        if (!fromNodes || !fromNodes.equals(stored)) {
          found.push(`${where}: the stored subtree hashes do not give the stored root`);
        }
      }
      if (earlier && size < earlier.size) {
        found.push(`${where}: the log shrank from ${earlier.size} entries (an earlier check) to ${size}`);
      } else if (!earlierMatches) {
        found.push(
          `${where}: the first ${earlier!.size} leaves no longer give the root an earlier check saw: the log was rewritten`,
        );
      } else if (found.length === before) {
        this.seen.set(t.project_id, { size, root: stored });
      }
    }
    this.state = { ok: found.length === 0, checkedAt: new Date(), problems: found };
    for (const p of found)
      this.deps.logger.error({ problem: p }, 'ledger check failed: the stored log does not add up');
    return this.health();
  }

  /** The last check's finding. */
  health(): LedgerHealth {
    return { ...this.state, problems: [...this.state.problems] };
  }

  /**
   * Seconds since the oldest receipt not yet in the ledger was stored (0 when none waits), for
   * /metrics. Reads only receipts at or past the integrator's cursor, through the tx index.
   */
  async lagSeconds(): Promise<number> {
    const { rows } = await this.deps.db.raw(`
      SELECT COALESCE(EXTRACT(epoch FROM now() - min(r.created_at)), 0) AS lag
      FROM (
        SELECT created_at FROM receipts
        WHERE tx >= (SELECT s.cursor_tx FROM ledger_state s WHERE s.id = 1)
          AND NOT EXISTS (SELECT 1 FROM ledger_leaves l
                          WHERE l.entry_id = receipts.receipt_id AND l.entry_kind = 'receipt')
        OFFSET 0
      ) r`);
    return Math.max(0, Number(rows[0].lag));
  }

  start(): void {
    this.integrator.start();
    this.watcher.start();
  }

  async stop(): Promise<void> {
    await Promise.all([this.integrator.stop(), this.watcher.stop()]);
  }
}
