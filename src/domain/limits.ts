/**
 * Numbers and formats shared by every surface (GraphQL, REST, CLI) and the services, written
 * once: a limit written in four files drifts.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a string is a UUID, so that an id from a caller that is not GraphQL (the CLI, REST
 * paths, cursors) can be treated as naming nothing instead of failing in SQL: Postgres
 * rejects a non-UUID compared with a uuid column ('invalid input syntax for type uuid').
 */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** Most items of one page of logs or receipts (GraphQL `first`, REST `limit`). */
export const MAX_PAGE_SIZE = 500;

/**
 * Rows an export (CLI, HTTP, scheduled) reads per statement, and the most an operator may ask
 * for (`export --batch-size`): a page stays in memory until its rows are written, under a
 * megabyte for 500 (docs/exports.md, Memory).
 */
export const EXPORT_PAGE_ROWS = 500;
export const MAX_EXPORT_PAGE_ROWS = 10_000;

/** Rows an export turns into text and hands to its output at a time (about 70 KB of CSV). */
export const EXPORT_CHUNK_ROWS = 100;

/** A range without a start covers this much before its end (the last 30 days). */
export const DEFAULT_RANGE_MS = 30 * 24 * 3600 * 1000;

/** The longest range statistics are computed over, in calendar years. */
export const MAX_STATS_RANGE_YEARS = 10;

/** Dates a filter may name: the years Postgres and JavaScript both hold without surprises. */
export const EARLIEST_FILTER_DATE = new Date('0001-01-01T00:00:00.000Z');
export const LATEST_FILTER_DATE = new Date('9999-12-31T23:59:59.999Z');
