/**
 * Rate limits per API key and per project: requests per second (every request a key makes)
 * and logs per minute (usage logs stored: a batch counts its items). Defaults come from the
 * settings (LLMRING_RATE_LIMIT_*), a project may override each; 0 is no limit.
 *
 * Enforced across instances in Postgres, by leasing (issue 21): each key's or project's limit
 * is a bucket with one fixed-window counter row (rate_counters, UNLOGGED), the window decided
 * by the database's clock so that instances agree. An instance reserves a lease of tokens from
 * a bucket's window in one upsert that never lets the count pass the limit
 * (src/db/rateCounters.ts), then admits calls from its lease in memory, and leases again when
 * it runs short (src/services/rateLeases.ts): concurrent callers share one statement in flight,
 * the tokens are used only while the window surely lasts at the database, and a lease is
 * sized to this instance's demand in the last window, at most 1/16 of the limit. So the count
 * of a window never exceeds the limit on all instances together, and a limit under 32 leases
 * one call at a time (exact, as one counter per call was).
 *
 * A call is refused with RATE_LIMITED (HTTP 429, Retry-After: the seconds left in the window by
 * the database's clock, as of the last lease) before anything is stored; a call takes its
 * tokens from all its buckets or none, so a refused call takes nothing. Once a window is known
 * to be spent, calls are refused here with no statement until it ends.
 *
 * Cost per request: a project's own limits are read once per 5 s per instance (cached); with
 * no limit in force, nothing more. Far from a limit, no statement for most requests: about one
 * lease upsert per window per instance for a key's requests (one per second) and one for its
 * logs (per minute), whatever the rate; a logging call's lease also renews the caller's other
 * spent leases in the same statement. A limit under 32 costs one upsert per call and limit
 * kind, as before.
 *
 * Trade-offs: tokens leased but unused when a window ends are lost for that window (at most a
 * lease, 1/16 of the limit, per instance and bucket, and a quarter of what the window had left
 * when it was leased), so with several instances a client may be refused a little before its
 * limit, never admitted past it. A fixed window lets a client make up to twice the limit across
 * a window's edge.
 */
import type { Knex } from 'knex';
import type { Actor } from '../domain/access';
import { isUuid } from '../domain/limits';
import type { AuditService } from './audit';
import { RateLimitedError, notFound } from './errors';
import { TokenLeases, type BucketSpec } from './rateLeases';
import { checkNonNegativeInt } from './validate';

export interface RateLimits {
  keyRequestsPerSecond: number;
  projectRequestsPerSecond: number;
  keyLogsPerMinute: number;
  projectLogsPerMinute: number;
}

/** A project's own limits: null keeps the server's default. */
export type RateLimitOverrides = { [K in keyof RateLimits]?: number | null };

interface OverrideRow {
  project_id: string;
  key_requests_per_second: number | null;
  project_requests_per_second: number | null;
  key_logs_per_minute: number | null;
  project_logs_per_minute: number | null;
}

const COLUMNS: Record<keyof RateLimits, keyof OverrideRow> = {
  keyRequestsPerSecond: 'key_requests_per_second',
  projectRequestsPerSecond: 'project_requests_per_second',
  keyLogsPerMinute: 'key_logs_per_minute',
  projectLogsPerMinute: 'project_logs_per_minute',
};
const MAX_LIMIT = 1_000_000_000;
/** A project's overrides are re-read at most this often per instance (as key lookups are cached). */
const OVERRIDE_TTL_MS = 5_000;
const MAX_CACHED = 10_000;

interface Bucket extends BucketSpec {
  name: string;
  what: string;
}

export class RateLimitService {
  private readonly overrides = new Map<string, { value: RateLimitOverrides; expires: number }>();
  private readonly refusedListeners: Array<(limit: string) => void> = [];
  private readonly leases: TokenLeases;

  constructor(private readonly deps: { db: Knex; defaults: RateLimits; audit?: AuditService }) {
    this.leases = new TokenLeases(deps.db);
  }

  /** Calls `listener` with the limit of every refused call (metrics). */
  onRefused(listener: (limit: string) => void): void {
    this.refusedListeners.push(listener);
  }

  /** The limits in force for a project: its own where it has one, else the defaults. */
  async limitsOf(projectId: string): Promise<RateLimits> {
    const own = await this.overridesOf(projectId);
    const d = this.deps.defaults;
    return {
      keyRequestsPerSecond: own.keyRequestsPerSecond ?? d.keyRequestsPerSecond,
      projectRequestsPerSecond: own.projectRequestsPerSecond ?? d.projectRequestsPerSecond,
      keyLogsPerMinute: own.keyLogsPerMinute ?? d.keyLogsPerMinute,
      projectLogsPerMinute: own.projectLogsPerMinute ?? d.projectLogsPerMinute,
    };
  }

  /** One request of a key: RATE_LIMITED when its key's or project's requests per second are spent. */
  async admitRequest(projectId: string, apiKeyId: string): Promise<void> {
    const b = bucketsOf(projectId, apiKeyId, await this.limitsOf(projectId));
    await this.admit(1, [b.keyRequests, b.projectRequests], [b.keyLogs, b.projectLogs]);
  }

