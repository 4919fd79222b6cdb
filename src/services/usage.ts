/**
 * Recording usage: validates what a client reports, prices it, and stores each log with
 * its signed receipt in one transaction. Idempotency keys make retries safe: a key seen
 * before in the project returns the first result and stores nothing.
 */
import type { Knex } from 'knex';
import type { ReceiptRow, UsageLogRow } from '../db/tables';
import { newRowId } from '../db/ids';
import { toReceipt, toUsageLog } from '../db/rows';
import { applyUsageQuery } from '../db/usageFilter';
import { keysetPage, type Page } from '../db/cursor';
import type { Project, Receipt, UsageLog, UsageQuery } from '../domain/types';
import type { PricingService } from '../pricing/service';
import type { ReceiptService } from './receipts';
import { badInput, ServiceError } from './errors';
import { GroupCommit } from './groupCommit';
import { checkNonNegativeInt, checkOptionalString, checkStorable, checkString } from './validate';

export interface LogUsageInput {
  provider: string;
  model: string;
  aliasName?: string | null;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens?: number | null;
  cost?: number | null;
  latencyMs?: number | null;
  origin?: string | null;
  idAtOrigin?: string | null;
  profile?: string | null;
  metadata?: Record<string, unknown> | null;
  occurredAt?: Date | null;
  idempotencyKey?: string | null;
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
  pageSize: 500,
};
const EARLIEST = Date.UTC(2000, 0, 1);

type NewUsage = Omit<UsageLogRow, 'id' | 'project_id' | 'api_key_id' | 'created_at'>;

/** What a column's JSON text is cast to before it is stored. */
type ColumnType = 'uuid' | 'text' | 'integer' | 'numeric' | 'jsonb' | 'timestamptz';

/**
 * The usage_logs columns ingest writes, in the order of each log's JSON array (see
 * INSERT_LOGS_AND_RECEIPTS), with the type its value is cast to. Strings are cast to text, not
 * varchar(n): an explicit cast would cut a long value, where storing it in the column rejects it.
 */
const LOG_COLUMNS: ReadonlyArray<readonly [keyof UsageLogRow, ColumnType]> = [
  ['id', 'uuid'],
  ['project_id', 'uuid'],
  ['api_key_id', 'uuid'],
  ['alias_name', 'text'],
  ['provider', 'text'],
  ['model', 'text'],
  ['input_tokens', 'integer'],
  ['output_tokens', 'integer'],
  ['cached_input_tokens', 'integer'],
  ['cost', 'numeric'],
  ['cost_source', 'text'],
  ['latency_ms', 'integer'],
  ['origin', 'text'],
  ['id_at_origin', 'text'],
  ['profile', 'text'],
  ['metadata', 'jsonb'],
  ['occurred_at', 'timestamptz'],
  ['created_at', 'timestamptz'],
  ['idempotency_key', 'text'],
  ['input_price_per_million', 'numeric'],
  ['output_price_per_million', 'numeric'],
  ['cached_input_price_per_million', 'numeric'],
  ['registry_version', 'text'],
];

/** The SQL expression of element `i` of a log's array `e`, as the column's type. */
function element(i: number, type: ColumnType): string {
  return type === 'jsonb' ? `e->${i}` : `(e->>${i})::${type}`;
}
const columnAt = (column: keyof UsageLogRow) => {
  const i = LOG_COLUMNS.findIndex(([name]) => name === column);
  return element(i, LOG_COLUMNS[i][1]);
};
/** After a log's columns, its array holds its receipt's row id and signed document. */
const RECEIPT_ID_AT = LOG_COLUMNS.length;
const RECEIPT_DOCUMENT_AT = LOG_COLUMNS.length + 1;

