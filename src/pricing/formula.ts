/**
 * What a call costs, from a model's prices per million tokens, in exact decimal arithmetic.
 *
 * The server's token convention (as OpenAI reports): inputTokens counts every prompt token,
 * cache reads and writes included; outputTokens every generated token, reasoning included.
 * So, per type:
 * - uncached input = input − cached − cache writes (5 min) − cache writes (1 h), at the input price;
 * - cached input at the cache-read price (cache_read, else cached_input, else the input price);
 * - cache writes at cache_write_5m / cache_write_1h (else the input price);
 * - output other than reasoning at the output price; reasoning at output_thinking where listed,
 *   else the output price;
 * - when inputTokens exceeds long_context_threshold_tokens and long-context prices are listed,
 *   the input and output prices (and the fallbacks to them) are the long-context ones for the
 *   whole call, as Anthropic and Google bill.
 * The cost is the sum of the lines, rounded half-up to 8 fractional digits at the end only.
 *
 * Prices are kept to 10 fractional digits, as they are stored (numeric(20,10)): a registry
 * price with more is rounded half-up once, when its schedule is built, so that the price a
 * log records is the price it was charged. Then every amount is exact in 16 fractional
 * digits (10 of the price, 6 of the division by a million), and the arithmetic is integer
 * arithmetic on BigInt: exact, and cheap enough for the ingest path (decimal.js objects cost
 * a few microseconds a call there).
 */
import Decimal from 'decimal.js';

export const Dec = Decimal.clone({
  precision: 60,
  rounding: Decimal.ROUND_HALF_UP,
  toExpNeg: -100,
  toExpPos: 100,
});
export type Dec = InstanceType<typeof Dec>;

/** A model's prices in USD per million tokens, as decimal strings; absent: not listed. */
export interface ModelPrices {
  input: string;
  output: string;
  /** The cache-read price (the registry's cache_read, else cached_input). */
  cachedInput?: string;
  cacheWrite5m?: string;
  cacheWrite1h?: string;
  /** The registry's output_thinking. */
  reasoning?: string;
  inputLongContext?: string;
  outputLongContext?: string;
  longContextThresholdTokens?: number;
}

/** The token counts of a call: totals and their parts. */
export interface TokenCounts {
  input: number;
  output: number;
  cachedInput: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
  reasoning: number;
}

/** The token types a call is charged for, in the order lines are listed. */
export const LINE_TYPES = [
  'input',
  'cachedInput',
  'cacheWrite5m',
  'cacheWrite1h',
  'output',
  'reasoning',
] as const;
export type LineType = (typeof LINE_TYPES)[number];

/** The price per million applied to each token type of one call, and whether long-context prices applied. */
export interface AppliedPrices {
  perMillion: Record<LineType, string>;
  longContext: boolean;
}

/** One line of a bill: a token type, its tokens (uncached input, non-reasoning output), price and amount. */
export interface ChargeLine {
  type: LineType;
  tokens: number;
  perMillion: string;
  /** tokens × perMillion / 1,000,000, exactly (not rounded). */
  amount: string;
}

export const COST_SCALE = 8;
/** Fractional digits of a price per million tokens. */
export const PRICE_SCALE = 10;
/** Fractional digits of an amount: a price's, and six for the division by a million. */
const AMOUNT_SCALE = PRICE_SCALE + 6;
const COST_DIVISOR = 10n ** BigInt(AMOUNT_SCALE - COST_SCALE);
const COST_HALF = COST_DIVISOR / 2n;
const PRICE_TEXT = new RegExp(`^(0|[1-9][0-9]*)(?:\\.([0-9]{1,${PRICE_SCALE}}))?$`);

/** A price as an integer count of 10^-PRICE_SCALE dollars per million tokens. */
function priceUnits(price: string): bigint {
  const m = PRICE_TEXT.exec(price);
  if (m) return BigInt(m[1] + (m[2] ?? '').padEnd(PRICE_SCALE, '0'));
  return BigInt(new Dec(price).times(new Dec(10).pow(PRICE_SCALE)).toFixed(0));
}

/** n × 10^-scale as the shortest exact decimal string ('0.36', '3', '0'). */
function shortDecimal(n: bigint, scale: number): string {
  const digits = n.toString().padStart(scale + 1, '0');
  const fraction = digits.slice(-scale).replace(/0+$/, '');
  const whole = digits.slice(0, -scale);
  return fraction ? `${whole}.${fraction}` : whole;
}

