/**
 * Exports in standard formats: FinOps FOCUS 1.2 (src/export/focus.ts), as CSV or Parquet, for
 * the CLI (`export --format focus`), the HTTP route (GET /v1/exports/focus) and the scheduled
 * exports, which all stream through the methods here. Logs are read a page at a time
 * (UsageLogReader.logs), and turned into FOCUS rows and text a chunk of EXPORT_CHUNK_ROWS at a
 * time, each chunk written before the next rows are read: an export of millions of logs holds
 * one page of rows and one chunk of text (in Parquet, one row group) whatever its size.
 */
import { stringify } from 'csv-stringify/sync';
import { inChunks } from '../export/chunks';
import { FOCUS_COLUMNS, focusRow, type FocusRow } from '../export/focus';
import { EXPORT_CHUNK_ROWS } from '../domain/limits';
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

export interface FocusStreamOptions {
  /** Rows read per statement (default EXPORT_PAGE_ROWS). */
  pageSize?: number;
  /** Sees every row as it is written (row counts, sums of cost). */
  onRow?: (row: FocusRow) => void;
}

export interface FocusCsvOptions extends FocusStreamOptions {
  /** Rewrites each row's cells first (the CLI's terminal escaping on stdout). */
  map?: (row: FocusRow) => Record<string, unknown>;
}

export class ExportService {
  constructor(private readonly deps: { reader: UsageLogReader; dimensions: DimensionService }) {}

  /** How many logs an export of `q` holds (for progress). */
  count(q: UsageQuery): Promise<number> {
    return this.deps.reader.count(q);
  }

  /**
   * A FOCUS CSV file of the caller's usage in `filter` (scope and range as usageStats's), as
   * text chunks: the header, then one chunk per EXPORT_CHUNK_ROWS rows. Bad input throws here,
   * before the first chunk.
   */
  focusCsv(principal: Principal, filter: UsageFilterInput): AsyncGenerator<string> {
    const q = resolveUsageQuery(principal, filter);
    this.deps.dimensions.checkFilter(q);
    return this.focusCsvChunks(q);
  }

  /**
   * A FOCUS Parquet file of the caller's usage in `filter`, written to `file` (a Parquet file's
   * footer comes last, so it is written whole before it is sent). Returns the row count.
   */
  async focusParquet(principal: Principal, filter: UsageFilterInput, file: string): Promise<number> {
    const q = resolveUsageQuery(principal, filter);
    this.deps.dimensions.checkFilter(q);
    return this.writeFocusParquet(q, file);
  }

  /** The FOCUS CSV text of `q`: the header line, then the rows, EXPORT_CHUNK_ROWS a chunk. */
  async *focusCsvChunks(q: UsageQuery, opts: FocusCsvOptions = {}): AsyncGenerator<string> {
    yield focusCsvHeader();
    for await (const rows of inChunks(this.focusRows(q, opts), EXPORT_CHUNK_ROWS)) {
      if (opts.onRow) for (const row of rows) opts.onRow(row);
      yield focusCsvLines(rows, opts.map);
    }
  }

  /** Writes the FOCUS Parquet file of `q` to `file` (created or replaced); returns the row count. */
  async writeFocusParquet(q: UsageQuery, file: string, opts: FocusStreamOptions = {}): Promise<number> {
    // Lazily: the Parquet writer is loaded only by the exports that use it.
    const { writeFocusParquet } = await import('../export/focusParquet');
    return writeFocusParquet(file, this.focusRows(q, opts), opts.onRow);
  }

  /** The FOCUS rows of `q`, one at a time: project by project, oldest call first. */
  async *focusRows(q: UsageQuery, opts: { pageSize?: number } = {}): AsyncGenerator<FocusRow> {
    for await (const log of this.deps.reader.logs(q, { pageSize: opts.pageSize })) {
      yield focusRow(log, this.deps.dimensions.valuesOf(log.metadata));
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
