/**
 * Rate limits per API key and per project: requests per second (every request a key makes)
 * and logs per minute (usage logs stored: a batch counts its items). Defaults come from the
 * settings (LLMRING_RATE_LIMIT_*), a project may override each; 0 is no limit.
 *
 * Enforced across instances in Postgres: one fixed-window counter row per key or project and
 * limit (rate_counters, UNLOGGED), bumped by one statement per check for all the limits that
 * apply, with the database's clock deciding the window so instances agree. A call is refused
 * with RATE_LIMITED (HTTP 429, Retry-After: the seconds left in the window) before anything is
 * stored, and a refused call does not count. Cost: a project's own limits are read once per
 * 5 s per instance (cached); with no limit in force, nothing more; otherwise one upsert of a
 * row per limit in force per request (and one more per logging call). A fixed window
 * lets a client make up to twice the limit across a window's edge; the counters of one key are
 * one row, so its requests queue on that row's lock for the statement only (no WAL flush).
 */
import type { Knex } from 'knex';
import type { Actor } from '../domain/access';
import { isUuid } from '../domain/limits';
import type { AuditService } from './audit';
import { RateLimitedError, notFound } from './errors';
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

interface Bucket {
  bucket: string;
  windowMs: number;
  limit: number;
  name: string;
  what: string;
}

export class RateLimitService {
  private readonly overrides = new Map<string, { value: RateLimitOverrides; expires: number }>();
  private readonly refusedListeners: Array<(limit: string) => void> = [];

  constructor(private readonly deps: { db: Knex; defaults: RateLimits; audit?: AuditService }) {}

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
    const l = await this.limitsOf(projectId);
    await this.consume(1, [
      {
        bucket: `k:${apiKeyId}:rps`,
        windowMs: 1000,
        limit: l.keyRequestsPerSecond,
        name: 'key_requests',
        what: 'requests per second of this API key',
      },
      {
        bucket: `p:${projectId}:rps`,
        windowMs: 1000,
        limit: l.projectRequestsPerSecond,
        name: 'project_requests',
        what: "requests per second of this key's project",
      },
    ]);
  }

  /** `logs` usage logs about to be stored: RATE_LIMITED when they would exceed a logs-per-minute limit. */
  async admitLogs(projectId: string, apiKeyId: string | null, logs: number): Promise<void> {
    const l = await this.limitsOf(projectId);
    await this.consume(logs, [
      {
        bucket: `k:${apiKeyId}:lpm`,
        windowMs: 60_000,
        limit: apiKeyId ? l.keyLogsPerMinute : 0,
        name: 'key_logs',
        what: 'usage logs per minute of this API key',
      },
      {
        bucket: `p:${projectId}:lpm`,
        windowMs: 60_000,
        limit: l.projectLogsPerMinute,
        name: 'project_logs',
        what: "usage logs per minute of this key's project",
      },
    ]);
  }

  /**
   * One statement for every bucket that has a limit: each count grows by `amount` (a new window,
   * by the database's clock, starts from 0). If any goes over its limit the call is refused and
   * a second statement (only then) takes the amount back from every bucket, so a refused call
   * does not count; meanwhile a concurrent call near the limit may be refused with it.
   */
  private async consume(amount: number, all: Bucket[]): Promise<void> {
    const buckets = all.filter((b) => b.limit > 0);
    if (buckets.length === 0 || amount <= 0) return;
    const values = buckets.map(() => '(?::text, ?::bigint)').join(', ');
    const { rows } = (await this.deps.db.raw(
      `WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms)
       INSERT INTO rate_counters AS c (bucket, window_start, count)
       SELECT b.bucket, now.ms - now.ms % b.window_ms, ?::bigint
       FROM (VALUES ${values}) AS b(bucket, window_ms), now
       ON CONFLICT (bucket) DO UPDATE SET
         count = CASE WHEN c.window_start < EXCLUDED.window_start THEN EXCLUDED.count ELSE c.count + EXCLUDED.count END,
         window_start = GREATEST(c.window_start, EXCLUDED.window_start)
       RETURNING c.bucket, c.count, c.window_start, (SELECT ms FROM now) AS now_ms`,
      [amount, ...buckets.flatMap((b) => [b.bucket, b.windowMs])],
    )) as { rows: CounterRow[] };
    const byBucket = new Map(rows.map((r) => [r.bucket, r]));
    const refused = buckets.find((b) => Number(byBucket.get(b.bucket)?.count ?? 0) > b.limit);
    if (!refused) return;
    await this.deps.db.raw(
      `UPDATE rate_counters AS c SET count = GREATEST(c.count - ?::bigint, 0)
       FROM (VALUES ${values}) AS b(bucket, window_start) WHERE c.bucket = b.bucket AND c.window_start = b.window_start`,
      [amount, ...rows.flatMap((r) => [r.bucket, Number(r.window_start)])],
    );
    const row = byBucket.get(refused.bucket)!;
    const ends = Number(row.window_start) + refused.windowMs;
    const retryAfter = Math.max(1, Math.ceil((ends - Number(row.now_ms)) / 1000));
    for (const listener of this.refusedListeners) listener(refused.name);
    throw new RateLimitedError(
      `rate limit reached: at most ${refused.limit} ${refused.what}; retry in ${retryAfter} s`,
      retryAfter,
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

interface CounterRow {
  bucket: string;
  count: string | number;
  window_start: string | number;
  now_ms: string | number;
}
