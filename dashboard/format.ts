/** How numbers, money and instants are shown. No DOM: the tests format expected values with it. */
import type { Bucket } from './time';

const cache = new Map<string, Intl.NumberFormat>();
function numberFormat(locale: string | undefined, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${locale ?? ''}|${JSON.stringify(options)}`;
  let f = cache.get(key);
  if (!f) {
    f = new Intl.NumberFormat(locale, options);
    cache.set(key, f);
  }
  return f;
}

/**
 * US dollars with as many decimals as small LLM costs need: cents from $1, four decimals below
 * $1, six below a cent, so that $0.000150 does not read as $0.00. Fixed per magnitude, so that
 * the digits of a column line up.
 */
export function formatUsd(value: number, locale?: string): string {
  const abs = Math.abs(value);
  const digits = abs === 0 || abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  return numberFormat(locale, {
    style: 'currency',
    currency: 'USD',
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(value);
}

/** Short money for chart axes, without trailing zeros: $1.2K, $0.35, $0.0012. */
export function formatUsdAxis(value: number, locale?: string): string {
  const abs = Math.abs(value);
  if (abs >= 1000) {
    return numberFormat(locale, {
      style: 'currency',
      currency: 'USD',
      notation: 'compact',
      maximumFractionDigits: 1,
    }).format(value);
  }
  const digits = abs === 0 || abs >= 1 ? 2 : abs >= 0.01 ? 4 : 6;
  return numberFormat(locale, {
    style: 'currency',
    currency: 'USD',
    minimumFractionDigits: 2,
    maximumFractionDigits: digits,
  }).format(value);
}

export function formatInt(value: number, locale?: string): string {
  return numberFormat(locale, { maximumFractionDigits: 0 }).format(value);
}

/** 12.5% style share of a total; '–' when the total is zero. */
export function formatShare(part: number, total: number, locale?: string): string {
  if (!(total > 0)) return '–';
  return numberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(part / total);
}

const dateFormats = new Map<string, Intl.DateTimeFormat>();
function dateFormat(locale: string | undefined, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `${locale ?? ''}|${JSON.stringify(options)}`;
  let f = dateFormats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(locale, options);
    dateFormats.set(key, f);
  }
  return f;
}

/** A bucket start (ISO instant) as its label in the zone: `Mar 3, 14:00`, `Mar 3, 2026`, `Mar 2026`. */
export function formatBucket(iso: string, bucket: Bucket, timeZone: string, locale?: string): string {
  const options: Intl.DateTimeFormatOptions =
    bucket === 'HOUR'
      ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
      : bucket === 'MONTH'
        ? { month: 'long', year: 'numeric' }
        : {
            weekday: bucket === 'WEEK' ? undefined : 'short',
            month: 'short',
            day: 'numeric',
            year: 'numeric',
          };
  const text = dateFormat(locale, { ...options, timeZone }).format(new Date(iso));
  return bucket === 'WEEK' ? `Week of ${text}` : text;
}

/** A log's time in the zone, to the second. */
export function formatDateTime(iso: string, timeZone: string, locale?: string): string {
  return dateFormat(locale, {
    timeZone,
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(iso));
}

/** A calendar date `YYYY-MM-DD` as `Mar 3, 2026`. */
export function formatDay(date: string, locale?: string): string {
  return dateFormat(locale, { timeZone: 'UTC', month: 'short', day: 'numeric', year: 'numeric' }).format(
    new Date(`${date}T00:00:00Z`),
  );
}

/** Labels for values that the API returns as null. */
export const NO_ALIAS = '(no alias)';
export const NO_ORIGIN = '(no origin)';
