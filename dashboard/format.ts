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

// ---------------------------------------------------------------------------------------------
// Exact money: the API's Decimal strings (costDecimal, prices, bill lines), never through a float.

const DECIMAL = /^([+-])?(\d+)(?:\.(\d+))?$/;

interface Decimal {
  negative: boolean;
  /** The value times 10^scale, without its sign. */
  units: bigint;
  scale: number;
}

function parseDecimal(value: string): Decimal {
  const m = DECIMAL.exec(value);
  if (!m) throw new RangeError(`not a decimal: ${JSON.stringify(value)}`);
  const fraction = m[3] ?? '';
  const units = BigInt(m[2] + fraction);
  return { negative: m[1] === '-' && units !== 0n, units, scale: fraction.length };
}

const pow10 = (n: number): bigint => 10n ** BigInt(n);

function decimalString(negative: boolean, units: bigint, scale: number): string {
  const digits = units.toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale > 0 ? `.${digits.slice(-scale)}` : '';
  return `${negative && units !== 0n ? '-' : ''}${whole}${fraction}`;
}

/** The exact sum of decimal strings, with as many fractional digits as the longest of them. */
export function addDecimals(values: readonly string[]): string {
  const parsed = values.map(parseDecimal);
  const scale = Math.max(0, ...parsed.map((d) => d.scale));
  let sum = 0n;
  for (const d of parsed) {
    const units = d.units * pow10(scale - d.scale);
    sum += d.negative ? -units : units;
  }
  return decimalString(sum < 0n, sum < 0n ? -sum : sum, scale);
}

/** Rounded half away from zero (as Intl rounds) to `digits` fractional digits, exactly. */
function roundDecimal(d: Decimal, digits: number): string {
  if (d.scale <= digits) return decimalString(d.negative, d.units * pow10(digits - d.scale), digits);
  const divisor = pow10(d.scale - digits);
  let units = d.units / divisor;
  if ((d.units % divisor) * 2n >= divisor) units += 1n;
  return decimalString(d.negative, units, digits);
}

/** formatUsd's digits for a magnitude: cents from $1, four decimals below $1, six below a cent. */
function usdDigits(d: Decimal): number {
  const one = pow10(d.scale);
  if (d.units === 0n || d.units >= one) return 2;
  return d.units * 100n >= one ? 4 : 6;
}

/**
 * A Decimal string in US dollars, with formatUsd's digits, rounded exactly: `"1.00500000"` is
 * $1.01 and a sum past a float's precision keeps its cents. The rounding is done here, so Intl
 * gets at most 15 significant digits and prints them exactly even where it would read the string
 * as a float. `signed` writes + before a positive amount (a difference).
 */
export function formatUsdDecimal(value: string, locale?: string, signed = false): string {
  const d = parseDecimal(value);
  const digits = usdDigits(d);
  return numberFormat(locale, {
    style: 'currency',
    currency: 'USD',
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    signDisplay: signed ? 'exceptZero' : 'auto',
  }).format(roundDecimal(d, digits) as Intl.StringNumericLiteral);
}

/**
 * Every digit of a Decimal string in US dollars, at least cents: a bill line's price or amount.
 * `signed` writes + before a positive amount.
 */
export function formatUsdExact(value: string, locale?: string, signed = false): string {
  const d = parseDecimal(value);
  const plain = decimalString(d.negative, d.units, d.scale).replace(/(\.\d*?[1-9])0+$|\.0+$/, '$1');
  const fraction = plain.split('.')[1]?.length ?? 0;
  return numberFormat(locale, {
    style: 'currency',
    currency: 'USD',
    minimumFractionDigits: Math.min(Math.max(fraction, 2), 20),
    maximumFractionDigits: Math.min(Math.max(fraction, 2), 20),
    signDisplay: signed ? 'exceptZero' : 'auto',
  }).format(plain as Intl.StringNumericLiteral);
}

/** A Decimal string as a number, for charts, bars, shares and sorting (never for display). */
export const decimalNumber = (value: string): number => Number(value);

// ---------------------------------------------------------------------------------------------
// Token parts and cost sources

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  cacheWrite1hTokens: number;
  reasoningTokens: number;
}

export type TokenPart = 'cachedInputTokens' | 'cacheWriteTokens' | 'cacheWrite1hTokens' | 'reasoningTokens';

/** The parts of inputTokens, and of outputTokens, with the words that name them on the page. */
export const INPUT_PARTS: ReadonlyArray<readonly [TokenPart, string]> = [
  ['cachedInputTokens', 'cached'],
  ['cacheWriteTokens', 'cache write 5m'],
  ['cacheWrite1hTokens', 'cache write 1h'],
];
export const OUTPUT_PARTS: ReadonlyArray<readonly [TokenPart, string]> = [['reasoningTokens', 'reasoning']];

/** A bill line's token type (ChargeLine.type) in words. */
export const TOKEN_TYPE_LABELS: Record<string, string> = {
  INPUT: 'Input',
  CACHED_INPUT: 'Cached input (cache read)',
  CACHE_WRITE_5M: 'Cache write, 5 minutes',
  CACHE_WRITE_1H: 'Cache write, 1 hour',
  OUTPUT: 'Output',
  REASONING: 'Reasoning',
};

/** Where a cost came from (CostSource), in words. */
export const COST_SOURCE_LABELS: Record<string, string> = {
  CLIENT: 'client',
  REGISTRY: 'registry',
  PRICE_BOOK: 'price book',
  UNPRICED: 'unpriced',
};

/** An instant's time of day in the zone (`12:03:05`), with its date when it is not today there. */
export function formatAsOf(iso: string, timeZone: string, now = Date.now(), locale?: string): string {
  const sameDay = (ms: number) =>
    dateFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ms);
  const t = Date.parse(iso);
  if (sameDay(t) !== sameDay(now)) return formatDateTime(iso, timeZone, locale);
  return dateFormat(locale, {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(t);
}

export const NO_VALUE = '(no value)';
