/** Plain-text output for people: aligned tables, grouped numbers, rounded money. */
import Decimal from 'decimal.js';

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Numbers align right. */
  align?: 'left' | 'right';
}

/** Columns padded to their widest cell; no borders, so it pastes well anywhere. */
export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i].align === 'right' ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

export function int(n: number): string {
  return n.toLocaleString('en-US');
}

/** '1 usage log', '2,000 usage logs'. */
export function count(n: number, noun: string): string {
  return `${int(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** A decimal-string amount in USD, rounded to 4 places for reading (--json keeps it exact). */
export function usd(amount: string): string {
  return `$${new Decimal(amount).toFixed(4)}`;
}

export function when(date: Date | null): string {
  return date ? date.toISOString().replace('T', ' ').slice(0, 19) : '-';
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