/**
 * Logs and their receipts in one statement, from one JSON parameter: an array holding, for
 * each log, an array of its column values followed by its receipt's row id and document.
 * Positional arrays rather than objects: no member names to write, send and parse. A receipt
 * row repeats its log's id, project, alias name and time, and its document's receipt id,
 * signature and key id; the statement takes those from there rather than have them sent twice.
 * Logs whose idempotency key is stored already are skipped, and their receipts with them;
 * returns the ids of the logs inserted.
 */
const INSERT_LOGS_AND_RECEIPTS = `
  WITH input AS MATERIALIZED (SELECT e, e->${RECEIPT_DOCUMENT_AT} AS d FROM jsonb_array_elements(?::jsonb) e),
  logs AS (
    INSERT INTO usage_logs (${LOG_COLUMNS.map(([name]) => name).join(', ')})
    SELECT ${LOG_COLUMNS.map(([, type], i) => element(i, type)).join(', ')} FROM input
    ON CONFLICT (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
  ), receipts AS (
    INSERT INTO receipts (id, receipt_id, project_id, usage_log_id, alias_name, document, signature, key_id, created_at)
    SELECT ${element(RECEIPT_ID_AT, 'uuid')}, d->>'receipt_id', ${columnAt('project_id')}, ${columnAt('id')}, ${columnAt('alias_name')},
      d, d->>'signature', d->>'key_id', ${columnAt('created_at')}
    FROM input WHERE ${columnAt('id')} IN (SELECT id FROM logs)
    RETURNING usage_log_id
  )
  SELECT id FROM logs WHERE id IN (SELECT usage_log_id FROM receipts)`;

/** A log about to be stored; its receipt is signed with the others of its statement. */
interface PendingLog {
  project: Project;
  row: UsageLogRow;
  log: UsageLog;
}

/** Rows one group-commit statement carries at most (one larger logUsageBatch still goes alone). */
const GROUP_COMMIT_MAX_ROWS = 1000;

export class UsageService {
  /** Concurrent calls' logs share statements (see groupCommit.ts). */
  private readonly commits: GroupCommit<PendingLog, Map<string, ReceiptRow>>;
  private readonly limits: typeof LIMITS;

