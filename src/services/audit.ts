/**
 * The audit log: every change an operator makes (projects, keys, operators, prices,
 * re-pricing; budgets and webhooks as they come), who made it and when. Append-only: the table
 * refuses UPDATE and DELETE (a trigger), and nothing here offers either.
 *
 * A change and its entry are written in one transaction where the change is one (`record`
 * takes the change's transaction), so an entry is never missing for a change that happened.
 */
import type { Knex } from 'knex';
import type { Actor, AuditEntry } from '../domain/access';
import { toDate } from '../db/normalize';
import { badInput } from './errors';

export interface AuditChange {
  /** The operation, as the API names it: 'createProject', 'rotateApiKey', ... */
  action: string;
  targetType?: string;
  targetId?: string | null;
  /** What changed, never a secret. */
  details?: Record<string, unknown>;
}

interface AuditRow {
  id: string | number;
  at: Date;
  actor_kind: Actor['kind'];
  actor_operator_id: string | null;
  actor_name: string;
  action: string;
  target_type: string | null;
  target_id: string | null;
  details: Record<string, unknown> | string;
}

const ACTOR_NAMES: Record<Actor['kind'], string> = { admin_token: 'admin token', operator: '', cli: 'cli' };
const MAX_PAGE = 500;

function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: String(row.id),
    at: toDate(row.at),
    actorKind: row.actor_kind,
    actorOperatorId: row.actor_operator_id,
    actorName: row.actor_name,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    details:
      typeof row.details === 'string' ? (JSON.parse(row.details) as Record<string, unknown>) : row.details,
  };
}

export class AuditService {
  constructor(private readonly deps: { db: Knex }) {}

  /** Appends one entry; pass the change's transaction so both land or neither. */
  async record(db: Knex | Knex.Transaction, actor: Actor, change: AuditChange): Promise<void> {
    await db('audit_log').insert({
      actor_kind: actor.kind,
      actor_operator_id: actor.kind === 'operator' ? actor.id : null,
      actor_name: actor.kind === 'operator' ? actor.name : ACTOR_NAMES[actor.kind],
      action: change.action,
      target_type: change.targetType ?? null,
      target_id: change.targetId ?? null,
      details: JSON.stringify(change.details ?? {}),
    });
  }

  /** Newest first, `first` at most 500, entries before the id `before` (a page's last id). */
  async list(opts: { first?: number | null; before?: string | null } = {}): Promise<AuditEntry[]> {
    const first = opts.first ?? 100;
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) {
      throw badInput('first', `must be an integer from 1 to ${MAX_PAGE}`);
    }
    const q = this.deps.db<AuditRow>('audit_log').orderBy('id', 'desc').limit(first);
    if (opts.before !== null && opts.before !== undefined) {
      if (!/^[1-9][0-9]{0,17}$/.test(opts.before)) throw badInput('before', 'must be an audit entry id');
      q.where('id', '<', opts.before);
    }
    return (await q.select('*')).map(toAuditEntry);
  }
}
