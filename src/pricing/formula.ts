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

const MILLION = new Dec(1_000_000);
export const COST_SCALE = 8;

/** Prices of one model, parsed once: the short- and long-context price sets. */
export class PriceSchedule {
  private readonly normal: { dec: Record<LineType, Dec>; applied: AppliedPrices };
  private readonly long: { dec: Record<LineType, Dec>; applied: AppliedPrices } | null;
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
    for (const t of LINE_TYPES) perMillion[t] = new Dec(perMillion[t]).toFixed();
    const dec = Object.fromEntries(LINE_TYPES.map((t) => [t, new Dec(perMillion[t])])) as Record<
      LineType,
      Dec
    >;
    return { dec, applied: { perMillion, longContext } };
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
    const { dec } = this.forCall(tokens);
    let sum = new Dec(0);
    for (const [type, n] of lineTokens(tokens)) if (n > 0) sum = sum.plus(dec[type].times(n));
    return sum.dividedBy(MILLION).toFixed(COST_SCALE);
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
    amount: n === 0 ? '0' : new Dec(applied[type]).times(n).dividedBy(MILLION).toFixed(),
  }));
}
