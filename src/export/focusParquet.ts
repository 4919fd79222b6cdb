/**
 * FOCUS rows as an Apache Parquet file, with hyparquet-writer (pure JavaScript, no native
 * build): one row group per batch of logs, written to the file as it goes, so memory holds one
 * batch whatever the file's size. Costs and quantities are DOUBLE, the FOCUS date/time columns
 * TIMESTAMP (UTC, milliseconds), token counts INT64, everything else UTF-8 strings; all nullable.
 * (The CSV keeps costs as exact 8-digit decimals; a double holds them to about 15 digits.)
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

/** Writes the rows of `batches` to `filename` (created or replaced); returns the row count. */
export async function writeFocusParquet(
  filename: string,
  batches: AsyncIterable<FocusRow[]>,
  onBatch?: (rows: FocusRow[]) => void,
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
  let rows = 0;
  for await (const batch of batches) {
    if (batch.length === 0) continue;
    await writer.write({
      columnData: FOCUS_COLUMNS.map((name) => ({
        name,
        data: batch.map((row) => cell(name, row[name])),
        type: typeOf(name),
        nullable: true,
      })),
      rowGroupSize: batch.length,
    });
    rows += batch.length;
    onBatch?.(batch);
  }
  await writer.finish();
  return rows;
}
