/**
 * Exports in standard formats: FinOps FOCUS 1.2 (src/export/focus.ts), as CSV or Parquet, for
 * the CLI (`export --format focus`), the HTTP route (GET /v1/exports/focus) and the scheduled
 * exports. Logs are read in batches (UsageLogReader.batches), so an export of millions of logs
 * holds one batch in memory.
 */
import { stringify } from 'csv-stringify/sync';
import { FOCUS_COLUMNS, focusRow, type FocusRow } from '../export/focus';
import type { UsageQuery } from '../domain/types';
import type { DimensionService } from './dimensions';
import type { UsageLogReader } from './usageReader';
import type { Principal } from '../domain/principal';
import { resolveUsageQuery, type UsageFilterInput } from './scope';

/**
 * csv-stringify's formula escaping: a cell that starts with =, +, -, @, tab or carriage return
 * gets a leading apostrophe, so a spreadsheet shows it as text (models, aliases and origins are
 * whatever clients logged). Costs and quantities never start with one of them.
 */
const CSV_OPTIONS = { columns: [...FOCUS_COLUMNS], escape_formulas: true };

export const FOCUS_FORMATS = ['csv', 'parquet'] as const;
export type FocusFormat = (typeof FOCUS_FORMATS)[number];

export class ExportService {
  constructor(private readonly deps: { reader: UsageLogReader; dimensions: DimensionService }) {}

  /** How many logs an export of `q` holds (for progress). */
  count(q: UsageQuery): Promise<number> {
    return this.deps.reader.count(q);
  }

  /**
   * A FOCUS CSV file of the caller's usage in `filter` (scope and range as usageStats's), as
   * text chunks: the header, then one chunk per batch. Bad input throws here, before the
   * first chunk.
   */
  focusCsv(principal: Principal, filter: UsageFilterInput): AsyncGenerator<string> {
    const q = resolveUsageQuery(principal, filter);
    this.deps.dimensions.checkFilter(q);
    const batches = this.focusBatches(q);
    return (async function* () {
      yield focusCsvHeader();
      for await (const rows of batches) yield focusCsvLines(rows);
    })();
  }

  /**
   * A FOCUS Parquet file of the caller's usage in `filter`, written to `file` (a Parquet file's
   * footer comes last, so it is written whole before it is sent). Returns the row count.
   */
  async focusParquet(principal: Principal, filter: UsageFilterInput, file: string): Promise<number> {
    const q = resolveUsageQuery(principal, filter);
    this.deps.dimensions.checkFilter(q);
    // Lazily: the Parquet writer is loaded only by the exports that use it.
    const { writeFocusParquet } = await import('../export/focusParquet');
    return writeFocusParquet(file, this.focusBatches(q));
  }

  /** The FOCUS rows of `q`, batch by batch: project by project, oldest call first. */
  async *focusBatches(q: UsageQuery, batchSize = 5000): AsyncGenerator<FocusRow[]> {
    for await (const batch of this.deps.reader.batches(q, batchSize)) {
      yield batch.map((log) => focusRow(log, this.deps.dimensions.valuesOf(log.metadata)));
    }
  }
}

/** The CSV header line. */
export function focusCsvHeader(): string {
  return stringify([], { ...CSV_OPTIONS, header: true });
}

/** CSV lines of rows (nulls as empty cells); `map` may rewrite cells first (the CLI's terminal escaping). */
export function focusCsvLines(rows: FocusRow[], map?: (row: FocusRow) => Record<string, unknown>): string {
  return stringify(map ? rows.map(map) : rows, CSV_OPTIONS);
}
