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

/** A range without a start covers this much before its end (the last 30 days). */
export const DEFAULT_RANGE_MS = 30 * 24 * 3600 * 1000;

/** The longest range statistics are computed over, in calendar years. */
export const MAX_STATS_RANGE_YEARS = 10;

/** Dates a filter may name: the years Postgres and JavaScript both hold without surprises. */
export const EARLIEST_FILTER_DATE = new Date('0001-01-01T00:00:00.000Z');
export const LATEST_FILTER_DATE = new Date('9999-12-31T23:59:59.999Z');
