/**
 * Costs of real models of the shipped snapshot (the llmring registry of 2026-08-18) for every
 * token type, computed by hand, for the pricing unit tests and the API tests alike (GraphQL
 * and REST must store exactly these).
 */

export interface PricingCase {
  name: string;
  provider: string;
  model: string;
  tokens: {
    inputTokens: number;
    outputTokens: number;
    cachedInputTokens?: number;
    cacheWriteTokens?: number;
    cacheWrite1hTokens?: number;
    reasoningTokens?: number;
  };
  cost: string;
  costSource: 'registry' | 'unpriced';
  /** The bill's lines with tokens: [type, tokens, per million, amount]. */
  lines: Array<[string, number, string, string]>;
  longContext?: boolean;
}

export const PRICING_CASES: PricingCase[] = [
  {
    // claude-sonnet-4-20250514: input 3, output 15, cache_read 0.3, cache_write_5m 3.75,
    // cache_write_1h 6; long context (above 200,000 input tokens) input 6, output 22.5.
    // uncached 150,000 - 20,000 - 10,000 = 120,000 x 3 = 360,000
    // cached 20,000 x 0.3 = 6,000; 5-minute writes 10,000 x 3.75 = 37,500; output 2,000 x 15 = 30,000
    // 433,500 / 1,000,000 = 0.4335
    name: 'claude-sonnet-4 below 200k, with cache reads and 5-minute writes',
    provider: 'anthropic',
    model: 'claude-sonnet-4-20250514',
    tokens: {
      inputTokens: 150_000,
      outputTokens: 2_000,
      cachedInputTokens: 20_000,
      cacheWriteTokens: 10_000,
    },
    cost: '0.43350000',
    costSource: 'registry',
    lines: [
      ['INPUT', 120_000, '3', '0.36'],
      ['CACHED_INPUT', 20_000, '0.3', '0.006'],
      ['CACHE_WRITE_5M', 10_000, '3.75', '0.0375'],
      ['OUTPUT', 2_000, '15', '0.03'],
    ],
  },
  {
    // Above 200,000 input tokens the input and output prices are the long-context ones, for
    // the whole call: uncached 300,000 - 50,000 - 10,000 = 240,000 x 6 = 1,440,000;
    // cached 50,000 x 0.3 = 15,000; 1-hour writes 10,000 x 6 = 60,000; output 4,000 x 22.5 = 90,000
    // 1,605,000 / 1,000,000 = 1.605
    name: 'claude-sonnet-4 above 200k: long-context prices for the whole call',
    provider: 'anthropic',
    model: 'claude-sonnet-4-20250514',
    tokens: {
      inputTokens: 300_000,
      outputTokens: 4_000,
      cachedInputTokens: 50_000,
      cacheWrite1hTokens: 10_000,
    },
    cost: '1.60500000',
    costSource: 'registry',
    longContext: true,
    lines: [
      ['INPUT', 240_000, '6', '1.44'],
      ['CACHED_INPUT', 50_000, '0.3', '0.015'],
      ['CACHE_WRITE_1H', 10_000, '6', '0.06'],
      ['OUTPUT', 4_000, '22.5', '0.09'],
    ],
  },
  {
    // claude-opus-4-1-20250805: input 15, output 75, cache_write_5m 18.75, cache_write_1h 30.
    // uncached 25,000 - 10,000 - 5,000 = 10,000 x 15 = 150,000; 5-minute 10,000 x 18.75 = 187,500;
    // 1-hour 5,000 x 30 = 150,000; output 1,000 x 75 = 75,000; 562,500 / 1,000,000 = 0.5625
    name: 'claude-opus-4-1 with 5-minute and 1-hour cache writes',
    provider: 'anthropic',
    model: 'claude-opus-4-1',
    tokens: { inputTokens: 25_000, outputTokens: 1_000, cacheWriteTokens: 10_000, cacheWrite1hTokens: 5_000 },
    cost: '0.56250000',
    costSource: 'registry',
    lines: [
      ['INPUT', 10_000, '15', '0.15'],
      ['CACHE_WRITE_5M', 10_000, '18.75', '0.1875'],
      ['CACHE_WRITE_1H', 5_000, '30', '0.15'],
      ['OUTPUT', 1_000, '75', '0.075'],
    ],
  },
  {
    // gemini-2.5-pro: input 1.25, output 10, cached 0.125; above 200,000: input 2.5, output 15;
    // no thinking price: reasoning at the (long-context) output price.
    // uncached 300,000 - 100,000 = 200,000 x 2.5 = 500,000; cached 100,000 x 0.125 = 12,500;
    // output 5,000 - 2,000 = 3,000 x 15 = 45,000; reasoning 2,000 x 15 = 30,000
    // 587,500 / 1,000,000 = 0.5875
    name: 'gemini-2.5-pro above 200k, with reasoning',
    provider: 'google',
    model: 'gemini-2.5-pro',
    tokens: { inputTokens: 300_000, outputTokens: 5_000, cachedInputTokens: 100_000, reasoningTokens: 2_000 },
    cost: '0.58750000',
    costSource: 'registry',
    longContext: true,
    lines: [
      ['INPUT', 200_000, '2.5', '0.5'],
      ['CACHED_INPUT', 100_000, '0.125', '0.0125'],
      ['OUTPUT', 3_000, '15', '0.045'],
      ['REASONING', 2_000, '15', '0.03'],
    ],
  },
  {
    // Exactly at the threshold is not above it: 200,000 x 1.25 = 250,000; 1,000 x 10 = 10,000
    // 260,000 / 1,000,000 = 0.26
    name: 'gemini-2.5-pro at exactly 200k: the normal prices',
    provider: 'google',
    model: 'gemini-2.5-pro',
    tokens: { inputTokens: 200_000, outputTokens: 1_000 },
    cost: '0.26000000',
    costSource: 'registry',
    lines: [
      ['INPUT', 200_000, '1.25', '0.25'],
      ['OUTPUT', 1_000, '10', '0.01'],
    ],
  },
  {
    // o3-2025-04-16 (an OpenAI reasoning model): input 2, output 8, cached 0.5; reasoning
    // tokens are output tokens at the output price. uncached 12,000 - 4,000 = 8,000 x 2 = 16,000;
    // cached 4,000 x 0.5 = 2,000; output 9,000 - 7,500 = 1,500 x 8 = 12,000; reasoning 7,500 x 8 = 60,000
    // 90,000 / 1,000,000 = 0.09
    name: 'an OpenAI reasoning model (o3)',
    provider: 'openai',
    model: 'o3-2025-04-16',
    tokens: { inputTokens: 12_000, outputTokens: 9_000, cachedInputTokens: 4_000, reasoningTokens: 7_500 },
    cost: '0.09000000',
    costSource: 'registry',
    lines: [
      ['INPUT', 8_000, '2', '0.016'],
      ['CACHED_INPUT', 4_000, '0.5', '0.002'],
      ['OUTPUT', 1_500, '8', '0.012'],
      ['REASONING', 7_500, '8', '0.06'],
    ],
  },
  {
    name: 'a model with no price: UNPRICED, cost 0, never an error',
    provider: 'mistral',
    model: 'mistral-large-2411',
    tokens: { inputTokens: 1_000, outputTokens: 500, cacheWriteTokens: 100, reasoningTokens: 50 },
    cost: '0.00000000',
    costSource: 'unpriced',
    lines: [],
  },
];