/** A price as a decimal string with at most PRICE_SCALE fractional digits, rounded half-up, shortest form. */
export function normalizePrice(price: string): string {
  return SHORT_PRICE.test(price) ? price : shortDecimal(priceUnits(price), PRICE_SCALE);
}
const SHORT_PRICE = new RegExp(`^(0|[1-9][0-9]*)(?:\\.[0-9]{0,${PRICE_SCALE - 1}}[1-9])?$`);

/** Prices of one model, parsed once: the short- and long-context price sets. */
export class PriceSchedule {
  private readonly normal: { units: Record<LineType, bigint>; applied: AppliedPrices };
  private readonly long: { units: Record<LineType, bigint>; applied: AppliedPrices } | null;
  private readonly threshold: number | null;

  constructor(readonly prices: ModelPrices) {
    this.normal = PriceSchedule.set(prices, prices.input, prices.output, false);
    const hasLong =
      prices.longContextThresholdTokens !== undefined &&
      (prices.inputLongContext !== undefined || prices.outputLongContext !== undefined);
    this.long = hasLong
      ? PriceSchedule.set(
          prices,
          prices.inputLongContext ?? prices.input,
          prices.outputLongContext ?? prices.output,
          true,
        )
      : null;
    this.threshold = hasLong ? prices.longContextThresholdTokens! : null;
  }

  private static set(p: ModelPrices, input: string, output: string, longContext: boolean) {
    const perMillion: Record<LineType, string> = {
      input,
      cachedInput: p.cachedInput ?? input,
      cacheWrite5m: p.cacheWrite5m ?? input,
      cacheWrite1h: p.cacheWrite1h ?? input,
      output,
      reasoning: p.reasoning ?? output,
    };
    for (const t of LINE_TYPES) perMillion[t] = normalizePrice(perMillion[t]);
    const units = Object.fromEntries(LINE_TYPES.map((t) => [t, priceUnits(perMillion[t])])) as Record<
      LineType,
      bigint
    >;
    return { units, applied: { perMillion, longContext } };
  }

  private forCall(tokens: TokenCounts) {
    return this.long && tokens.input > this.threshold! ? this.long : this.normal;
  }

  /** The prices this call is charged at. */
  applied(tokens: TokenCounts): AppliedPrices {
    return this.forCall(tokens).applied;
  }

  /** The cost in USD with 8 fractional digits. Callers check that parts do not exceed totals. */
  cost(tokens: TokenCounts): string {
    const { units } = this.forCall(tokens);
    let sum = 0n;
    for (const [type, n] of lineTokens(tokens)) if (n > 0) sum += units[type] * BigInt(n);
    return roundedCost(sum);
  }
}

/** The tokens of each line: the parts, and what is left of the totals (never below 0). */
export function lineTokens(t: TokenCounts): Array<[LineType, number]> {
  return [
    ['input', Math.max(0, t.input - t.cachedInput - t.cacheWrite5m - t.cacheWrite1h)],
    ['cachedInput', t.cachedInput],
    ['cacheWrite5m', t.cacheWrite5m],
    ['cacheWrite1h', t.cacheWrite1h],
    ['output', Math.max(0, t.output - t.reasoning)],
    ['reasoning', t.reasoning],
  ];
}

/** The lines of a bill from the tokens and the prices applied (a stored log's, say). */
export function chargeLines(tokens: TokenCounts, applied: Record<LineType, string>): ChargeLine[] {
  return lineTokens(tokens).map(([type, n]) => ({
    type,
    tokens: n,
    perMillion: applied[type],
    amount: n === 0 ? '0' : shortDecimal(priceUnits(applied[type]) * BigInt(n), AMOUNT_SCALE),
  }));
}

/** An amount in 10^-AMOUNT_SCALE dollars, rounded half-up to COST_SCALE digits, e.g. '0.43350000'. */
function roundedCost(amount: bigint): string {
  const cents = (amount + COST_HALF) / COST_DIVISOR;
  const digits = cents.toString().padStart(COST_SCALE + 1, '0');
  return `${digits.slice(0, -COST_SCALE)}.${digits.slice(-COST_SCALE)}`;
}
