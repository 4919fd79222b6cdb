/**
 * The operator's price book (model_prices): prices that override the registry for calls of a
 * model, for every project or for one, over [effectiveFrom, effectiveTo) of their occurredAt.
 *
 * Changes are serialised by an advisory lock, checked (no negative price, no backwards range,
 * no overlap between entries of one model and scope, a known project), and renew the
 * changed rows' version, so the book's version (its greatest) moves with every change. Each
 * instance keeps the whole book in memory for pricing (src/pricing/priceBook.ts): it reloads
 * at once after its own changes, and polls the version every refreshMs for the others'.
 */
import type { Knex } from 'knex';
import { toDate, toDateOrNull, toInt } from '../db/normalize';
import { isUuid } from '../domain/limits';
import type { Logger } from '../logger';
import type { ModelPrices } from '../pricing/formula';
import { PriceBook, type PriceBookEntry } from '../pricing/priceBook';
import type { PricingService } from '../pricing/service';
import { badInput } from './errors';
import { checkOptionalString, checkString } from './validate';

/** pg advisory lock id: one change of the price book at a time. */
const PRICE_BOOK_LOCK = 7_345_023;
/** numeric(20,10): up to 10 digits before the point and 10 after. */
const PRICE = /^(0|[1-9][0-9]{0,9})(\.[0-9]{1,10})?$/;

export interface SetPriceInput {
  projectId?: string | null;
  provider: string;
  model: string;
  inputPerMillion: string;
  outputPerMillion: string;
  cachedInputPerMillion?: string | null;
  cacheWritePerMillion?: string | null;
  cacheWrite1hPerMillion?: string | null;
  reasoningPerMillion?: string | null;
  inputLongContextPerMillion?: string | null;
  outputLongContextPerMillion?: string | null;
  longContextThresholdTokens?: number | null;
  effectiveFrom: Date;
  effectiveTo?: Date | null;
  note?: string | null;
}

interface PriceRow {
  id: string;
  version: string | number;
  project_id: string | null;
  provider: string;
  model: string;
  input_per_million: string;
  output_per_million: string;
  cached_input_per_million: string | null;
  cache_write_per_million: string | null;
  cache_write_1h_per_million: string | null;
  reasoning_per_million: string | null;
  input_long_context_per_million: string | null;
  output_long_context_per_million: string | null;
  long_context_threshold_tokens: number | null;
  effective_from: Date;
  effective_to: Date | null;
  note: string | null;
  created_at: Date;
  updated_at: Date;
}

/** Input price fields and their columns. */
const PRICE_COLUMNS = {
  inputPerMillion: 'input_per_million',
  outputPerMillion: 'output_per_million',
  cachedInputPerMillion: 'cached_input_per_million',
  cacheWritePerMillion: 'cache_write_per_million',
  cacheWrite1hPerMillion: 'cache_write_1h_per_million',
  reasoningPerMillion: 'reasoning_per_million',
  inputLongContextPerMillion: 'input_long_context_per_million',
  outputLongContextPerMillion: 'output_long_context_per_million',
} as const;