  /** `logs` usage logs about to be stored: RATE_LIMITED when they would exceed a logs-per-minute limit. */
  async admitLogs(projectId: string, apiKeyId: string | null, logs: number): Promise<void> {
    const b = bucketsOf(projectId, apiKeyId, await this.limitsOf(projectId));
    await this.admit(logs, [b.keyLogs, b.projectLogs], [b.keyRequests, b.projectRequests]);
  }

  /**
   * Takes `amount` tokens from every bucket that has a limit, from this instance's leases (a
   * statement only when they run short), or refuses the call taking nothing. `extras`: the
   * caller's other buckets, renewed by the same statement when worth it (src/services/rateLeases.ts).
   */
  private async admit(amount: number, all: Bucket[], extras: Bucket[]): Promise<void> {
    const buckets = all.filter((b) => b.limit > 0);
    if (buckets.length === 0 || amount <= 0) return;
    const refusal = await this.leases.admit(
      buckets.map((spec) => ({ spec, amount })),
      extras.filter((b) => b.limit > 0),
    );
    if (!refusal) return;
    const refused = refusal.spec;
    for (const listener of this.refusedListeners) listener(refused.name);
    throw new RateLimitedError(
      `rate limit reached: at most ${refused.limit} ${refused.what}; retry in ${refusal.retryAfterSeconds} s`,
      refusal.retryAfterSeconds,
      refused.name,
    );
  }

  private async overridesOf(projectId: string): Promise<RateLimitOverrides> {
    const now = Date.now();
    const cached = this.overrides.get(projectId);
    if (cached && cached.expires > now) return cached.value;
    const row = await this.deps
      .db<OverrideRow>('project_rate_limits')
      .where({ project_id: projectId })
      .first();
    const value: RateLimitOverrides = {};
    if (row)
      for (const [field, column] of Object.entries(COLUMNS))
        value[field as keyof RateLimits] = row[column] as number | null;
    if (this.overrides.size >= MAX_CACHED) this.overrides.clear();
    this.overrides.set(projectId, { value, expires: now + OVERRIDE_TTL_MS });
    return value;
  }

  /** A project's own limits (null: the default), for the API. */
  async projectOverrides(projectId: string): Promise<RateLimitOverrides> {
    return this.overridesOf(projectId);
  }

  /**
   * Sets a project's own limits (absent fields keep theirs, null returns one to the default),
   * recorded in the audit log in the same transaction. Other instances apply them within 5 s.
   */
  async setProjectLimits(actor: Actor, projectId: string, input: RateLimitOverrides): Promise<void> {
    if (!isUuid(projectId)) throw notFound('project');
    const changes: Partial<OverrideRow> = {};
    for (const [field, column] of Object.entries(COLUMNS) as Array<[keyof RateLimits, keyof OverrideRow]>) {
      const v = input[field];
      if (v === undefined) continue;
      (changes as Record<string, number | null>)[column] =
        v === null ? null : checkNonNegativeInt(`input.${field}`, v, MAX_LIMIT);
    }
    await this.deps.db.transaction(async (trx) => {
      if (!(await trx('projects').where({ id: projectId }).first('id'))) throw notFound('project');
      await trx('project_rate_limits')
        .insert({ project_id: projectId, ...changes, updated_at: trx.fn.now() })
        .onConflict('project_id')
        .merge({ ...changes, updated_at: trx.fn.now() });
      await this.deps.audit?.record(trx, actor, {
        action: 'setProjectRateLimits',
        targetType: 'project',
        targetId: projectId,
        details: { changes: input },
      });
    });
    this.overrides.delete(projectId);
  }
}

/** The four buckets of a key and its project (a key's own have no limit without a key). */
function bucketsOf(
  projectId: string,
  apiKeyId: string | null,
  l: RateLimits,
): Record<'keyRequests' | 'projectRequests' | 'keyLogs' | 'projectLogs', Bucket> {
  const key = (limit: number) => (apiKeyId ? limit : 0);
  return {
    keyRequests: {
      bucket: `k:${apiKeyId}:rps`,
      windowMs: 1000,
      limit: key(l.keyRequestsPerSecond),
      name: 'key_requests',
      what: 'requests per second of this API key',
    },
    projectRequests: {
      bucket: `p:${projectId}:rps`,
      windowMs: 1000,
      limit: l.projectRequestsPerSecond,
      name: 'project_requests',
      what: "requests per second of this key's project",
    },
    keyLogs: {
      bucket: `k:${apiKeyId}:lpm`,
      windowMs: 60_000,
      limit: key(l.keyLogsPerMinute),
      name: 'key_logs',
      what: 'usage logs per minute of this API key',
    },
    projectLogs: {
      bucket: `p:${projectId}:lpm`,
      windowMs: 60_000,
      limit: l.projectLogsPerMinute,
      name: 'project_logs',
      what: "usage logs per minute of this key's project",
    },
  };
}