  constructor(
    private readonly deps: {
      db: Knex;
      pricing: PricingService;
      receipts: ReceiptService;
      limits?: Partial<typeof LIMITS>;
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
   * Signs the receipts of these logs, then one statement inserts the logs and their receipts;
   * returns the receipts of the logs inserted, by log id.
   */
  private async insert(pending: PendingLog[]): Promise<Map<string, ReceiptRow>> {
    const receipts = await this.deps.receipts.signAll(pending);
    const input = pending.map(({ row }, i) => [
      ...LOG_COLUMNS.map(([name]) => row[name]),
      receipts[i].id,
      receipts[i].document,
    ]);
    const { rows } = await this.deps.db.raw(INSERT_LOGS_AND_RECEIPTS, [JSON.stringify(input)]);
    const inserted = new Set((rows as Array<{ id: string }>).map((r) => r.id));
    const byLog = new Map<string, ReceiptRow>();
    pending.forEach(({ log }, i) => {
      if (inserted.has(log.id)) byLog.set(log.id, receipts[i]);
    });
    return byLog;
  }

  async record(caller: Caller, input: LogUsageInput): Promise<LogUsageResult> {
    const [result] = await this.store(caller, [this.prepare(input, 'input')]);
    return result;
  }

  /** All stored or none: one invalid item rejects the whole batch, naming it. */
  async recordBatch(caller: Caller, inputs: LogUsageInput[]): Promise<LogUsageResult[]> {
    if (inputs.length > this.limits.batchSize) {
      throw badInput(
        'inputs',
        `a batch holds at most ${this.limits.batchSize} items (got ${inputs.length}; the server's limit, set by LLMRING_MAX_BATCH_SIZE)`,
      );
    }
    if (inputs.length === 0) return [];
    return this.store(
      caller,
      inputs.map((input, i) => this.prepare(input, `inputs[${i}]`)),
    );
  }

  /** Validates one input and prices it; throws BAD_USER_INPUT naming the field. */
  private prepare(input: LogUsageInput, at: string, now = Date.now()): NewUsage {
    const f = (name: string) => `${at}.${name}`;
    const inputTokens = checkNonNegativeInt(f('inputTokens'), input.inputTokens);
    const outputTokens = checkNonNegativeInt(f('outputTokens'), input.outputTokens);
    const cachedInputTokens = checkNonNegativeInt(f('cachedInputTokens'), input.cachedInputTokens ?? 0);
    if (cachedInputTokens > inputTokens) {
      throw badInput(
        f('cachedInputTokens'),
        `must not exceed inputTokens (${cachedInputTokens} > ${inputTokens})`,
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
    const model = checkString(f('model'), input.model, { max: 255 });
    const quote = this.deps.pricing.quote({
      provider,
      model,
      inputTokens,
      outputTokens,
      cachedInputTokens,
      clientCost: cost,
    });
    return {
      provider,
      model,
      alias_name: checkOptionalString(f('aliasName'), input.aliasName, { max: 255, allowEmpty: true }),
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      cached_input_tokens: cachedInputTokens,
      cost: quote.cost,
      cost_source: quote.costSource,
      latency_ms:
        input.latencyMs === null || input.latencyMs === undefined
          ? null
          : checkNonNegativeInt(f('latencyMs'), input.latencyMs),
      origin: checkOptionalString(f('origin'), input.origin, { max: 255, allowEmpty: true }),
      id_at_origin: checkOptionalString(f('idAtOrigin'), input.idAtOrigin, { max: 255, allowEmpty: true }),
      profile: checkString(f('profile'), input.profile ?? 'default', { max: 64 }),
      metadata: this.checkMetadata(f('metadata'), input.metadata ?? {}),
      occurred_at: occurredAt,
      idempotency_key: checkOptionalString(f('idempotencyKey'), input.idempotencyKey, { max: 255 }),
      input_price_per_million: quote.prices?.inputPerMillion ?? null,
      output_price_per_million: quote.prices?.outputPerMillion ?? null,
      cached_input_price_per_million: quote.prices?.cachedInputPerMillion ?? null,
      registry_version: quote.prices ? quote.registryVersion : null,
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
        const receipt = inserted.get(f.log.id);
        if (receipt) results[f.index] = { usageLog: f.log, receipt: toReceipt(receipt), replayed: false };
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

  private async findByIdempotencyKeys(
    db: Knex | Knex.Transaction,
    projectId: string,
    keys: string[],
  ): Promise<Map<string, LogUsageResult>> {
    const logs = await db<UsageLogRow>('usage_logs')
      .where({ project_id: projectId })
      .whereIn('idempotency_key', keys);
    const receipts = await db<ReceiptRow>('receipts').whereIn(
      'usage_log_id',
      logs.map((l) => l.id),
    );
    const receiptByLog = new Map(receipts.map((r) => [r.usage_log_id, toReceipt(r)]));
    const found = new Map<string, LogUsageResult>();
    for (const log of logs) {
      const receipt = receiptByLog.get(log.id);
      if (!receipt) throw new ServiceError('NOT_FOUND', 'the receipt of the replayed usage log is missing');
      found.set(log.idempotency_key!, { usageLog: toUsageLog(log), receipt, replayed: true });
    }
    return found;
  }

  /** Logs newest first (by occurredAt, then id), keyset-paginated: stable while logs arrive. */
  async list(
    query: UsageQuery,
    page: { first?: number | null; after?: string | null },
  ): Promise<Page<UsageLog>> {
    const db = this.deps.db;
    return keysetPage(db, applyUsageQuery(db('usage_logs'), query), {
      table: 'usage_logs',
      timeColumn: 'occurred_at',
      ...page,
      maxFirst: this.limits.pageSize,
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
