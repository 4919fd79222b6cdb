/**
 * Recording usage: validates what a client reports, prices it, and stores each log with
 * its signed receipt in one transaction. Idempotency keys make retries safe: a key seen
 * before in the project returns the first result and stores nothing.
 */
import type { Knex } from 'knex';
import type { UsageLogRow } from '../db/tables';
import { newRowId } from '../db/ids';
import { insertLogsWithReceipts, storedReceipt, type SignedReceipt } from '../db/ingest';
import { toUsageLog } from '../db/rows';
import { applyUsageQuery } from '../db/usageFilter';
import { keysetPage, type Page } from '../db/cursor';
import { MAX_PAGE_SIZE } from '../domain/limits';
import type { Project, Receipt, UsageLog, UsageQuery } from '../domain/types';
import type { PricingService } from '../pricing/service';
import type { DimensionService } from './dimensions';
import type { ReceiptService } from './receipts';
import { badInput, ServiceError } from './errors';
import { GroupCommit } from './groupCommit';
import type { RateLimitService } from './rateLimits';
import { checkNonNegativeInt, checkOptionalString, checkStorable, checkString } from './validate';

export interface LogUsageInput {
  provider: string;
  model: string;
  aliasName?: string | null;
  inputTokens: number;
  outputTokens: number;
  /** Part of inputTokens read from the provider's prompt cache. */
  cachedInputTokens?: number | null;
  /** Parts of inputTokens written to the prompt cache for 5 minutes and for 1 hour. */
  cacheWriteTokens?: number | null;
  cacheWrite1hTokens?: number | null;
  /** Part of outputTokens spent reasoning. */
  reasoningTokens?: number | null;
  cost?: number | null;
  latencyMs?: number | null;
  origin?: string | null;
  idAtOrigin?: string | null;
  profile?: string | null;
  metadata?: Record<string, unknown> | null;
  occurredAt?: Date | null;
  idempotencyKey?: string | null;
  /**
   * How the surface read token counts the client reported ambiguously (REST and OTLP reports:
   * src/domain/reportedTokens.ts); stored with the log. GraphQL inputs have none.
   */
  warnings?: string[];
}

export interface LogUsageResult {
  usageLog: UsageLog;
  receipt: Receipt;
  replayed: boolean;
}

export interface Caller {
  project: Project;
  apiKeyId: string | null;
}

export type { Page };

export const LIMITS = {
  batchSize: 1000,
  metadataBytes: 16 * 1024,
  metadataDepth: 20,
  futureSkewMs: 5 * 60 * 1000,
  maxCost: 9_999_999_999,
};
const EARLIEST = Date.UTC(2000, 0, 1);

type NewUsage = Omit<UsageLogRow, 'id' | 'project_id' | 'api_key_id' | 'created_at'>;

/**
 * What the ingest path reports of each call, for metrics: stored, replayed (an idempotency
 * key seen before), rejected (invalid input: a ServiceError), failed (anything else).
 */
export type UsageOutcome = 'stored' | 'replayed' | 'rejected' | 'failed';

/** A log about to be stored; its receipt is signed with the others of its statement, once. */
interface PendingLog {
  project: Project;
  row: UsageLogRow;
  log: UsageLog;
  /** Set when signed: a retried statement stores the same receipt without signing again. */
  receipt?: SignedReceipt;
}

/** Rows one group-commit statement carries at most (one larger logUsageBatch still goes alone). */
const GROUP_COMMIT_MAX_ROWS = 1000;

export class UsageService {
  /** Concurrent calls' logs share statements (see groupCommit.ts). */
  private readonly commits: GroupCommit<PendingLog, Set<string>>;
  private readonly limits: typeof LIMITS;
  private readonly outcomeListeners: Array<(outcome: UsageOutcome, calls: number) => void> = [];

