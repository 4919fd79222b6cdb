/**
 * Driver differences, normalised in one place: `pg` returns bigint counts and sums as
 * strings, PGlite as numbers; numeric is a string on both; timestamptz is a Date on both
 * but may arrive as a string from raw JSON aggregation.
 */
import Decimal from 'decimal.js';

/** A count or integer sum (bigint or int) as a JS number; null/undefined become 0. */
export function toInt(value: unknown): number {
  if (value === null || value === undefined) return 0;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`integer out of range: ${String(value)}`);
  return n;
}

/** An integer that may be absent (e.g. latency_ms). */
export function toIntOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toInt(value);
}

/** A numeric (money) value as a float for the API; null/undefined become 0. */
export function toMoney(value: unknown): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value);
}

/** A numeric value as an exact decimal string with `scale` fractional digits. */
export function toDecimalString(value: unknown, scale = 8): string {
  if (value === null || value === undefined) return new Decimal(0).toFixed(scale);
  // Already in that form (numeric columns of that scale, and prices quoted at ingest).
  if (typeof value === 'string' && canonicalDecimal(scale).test(value)) return value;
  return new Decimal(String(value)).toFixed(scale);
}

const canonicalPatterns = new Map<number, RegExp>();
function canonicalDecimal(scale: number): RegExp {
  let pattern = canonicalPatterns.get(scale);
  if (!pattern) {
    pattern = scale > 0 ? new RegExp(`^(0|[1-9][0-9]*)\\.[0-9]{${scale}}$`) : /^(0|[1-9][0-9]*)$/;
    canonicalPatterns.set(scale, pattern);
  }
  return pattern;
}

/** A numeric value as an exact decimal string, or null. */
export function toDecimalStringOrNull(value: unknown, scale = 8): string | null {
  return value === null || value === undefined ? null : toDecimalString(value, scale);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a string is a UUID, so that an id from a caller that is not GraphQL (the CLI, REST
 * paths) can be treated as naming nothing instead of failing in SQL: Postgres rejects a
 * non-UUID compared with a uuid column ('invalid input syntax for type uuid').
 */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  if (typeof value === 'string' || typeof value === 'number') {
    const d = new Date(value);
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new Error(`not a timestamp: ${String(value)}`);
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}
