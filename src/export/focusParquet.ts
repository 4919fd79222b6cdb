/**
 * FOCUS rows as an Apache Parquet file, with hyparquet-writer (pure JavaScript, no native
 * build), whose ParquetWriter writes each row group to the file as it is given: rows are
 * gathered column by column into row groups of ROW_GROUP_ROWS, each written and dropped before
 * the next rows are read, so memory holds one row group whatever the file's size. Costs and
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

function cell(column: FocusColumn, value: string | number | null): unknown {
  if (value === null) return null;
  switch (typeOf(column)) {
    case 'DOUBLE':
      return Number(value);
    case 'INT64':
      return BigInt(value);
    case 'TIMESTAMP':
      return new Date(value);
    default:
      return String(value);
  }
}

/**
 * Rows per row group, as the files had when a row group was a 5000-row batch of the export's
 * reads. Now that the reads come a page at a time, a row group no longer follows them.
 */
export const ROW_GROUP_ROWS = 5000;

/**
 * Writes `rows` to `filename` (created or replaced) in row groups of `rowGroupRows`; returns
 * the row count. The next row is read only once the previous row group has been written.
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
  let columns: unknown[][] = FOCUS_COLUMNS.map(() => []);
  let inGroup = 0;
  let total = 0;
  const flush = async () => {
    await writer.write({
      columnData: FOCUS_COLUMNS.map((name, i) => ({
        name,
        data: columns[i],
        type: typeOf(name),
        nullable: true,
      })),
      rowGroupSize: inGroup,
    });
    columns = FOCUS_COLUMNS.map(() => []);
    inGroup = 0;
  };
  for await (const row of rows) {
    for (let i = 0; i < FOCUS_COLUMNS.length; i++) {
      const name = FOCUS_COLUMNS[i];
      columns[i].push(cell(name, row[name]));
    }
    onRow?.(row);
    inGroup++;
    total++;
    if (inGroup >= rowGroupRows) await flush();
  }
  if (inGroup > 0) await flush();
  await writer.finish();
  return total;
}