  constructor(
    private readonly deps: {
      db: Knex;
      pricing: PricingService;
      receipts: ReceiptService;
      dimensions: DimensionService;
      limits?: Partial<typeof LIMITS>;
      /** Logs-per-minute limits of keys and projects (src/services/rateLimits.ts). */
      rateLimits?: Pick<RateLimitService, 'admitLogs'>;
      /** Ingest statements in flight at once (default 1); keep it below the pool size. */
      ingestStatements?: number;
    },
  ) {
    this.limits = { ...LIMITS, ...deps.limits };
    this.commits = new GroupCommit({
      run: (pending) => this.insert(pending),
      maxInFlight: deps.ingestStatements ?? 1,
      maxItems: GROUP_COMMIT_MAX_ROWS,
    });
  }

  /** Calls (logUsage, or logUsageBatch) waiting for their INSERT to commit. */
  get callsPending(): number {
    return this.commits.pending;
  }

  /**
   * Signs the receipts of these logs (those not signed by an earlier try), then one statement
   * inserts the logs and their receipts; returns the ids of the logs inserted.
   */
  private async insert(pending: PendingLog[]): Promise<Set<string>> {
    const unsigned = pending.filter((p) => !p.receipt);
    const signed = await this.deps.receipts.sign(unsigned);
    unsigned.forEach((p, i) => (p.receipt = signed[i]));
    return insertLogsWithReceipts(
      this.deps.db,
      pending.map((p) => ({ row: p.row, receipt: p.receipt! })),
    );
  }

  /** Calls `listener` with the outcome of every logged call (metrics; see UsageOutcome). */
  onOutcome(listener: (outcome: UsageOutcome, calls: number) => void): void {
    this.outcomeListeners.push(listener);
  }

  private report(outcome: UsageOutcome, calls: number): void {
    if (calls > 0) for (const listener of this.outcomeListeners) listener(outcome, calls);
  }

  /** Reports the outcome of `work` (`calls` of them) and returns its results. */
  private async counted(calls: number, work: () => Promise<LogUsageResult[]>): Promise<LogUsageResult[]> {
    try {
      const results = await work();
      const replayed = results.filter((r) => r.replayed).length;
      this.report('stored', results.length - replayed);
      this.report('replayed', replayed);
      return results;
    } catch (err) {
      this.report(err instanceof ServiceError ? 'rejected' : 'failed', Math.max(calls, 1));
      throw err;
    }
  }

  async record(caller: Caller, input: LogUsageInput): Promise<LogUsageResult> {
    // Over a logs-per-minute limit: refused before anything is checked or stored.
    await this.deps.rateLimits?.admitLogs(caller.project.id, caller.apiKeyId, 1);
    const [result] = await this.counted(1, async () =>
      this.store(caller, [this.prepare(input, 'input', caller.project.id)]),
    );
    return result;
  }

  /** All stored or none: one invalid item rejects the whole batch, naming it. */
  async recordBatch(caller: Caller, inputs: LogUsageInput[]): Promise<LogUsageResult[]> {
    if (inputs.length <= this.limits.batchSize) {
      await this.deps.rateLimits?.admitLogs(caller.project.id, caller.apiKeyId, inputs.length);
    }
    return this.counted(inputs.length, async () => {
      if (inputs.length > this.limits.batchSize) {
        throw badInput(
          'inputs',
          `a batch holds at most ${this.limits.batchSize} items (got ${inputs.length}; the server's limit, set by LLMRING_MAX_BATCH_SIZE)`,
        );
      }
      if (inputs.length === 0) return [];
      return this.store(
        caller,
        inputs.map((input, i) => this.prepare(input, `inputs[${i}]`, caller.project.id)),
      );
    });
  }

