/**
 * Plain-text output for people: aligned tables, grouped numbers, rounded money; and the one
 * function that keeps what clients logged from driving the operator's terminal (printable).
 */
import Decimal from 'decimal.js';

/**
 * Characters a terminal acts on instead of showing: the C0 controls (ESC opens the sequences
 * that clear the screen or set the window title, BEL ends some, CR and LF forge lines), DEL,
 * the C1 controls (U+009B alone is a CSI), the bidirectional marks, embeddings, overrides and
 * isolates (they reorder what follows them, as in "Trojan Source"), and the line and paragraph
 * separators.
 */
/* eslint-disable no-control-regex -- matching control characters is the point */
const ACTIVE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;
const ACTIVE_BUT_LINE_FEEDS =
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;
/* eslint-enable no-control-regex */

const escaped = (ch: string) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * `text` with each character a terminal would act on written as a \uXXXX escape, so that it is
 * shown, never obeyed: every CLI output that can hold logged values goes through here. The
 * escape is JSON's, so JSON text that JSON.stringify wrote (it writes no raw control character
 * but the line feeds of indentation) keeps every value. `keepLineFeeds` is for text whose lines
 * are its own (messages, indented JSON); a table or CSV cell keeps none. A backslash is left as
 * it is: an escape in the output may also be one the client logged.
 */
export function printable(text: string, opts: { keepLineFeeds?: boolean } = {}): string {
  return text.replace(opts.keepLineFeeds ? ACTIVE_BUT_LINE_FEEDS : ACTIVE, escaped);
}

/** A record's strings made printable: CSV bound for stdout, which may be a terminal. */
export function printableCells<T extends Record<string, unknown>>(record: T): T {
  const cells = Object.entries(record).map(([k, v]) => [k, typeof v === 'string' ? printable(v) : v]);
  return Object.fromEntries(cells) as T;
}

/** One line of JSON Lines: values as they are, nothing a terminal acts on. */
export function jsonLine(value: unknown): string {
  return printable(JSON.stringify(value));
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Numbers align right. */
  align?: 'left' | 'right';
}

/** Columns padded to their widest cell; no borders, so it pastes well anywhere. */
export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => printable(c.value(row))));
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
  return printable(JSON.stringify(value, null, 2), { keepLineFeeds: true });
}
