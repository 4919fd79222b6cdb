/**
 * FOCUS rows as an Apache Parquet file, with hyparquet-writer (pure JavaScript, no native
 * build), whose ParquetWriter writes each row group to the file as it is given: rows are
 * gathered column by column into row groups of ROW_GROUP_ROWS, each written and dropped before
 * the next is read, so memory holds one row group whatever the file's size. Costs and
 * quantities are DOUBLE, the FOCUS date/time columns TIMESTAMP (UTC, milliseconds), token counts
 * INT64, everything else UTF-8 strings; all nullable. (The CSV keeps costs as exact 8-digit
 * decimals; a double holds them to about 15 digits.)
 */
import * as hyparquetWriter from 'hyparquet-writer';
import { ParquetWriter, schemaFromColumnData, type BasicType, type Writer } from 'hyparquet-writer';
import {
  FOCUS_COLUMNS,
  FOCUS_DECIMAL_COLUMNS,
  FOCUS_INTEGER_COLUMNS,
  FOCUS_VERSION,
  type FocusColumn,
  type FocusRow,
} from './focus';

const TIMESTAMP_COLUMNS: ReadonlySet<FocusColumn> = new Set([
  'BillingPeriodStart',
  'BillingPeriodEnd',
  'ChargePeriodStart',
  'ChargePeriodEnd',
  'x_OccurredAt',
]);

/**
 * The package's Node entry (what `require` loads on Node) adds fileWriter, a writer that appends
 * to a file every megabyte; TypeScript's node10 resolution sees only the browser entry's types.
 */
const { fileWriter } = hyparquetWriter as typeof hyparquetWriter & { fileWriter(filename: string): Writer };

function typeOf(column: FocusColumn): BasicType {
  if (FOCUS_DECIMAL_COLUMNS.has(column)) return 'DOUBLE';
  if (FOCUS_INTEGER_COLUMNS.has(column)) return 'INT64';
  if (TIMESTAMP_COLUMNS.has(column)) return 'TIMESTAMP';
  return 'STRING';
}

const TYPES: readonly BasicType[] = FOCUS_COLUMNS.map(typeOf);

/**
 * Numbers that focusRow always fills (costs, quantities, token counts, the period bounds and
 * the call's time): held in typed arrays, eight bytes a value instead of a number, BigInt or
 * Date object each. The file is the same: the writer turns every value into the same int64 or
 * double first. Timestamps go in as epoch milliseconds.
 */
const NEVER_NULL: ReadonlySet<FocusColumn> = new Set([
  ...FOCUS_DECIMAL_COLUMNS,
  ...[...FOCUS_INTEGER_COLUMNS].filter((c) => c !== 'x_LatencyMs'),
  ...TIMESTAMP_COLUMNS,
]);

/** Strings that differ from row to row, not worth looking up (see writeFocusParquet). */
const DISTINCT_STRINGS: ReadonlySet<FocusColumn> = new Set(['x_UsageLogId', 'ChargeDescription']);
const SHARED = FOCUS_COLUMNS.map((c, i) => TYPES[i] === 'STRING' && !DISTINCT_STRINGS.has(c));

type ColumnValues = unknown[] | Float64Array | BigInt64Array;

function newColumn(i: number, rows: number): ColumnValues {
  if (!NEVER_NULL.has(FOCUS_COLUMNS[i])) return new Array<unknown>(rows);
  return TYPES[i] === 'INT64' ? new BigInt64Array(rows) : new Float64Array(rows);
}

/**
 * Rows per row group, as the files had when a row group was a 5000-row batch. The group being
 * filled is held as JavaScript values (about 200 bytes a row beyond the typed arrays), and the
 * writer keeps every finished group's metadata for the footer (about 45 KB: 46 column chunks),
 * 9 MB for a million rows. Groups of 2500 or 10,000 rows did not lower the peak RSS, and
 * readers prefer fewer, larger groups.
 */
export const ROW_GROUP_ROWS = 5000;

/**
 * Writes `rows` to `filename` (created or replaced) in row groups of `rowGroupRows`; returns
 * the row count. The next row is read only once the previous row group is on its way to disk.
 */
export async function writeFocusParquet(
  filename: string,
  rows: AsyncIterable<FocusRow>,
  onRow?: (row: FocusRow) => void,
  rowGroupRows = ROW_GROUP_ROWS,
): Promise<number> {
  const schema = schemaFromColumnData({
    columnData: FOCUS_COLUMNS.map((name) => ({ name, data: [], type: typeOf(name), nullable: true })),
  });
  const writer = new ParquetWriter({
    writer: fileWriter(filename),
    schema,
    kvMetadata: [{ key: 'focus_version', value: FOCUS_VERSION }],
    createdBy: 'llmring-server (hyparquet-writer)',
  });
  // One array per column, filled row by row and reused for every row group. Strings are
  // shared within a row group: most columns hold a few distinct values (provider, model,
  // tags...) that the database, or focusRow, hands over as a new string on every row.
  const columns = FOCUS_COLUMNS.map((_, i) => newColumn(i, rowGroupRows));
  const strings = new Map<string, string>();
  let inGroup = 0;
  let total = 0;
  const flush = async () => {
    await writer.write({
      columnData: FOCUS_COLUMNS.map((name, i) => ({
        name,
        data: inGroup < rowGroupRows ? columns[i].slice(0, inGroup) : columns[i],
        type: TYPES[i],
        nullable: true,
      })),
      rowGroupSize: inGroup,
    });
    strings.clear();
    inGroup = 0;
  };
  for await (const row of rows) {
    for (let i = 0; i < FOCUS_COLUMNS.length; i++) {
      const column = FOCUS_COLUMNS[i];
      const value = row[column];
      const data = columns[i];
      if (data instanceof Float64Array) {
        if (value === null) throw new Error(`FOCUS column ${column} is null`);
        data[inGroup] = TYPES[i] === 'TIMESTAMP' ? Date.parse(String(value)) : Number(value);
      } else if (data instanceof BigInt64Array) {
        if (value === null) throw new Error(`FOCUS column ${column} is null`);
        data[inGroup] = BigInt(value);
      } else if (value === null) {
        data[inGroup] = null;
      } else if (TYPES[i] === 'INT64') {
        data[inGroup] = BigInt(value);
      } else if (!SHARED[i]) {
        data[inGroup] = String(value);
      } else {
        const text = String(value);
        let shared = strings.get(text);
        if (shared === undefined) strings.set(text, (shared = text));
        data[inGroup] = shared;
      }
    }
    onRow?.(row);
    inGroup++;
    total++;
    if (inGroup === rowGroupRows) await flush();
  }
  if (inGroup > 0) await flush();
  await writer.finish();
  return total;
}