  /**
   * Each input on its own merits (OTLP's partial success): the valid ones are stored, in
   * statements of at most the batch size; an invalid one is answered with its error and stores
   * nothing. Idempotency keys replay as for record.
   */
  async recordEach(
    caller: Caller,
    inputs: LogUsageInput[],
    at = 'inputs',
  ): Promise<Array<LogUsageResult | ServiceError>> {
    const out: Array<LogUsageResult | ServiceError> = new Array(inputs.length);
    const valid: Array<{ index: number; item: NewUsage }> = [];
    inputs.forEach((input, i) => {
      try {
        valid.push({ index: i, item: this.prepare(input, `${at}[${i}]`, caller.project.id) });
      } catch (err) {
        if (!(err instanceof ServiceError)) throw err;
        out[i] = err;
      }
    });
    this.report('rejected', inputs.length - valid.length);
    // Over a logs-per-minute limit: refused whole before anything is stored.
    if (valid.length) await this.deps.rateLimits?.admitLogs(caller.project.id, caller.apiKeyId, valid.length);
    for (let start = 0; start < valid.length; start += this.limits.batchSize) {
      const chunk = valid.slice(start, start + this.limits.batchSize);
      const results = await this.counted(chunk.length, () =>
        this.store(
          caller,
          chunk.map((c) => c.item),
        ),
      );
      chunk.forEach((c, k) => (out[c.index] = results[k]));
    }
    return out;
  }

  /**
   * Validates one input and prices it; throws BAD_USER_INPUT naming the field. Token parts
   * may not exceed their totals: inputTokens counts every prompt token (cache reads and
   * writes included), outputTokens every generated token (reasoning included).
   */
  private prepare(input: LogUsageInput, at: string, projectId: string, now = Date.now()): NewUsage {
    const f = (name: string) => `${at}.${name}`;
    const inputTokens = checkNonNegativeInt(f('inputTokens'), input.inputTokens);
    const outputTokens = checkNonNegativeInt(f('outputTokens'), input.outputTokens);
    const part = (name: keyof LogUsageInput) =>
      checkNonNegativeInt(f(name), (input[name] as number | null) ?? 0);
    const cachedInputTokens = part('cachedInputTokens');
    const cacheWriteTokens = part('cacheWriteTokens');
    const cacheWrite1hTokens = part('cacheWrite1hTokens');
    const reasoningTokens = part('reasoningTokens');
    let inputParts = 0;
    for (const [name, n] of [
      ['cachedInputTokens', cachedInputTokens],
      ['cacheWriteTokens', cacheWriteTokens],
      ['cacheWrite1hTokens', cacheWrite1hTokens],
    ] as const) {
      inputParts += n;
      if (inputParts > inputTokens) {
        throw badInput(
          f(name),
          n === inputParts
            ? `must not exceed the input tokens (${n} > ${inputTokens})`
            : `with the other parts of the input tokens (cached, cache writes), must not exceed them (${inputParts} > ${inputTokens})`,
        );
      }
    }
    if (reasoningTokens > outputTokens) {
      throw badInput(
        f('reasoningTokens'),
        `must not exceed the output tokens (${reasoningTokens} > ${outputTokens})`,
      );
    }
    const cost = input.cost ?? null;
    if (cost !== null && !(Number.isFinite(cost) && cost >= 0 && cost <= this.limits.maxCost)) {
      throw badInput(f('cost'), `must be a finite number from 0 to ${this.limits.maxCost} USD`);
    }
    const occurredAt = input.occurredAt ?? new Date(now);
    if (Number.isNaN(occurredAt.getTime()) || occurredAt.getTime() < EARLIEST) {
      throw badInput(f('occurredAt'), 'must be a valid date-time after 2000-01-01');
    }
    if (occurredAt.getTime() > now + this.limits.futureSkewMs) {
      throw badInput(f('occurredAt'), 'is more than 5 minutes in the future; check the client clock');
    }
    const provider = checkString(f('provider'), input.provider, { max: 64 });
    const metadata = this.checkMetadata(f('metadata'), input.metadata ?? {});
    const model = checkString(f('model'), input.model, { max: 255 });
    const quote = this.deps.pricing.quote({
      provider,
      model,
      inputTokens,
      outputTokens,
      cachedInputTokens,
      cacheWriteTokens,
      cacheWrite1hTokens,
      reasoningTokens,
      clientCost: cost,
      occurredAt,
      projectId,
    });
    const prices = quote.prices;
    return {
      provider,
      model,
      alias_name: checkOptionalString(f('aliasName'), input.aliasName, { max: 255, allowEmpty: true }),
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      cached_input_tokens: cachedInputTokens,
      cache_write_tokens: cacheWriteTokens,
      cache_write_1h_tokens: cacheWrite1hTokens,
      reasoning_tokens: reasoningTokens,
      cost: quote.cost,
      original_cost: null,
      cost_source: quote.costSource,
      latency_ms:
        input.latencyMs === null || input.latencyMs === undefined
          ? null
          : checkNonNegativeInt(f('latencyMs'), input.latencyMs),
      origin: checkOptionalString(f('origin'), input.origin, { max: 255, allowEmpty: true }),
      id_at_origin: checkOptionalString(f('idAtOrigin'), input.idAtOrigin, { max: 255, allowEmpty: true }),
      profile: checkString(f('profile'), input.profile ?? 'default', { max: 64 }),
      metadata,
      dimensions: this.deps.dimensions.valuesOf(metadata),
      occurred_at: occurredAt,
      idempotency_key: checkOptionalString(f('idempotencyKey'), input.idempotencyKey, { max: 255 }),
      input_price_per_million: prices?.inputPerMillion ?? null,
      output_price_per_million: prices?.outputPerMillion ?? null,
      cached_input_price_per_million: prices?.cachedInputPerMillion ?? null,
      cache_write_price_per_million: prices?.cacheWritePerMillion ?? null,
      cache_write_1h_price_per_million: prices?.cacheWrite1hPerMillion ?? null,
      reasoning_price_per_million: prices?.reasoningPerMillion ?? null,
      long_context: prices ? prices.longContext : null,
      registry_version: prices ? quote.priceVersion : null,
      warnings: input.warnings?.length ? input.warnings : null,
    };
  }