/** A decimal column as the formula's plain decimal string (no trailing zeros), or undefined. */
function price(value: string | null): string | undefined {
  if (value === null || value === undefined) return undefined;
  const text = String(value);
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

export function toPriceBookEntry(row: PriceRow): PriceBookEntry {
  const prices: ModelPrices = {
    input: price(row.input_per_million)!,
    output: price(row.output_per_million)!,
    cachedInput: price(row.cached_input_per_million),
    cacheWrite5m: price(row.cache_write_per_million),
    cacheWrite1h: price(row.cache_write_1h_per_million),
    reasoning: price(row.reasoning_per_million),
    inputLongContext: price(row.input_long_context_per_million),
    outputLongContext: price(row.output_long_context_per_million),
    longContextThresholdTokens: row.long_context_threshold_tokens ?? undefined,
  };
  return {
    id: row.id,
    version: toInt(row.version),
    projectId: row.project_id,
    provider: row.provider,
    model: row.model,
    prices,
    effectiveFrom: toDate(row.effective_from),
    effectiveTo: toDateOrNull(row.effective_to),
    note: row.note,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

export class PriceBookService {
  private timer: NodeJS.Timeout | null = null;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly deps: { db: Knex; pricing: PricingService; logger: Logger; refreshMs: number },
  ) {}

  /** Reads the whole book into the pricing service (once at a time). */
  load(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const rows: PriceRow[] = await this.deps.db('model_prices').select('*');
        this.deps.pricing.setBook(new PriceBook(rows.map(toPriceBookEntry)));
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /** The book's version in the database: its greatest entry version, 0 when empty. */
  async version(): Promise<number> {
    const [{ v }] = await this.deps.db('model_prices').max({ v: 'version' });
    return v === null || v === undefined ? 0 : toInt(v);
  }

  /** Polls the version every refreshMs and reloads when another instance changed the book. */
  start(): void {
    if (this.timer) return;
    const tick = async () => {
      try {
        if ((await this.version()) !== this.deps.pricing.bookVersion) await this.load();
      } catch (err) {
        this.deps.logger.warn({ err }, 'could not refresh the price book; keeping the prices in memory');
      }
    };
    this.timer = setInterval(() => void tick(), this.deps.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Checks and stores a price (see the header and SetModelPriceInput); returns the new entry. */
  async set(
    input: SetPriceInput,
    /** Runs in the same transaction once the entry is stored (the audit log's entry). */
    andThen?: (trx: Knex.Transaction, entry: PriceBookEntry) => Promise<void>,
  ): Promise<PriceBookEntry> {
    const row = this.check(input);
    const entry = await this.deps.db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [PRICE_BOOK_LOCK]);
      if (row.project_id && !(await trx('projects').where({ id: row.project_id }).first('id'))) {
        throw badInput('projectId', 'no project has this id');
      }
      const same = trx('model_prices')
        .where({ provider: row.provider })
        .whereRaw('lower(model) = lower(?)', [row.model]);
      if (row.project_id) same.where({ project_id: row.project_id });
      else same.whereNull('project_id');
      const existing: PriceRow[] = await same.clone().select('*');
      const from = row.effective_from.getTime();
      const to = row.effective_to?.getTime() ?? Infinity;
      for (const e of existing) {
        const eFrom = toDate(e.effective_from).getTime();
        const eTo = e.effective_to ? toDate(e.effective_to).getTime() : Infinity;
        if (eTo === Infinity && eFrom < from) continue; // closed below
        if (eFrom < to && from < eTo) {
          throw badInput(
            'effectiveFrom',
            `the range overlaps the book's entry for ${e.provider}/${e.model} from ${toDate(e.effective_from).toISOString()}` +
              `${e.effective_to ? ` to ${toDate(e.effective_to).toISOString()}` : ''} (version ${e.version})`,
          );
        }
      }
      // A still open-ended entry that started earlier ends where this one starts.
      await same
        .clone()
        .whereNull('effective_to')
        .where('effective_from', '<', row.effective_from)
        .update({
          effective_to: row.effective_from,
          version: trx.raw("nextval('model_prices_version_seq')"),
          updated_at: trx.fn.now(),
        });
      const [created] = await trx('model_prices').insert(row).returning('*');
      const stored = toPriceBookEntry(created as PriceRow);
      await andThen?.(trx, stored);
      return stored;
    });
    await this.load();
    return entry;
  }

  /** One model's entries (global, and the projects given; null: all), oldest first. */
  async history(provider: string, model: string, projectIds: string[] | null): Promise<PriceBookEntry[]> {
    const q = this.deps
      .db('model_prices')
      .whereRaw('lower(provider) = lower(?)', [provider])
      .whereRaw('lower(model) = lower(?)', [model])
      .orderBy([{ column: 'effective_from' }, { column: 'version' }]);
    if (projectIds)
      q.where((w) => w.whereNull('project_id').orWhereIn('project_id', projectIds.filter(isUuid)));
    return ((await q.select('*')) as PriceRow[]).map(toPriceBookEntry);
  }

  /** Every entry (global, and the projects given; null: all), by provider, model and start. */
  async list(projectIds: string[] | null): Promise<PriceBookEntry[]> {
    const q = this.deps
      .db('model_prices')
      .orderBy([{ column: 'provider' }, { column: 'model' }, { column: 'effective_from' }]);
    if (projectIds)
      q.where((w) => w.whereNull('project_id').orWhereIn('project_id', projectIds.filter(isUuid)));
    return ((await q.select('*')) as PriceRow[]).map(toPriceBookEntry);
  }

  private check(input: SetPriceInput) {
    const projectId = input.projectId ?? null;
    if (projectId !== null && !isUuid(projectId)) throw badInput('projectId', 'is not a project id (a UUID)');
    const prices: Record<string, string | null> = {};
    for (const [field, column] of Object.entries(PRICE_COLUMNS)) {
      const value = input[field as keyof typeof PRICE_COLUMNS];
      if (value === null || value === undefined) {
        prices[column] = null;
        continue;
      }
      if (value.startsWith('-')) throw badInput(field, 'must not be negative');
      if (!PRICE.test(value)) {
        throw badInput(
          field,
          'must be a decimal of at most 10 digits before the point and 10 after, e.g. "2.5"',
        );
      }
      prices[column] = value;
    }
    const threshold = input.longContextThresholdTokens ?? null;
    const longPrices =
      prices.input_long_context_per_million !== null || prices.output_long_context_per_million !== null;
    if (
      threshold !== null &&
      (!Number.isSafeInteger(threshold) || threshold < 1 || threshold > 2_147_483_647)
    ) {
      throw badInput('longContextThresholdTokens', 'must be a positive integer');
    }
    if (longPrices !== (threshold !== null)) {
      throw badInput(
        'longContextThresholdTokens',
        longPrices
          ? 'is needed with a long-context price (the input tokens above which it applies)'
          : 'needs inputLongContextPerMillion or outputLongContextPerMillion',
      );
    }
    const from = input.effectiveFrom;
    const to = input.effectiveTo ?? null;
    if (Number.isNaN(from.getTime())) throw badInput('effectiveFrom', 'is not a valid date-time');
    if (to !== null && (Number.isNaN(to.getTime()) || to.getTime() <= from.getTime())) {
      throw badInput('effectiveTo', 'must be after effectiveFrom (a range is [from, to))');
    }
    return {
      project_id: projectId,
      provider: checkString('provider', input.provider.trim(), { max: 64 }),
      model: checkString('model', input.model.trim(), { max: 255 }),
      ...prices,
      long_context_threshold_tokens: threshold,
      effective_from: from,
      effective_to: to,
      note: checkOptionalString('note', input.note, { max: 1000, allowEmpty: true }),
    } as const;
  }
}
