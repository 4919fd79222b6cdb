/**
 * src/domain/reportedTokens.ts: each provider's convention onto the server's. The payloads are
 * the llmring client's (juanre/llmring at 7a5394a07af0e4ea8c8c1db576e373e8dba2676b, and v1.4.0
 * at af8988a768c8cb53763645823be3167aca51fb87) and the providers' own usage objects.
 */
import { normalizeReportedTokens, type NormalizedTokens } from '../src/domain/reportedTokens';

type Expected = Omit<NormalizedTokens, 'warnings'> & { warnings?: RegExp[] };

const zero = {
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  reasoningTokens: 0,
};

const CASES: Array<[string, string, Array<Record<string, unknown>>, Expected]> = [
  [
    'the server convention, every part inside its total',
    'anthropic',
    [
      {
        input_tokens: 150_000,
        output_tokens: 2_000,
        cached_input_tokens: 20_000,
        cache_write_tokens: 10_000,
        cache_write_1h_tokens: 0,
        reasoning_tokens: 0,
      },
    ],
    {
      ...zero,
      inputTokens: 150_000,
      outputTokens: 2_000,
      cachedInputTokens: 20_000,
      cacheWriteTokens: 10_000,
    },
  ],
  [
    "llmring's decorator on Anthropic with cache reads (logging/normalizers.py): input excludes them",
    'anthropic',
    [
      {
        input_tokens: 12,
        output_tokens: 40,
        cached_input_tokens: 1_800,
        origin: 'llmring-decorator',
        metadata: { model_alias: 'anthropic:claude-sonnet-4-5-20250929', finish_reason: 'end_turn' },
      },
    ],
    { ...zero, inputTokens: 1_812, outputTokens: 40, cachedInputTokens: 1_800 },
  ],
  [
    "the decorator on Anthropic with fewer reads than fresh input: still Anthropic's convention",
    'anthropic',
    [{ input_tokens: 1_500, output_tokens: 150, cached_input_tokens: 800 }],
    { ...zero, inputTokens: 2_300, outputTokens: 150, cachedInputTokens: 800 },
  ],
  [
    'input_includes_cache: true overrides the decorator reading',
    'anthropic',
    [{ input_tokens: 1_500, output_tokens: 150, cached_input_tokens: 800, input_includes_cache: true }],
    { ...zero, inputTokens: 1_500, outputTokens: 150, cachedInputTokens: 800 },
  ],
  [
    "Anthropic's own usage object: reads and writes outside input_tokens, the 5m/1h split",
    'anthropic',
    [
      {
        input_tokens: 1_000,
        output_tokens: 50,
        cache_read_input_tokens: 8_000,
        cache_creation_input_tokens: 4_000,
        cache_creation: { ephemeral_5m_input_tokens: 3_000, ephemeral_1h_input_tokens: 1_000 },
      },
    ],
    {
      ...zero,
      inputTokens: 13_000,
      outputTokens: 50,
      cachedInputTokens: 8_000,
      cacheWriteTokens: 3_000,
      cacheWrite1hTokens: 1_000,
    },
  ],
  [
    "llmring HEAD's Anthropic usage dict: prompt_tokens includes reads, input_tokens_uncached is the rest",
    'anthropic',
    [
      {
        prompt_tokens: 9_500,
        completion_tokens: 150,
        total_tokens: 9_650,
        input_tokens_uncached: 1_500,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 8_000,
        cost: 0.00915,
      },
      { input_tokens: 9_500, output_tokens: 150, cached_tokens: 0 },
    ],
    { ...zero, inputTokens: 9_500, outputTokens: 150, cachedInputTokens: 8_000 },
  ],
  [
    "llmring v1.4.0's Anthropic usage dict: prompt_tokens is Anthropic's input, without reads",
    'anthropic',
    [
      {
        prompt_tokens: 1_500,
        completion_tokens: 150,
        total_tokens: 1_650,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 8_000,
      },
    ],
    { ...zero, inputTokens: 9_500, outputTokens: 150, cachedInputTokens: 8_000 },
  ],
  [
    "the decorator's Anthropic conversation usage: cached_tokens and cache_creation_tokens, both outside",
    'anthropic',
    [
      {
        prompt_tokens: 100,
        completion_tokens: 10,
        cached_tokens: 2_000,
        cache_creation_tokens: 500,
        total_tokens: 110,
      },
    ],
    { ...zero, inputTokens: 2_600, outputTokens: 10, cachedInputTokens: 2_000, cacheWriteTokens: 500 },
  ],
  [
    "OpenAI's details in metadata: parts inside the totals",
    'openai',
    [
      {
        input_tokens: 9_500,
        output_tokens: 900,
        cached_input_tokens: 0,
        metadata: {
          prompt_tokens_details: { cached_tokens: 8_000, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 800 },
        },
      },
    ],
    { ...zero, inputTokens: 9_500, outputTokens: 900, cachedInputTokens: 8_000, reasoningTokens: 800 },
  ],
  [
    "the OpenAI Responses API's usage object",
    'openai',
    [
      {
        input_tokens: 5_000,
        output_tokens: 700,
        input_tokens_details: { cached_tokens: 4_096 },
        output_tokens_details: { reasoning_tokens: 512 },
      },
    ],
    { ...zero, inputTokens: 5_000, outputTokens: 700, cachedInputTokens: 4_096, reasoningTokens: 512 },
  ],
  [
    "Google's usage metadata: thoughts outside the candidates",
    'google',
    [
      {
        prompt_token_count: 120,
        candidates_token_count: 30,
        thoughts_token_count: 200,
        cached_content_token_count: 100,
        total_token_count: 350,
      },
    ],
    { ...zero, inputTokens: 120, outputTokens: 230, cachedInputTokens: 100, reasoningTokens: 200 },
  ],
  [
    'Google through the decorator: cached_input_tokens null is no cache, and nothing to warn about',
    'google',
    [{ input_tokens: 120, output_tokens: 30, cached_input_tokens: null }],
    { ...zero, inputTokens: 120, outputTokens: 30 },
  ],
  [
    'Google through LLMRing with null totals: stored as 0, with a warning',
    'google',
    [{ input_tokens: null, output_tokens: 30, cached_input_tokens: 0 }],
    { ...zero, inputTokens: 0, outputTokens: 30, warnings: [/^input_tokens was null: stored as 0$/] },
  ],
  [
    "Ollama's own counts",
    'ollama',
    [{ prompt_eval_count: 26, eval_count: 12 }],
    { ...zero, inputTokens: 26, outputTokens: 12 },
  ],
  [
    'an OpenAI payload whose cached tokens exceed its input: read as outside it, with a warning',
    'openai',
    [{ input_tokens: 12, output_tokens: 5, cached_input_tokens: 1_800 }],
    {
      ...zero,
      inputTokens: 1_812,
      outputTokens: 5,
      cachedInputTokens: 1_800,
      warnings: [/exceed input_tokens \(12\).*stored as 1812/],
    },
  ],
  [
    'reasoning beyond the output: read as outside it, with a warning',
    'openai',
    [{ input_tokens: 10, output_tokens: 5, reasoning_tokens: 50 }],
    {
      ...zero,
      inputTokens: 10,
      outputTokens: 55,
      reasoningTokens: 50,
      warnings: [/output_tokens is stored as 55/],
    },
  ],
  [
    'a count that is not a count in metadata is ignored, with a warning; the call is kept',
    'openai',
    [{ input_tokens: 10, output_tokens: 5, metadata: { prompt_tokens_details: { cached_tokens: 'many' } } }],
    { ...zero, inputTokens: 10, outputTokens: 5, warnings: [/prompt_tokens_details.cached_tokens ignored/] },
  ],
];

describe('normalizeReportedTokens', () => {
  test.each(CASES)('%s', (_name, provider, body, expected) => {
    const [first, ...rest] = body;
    const sources = [first, ...rest];
    if (typeof first.metadata === 'object' && first.metadata !== null) {
      sources.push(first.metadata as Record<string, unknown>);
    }
    const convention =
      typeof first.input_includes_cache === 'boolean'
        ? { inputIncludesCache: first.input_includes_cache }
        : {};
    const { warnings, ...tokens } = normalizeReportedTokens(provider, sources, convention);
    const { warnings: patterns = [], ...counts } = expected;
    expect(tokens).toEqual(counts);
    expect(warnings).toHaveLength(patterns.length);
    patterns.forEach((p, i) => expect(warnings[i]).toMatch(p));
  });
});