  private checkMetadata(field: string, metadata: unknown): Record<string, unknown> {
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw badInput(field, 'must be a JSON object');
    }
    const walk = (value: unknown, depth: number): void => {
      if (depth > this.limits.metadataDepth)
        throw badInput(field, `must nest at most ${this.limits.metadataDepth} levels`);
      if (typeof value === 'string') checkStorable(field, value);
      else if (typeof value === 'number' && !Number.isFinite(value))
        throw badInput(field, 'numbers must be finite');
      else if (Array.isArray(value)) value.forEach((v) => walk(v, depth + 1));
      else if (typeof value === 'object' && value !== null) {
        for (const [k, v] of Object.entries(value)) {
          checkStorable(field, k);
          walk(v, depth + 1);
        }
      }
    };
    walk(metadata, 0);
    const bytes = Buffer.byteLength(JSON.stringify(metadata), 'utf8');
    if (bytes > this.limits.metadataBytes) {
      throw badInput(field, `must be at most ${this.limits.metadataBytes} bytes as JSON (got ${bytes})`);
    }
    return metadata as Record<string, unknown>;
  }

  /**
   * Stores logs and their receipts in ONE statement (atomic on its own, one round trip),
   * shared with the calls that arrive meanwhile (group commit): the rows travel as one JSON
   * parameter, the logs insert skips idempotency keys stored before, and only the logs
   * actually inserted get their receipts inserted. Replays of earlier keys are then read back.
   */
  private async store(caller: Caller, items: NewUsage[]): Promise<LogUsageResult[]> {
    const { db } = this.deps;
    const results: Array<LogUsageResult | undefined> = new Array(items.length);
    const firstIndexByKey = new Map<string, number>();
    const fresh: Array<PendingLog & { index: number }> = [];
    const receivedAt = new Date();

    items.forEach((item, index) => {
      const key = item.idempotency_key;
      if (key !== null) {
        if (firstIndexByKey.has(key)) return; // a repeat inside this batch: replays the first
        firstIndexByKey.set(key, index);
      }
      const row: UsageLogRow = {
        ...item,
        id: newRowId(),
        project_id: caller.project.id,
        api_key_id: caller.apiKeyId,
        created_at: receivedAt,
      };
      fresh.push({ index, project: caller.project, row, log: toUsageLog(row) });
    });

    if (fresh.length) {
      const inserted = await this.commits.submit(fresh);
      for (const f of fresh) {
        if (inserted.has(f.log.id)) {
          results[f.index] = {
            usageLog: f.log,
            receipt: storedReceipt({ row: f.row, receipt: f.receipt! }),
            replayed: false,
          };
        }
      }
    }

    // Keys stored earlier (or by a concurrent request that won the race): replay the first result.
    const replayKeys = [
      ...new Set(items.map((it) => it.idempotency_key).filter((k): k is string => k !== null)),
    ].filter((k) => results[firstIndexByKey.get(k)!] === undefined);
    const earlier = replayKeys.length
      ? await this.findByIdempotencyKeys(db, caller.project.id, replayKeys)
      : new Map<string, LogUsageResult>();
    items.forEach((item, index) => {
      if (results[index]) return;
      const key = item.idempotency_key!;
      const first = results[firstIndexByKey.get(key)!] ?? earlier.get(key);
      if (!first) throw new Error(`idempotency key without a stored log (project ${caller.project.id})`);
      results[index] = { ...first, replayed: true };
    });
    return results as LogUsageResult[];
  }

  /** Whether the caller's project already stored a call under this idempotency key. */
  async hasIdempotencyKey(caller: Caller, key: string): Promise<boolean> {
    checkOptionalString('idempotencyKey', key, { max: 255 });
    const row = await this.deps
      .db('usage_logs')
      .where({ project_id: caller.project.id, idempotency_key: key })
      .first('id');
    return row !== undefined;
  }

  private async findByIdempotencyKeys(
    db: Knex | Knex.Transaction,
    projectId: string,
    keys: string[],
  ): Promise<Map<string, LogUsageResult>> {
    const logs = await db<UsageLogRow>('usage_logs')
      .where({ project_id: projectId })
      .whereIn('idempotency_key', keys);
    const receipts = await this.deps.receipts.getByUsageLogIds(logs.map((l) => l.id));
    const found = new Map<string, LogUsageResult>();
    logs.forEach((log, i) => {
      const receipt = receipts[i];
      if (!receipt) throw new ServiceError('NOT_FOUND', 'the receipt of the replayed usage log is missing');
      found.set(log.idempotency_key!, { usageLog: toUsageLog(log), receipt, replayed: true });
    });
    return found;
  }

  /** Logs newest first (by occurredAt, then id), keyset-paginated: stable while logs arrive. */
  async list(
    query: UsageQuery,
    page: { first?: number | null; after?: string | null },
  ): Promise<Page<UsageLog>> {
    const db = this.deps.db;
    this.deps.dimensions.checkFilter(query);
    return keysetPage(db, applyUsageQuery(db('usage_logs'), query), {
      table: 'usage_logs',
      timeColumn: 'occurred_at',
      ...page,
      maxFirst: MAX_PAGE_SIZE,
      map: (row: UsageLogRow) => toUsageLog(row),
    });
  }

  async getById(id: string): Promise<UsageLog | null> {
    const row = await this.deps.db<UsageLogRow>('usage_logs').where({ id }).first();
    return row ? toUsageLog(row) : null;
  }

  /** For DataLoader. */
  async getByIds(ids: readonly string[]): Promise<Array<UsageLog | null>> {
    const rows = await this.deps.db<UsageLogRow>('usage_logs').whereIn('id', ids as string[]);
    const byId = new Map(rows.map((r) => [r.id, toUsageLog(r)]));
    return ids.map((id) => byId.get(id) ?? null);
  }
}
