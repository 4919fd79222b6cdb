/**
 * Token counts as clients report them, under any provider's convention, mapped onto the
 * server's: `input` counts every prompt token (cache reads and writes included), `output`
 * every generated token (reasoning included), and the parts are inside those totals
 * (docs/pricing.md). Used by the REST routes the llmring client posts to; GraphQL takes the
 * server's convention only.
 *
 * The rules, in order (docs/compatibility.md lists them with examples):
 * 1. Anthropic's own fields (`cache_read_input_tokens`, `cache_creation_input_tokens`, the
 *    `cache_creation` split; llmring's `cache_creation_tokens`, `cache_creation_5m_tokens` /
 *    `_1h_tokens`, and its `cached_tokens` beside them) are outside
 *    Anthropic's `input_tokens`: the total adds them, unless llmring's `input_tokens_uncached`
 *    gives the uncached part, from which the total is rebuilt.
 * 2. OpenAI's `prompt_tokens_details.cached_tokens` / `input_tokens_details.cached_tokens` and
 *    `completion_tokens_details.reasoning_tokens` / `output_tokens_details.reasoning_tokens`
 *    (and a top-level `reasoning_tokens` beside them) are parts inside the totals.
 * 3. Google's `cached_content_token_count` is inside `prompt_token_count`;
 *    `thoughts_token_count` is outside `candidates_token_count`: the output adds it.
 * 4. The server's own fields (`cached_input_tokens`, `cache_write_tokens`,
 *    `cache_write_1h_tokens`, `reasoning_tokens`) are parts inside the totals, except that
 *    `input_includes_cache: false` says the cache parts are outside `input_tokens`; and for
 *    provider `anthropic`, a payload without any of the server's newer fields is llmring's
 *    decorator, whose `cached_input_tokens` is Anthropic's `cache_read_input_tokens`: outside.
 * 5. What still contradicts itself is read the way that loses no token, with a warning: parts
 *    of the input larger than the input are read as outside it; reasoning larger than the
 *    output as outside it. A null total is stored as 0, with a warning.
 */

/** The server's counts of one call, and what was read in a way the client may not expect. */
export interface NormalizedTokens {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  cacheWrite1hTokens: number;
  reasoningTokens: number;
  warnings: string[];
}

/** A JSON object a client sent, where token counts may be (a body, its metadata, a usage dict). */
export type UsageSource = Record<string, unknown>;

/** The server's newer token fields: a payload with any of them follows the server's convention. */
const SERVER_FIELDS = ['cache_write_tokens', 'cache_write_1h_tokens', 'reasoning_tokens'] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads counts by name across the sources, first source first. */
class Reader {
  readonly warnings: string[] = [];

  constructor(private readonly sources: UsageSource[]) {}

  /** Whether any source has the field (null included). */
  has(path: string): boolean {
    return this.sources.some((s) => lookup(s, path) !== undefined);
  }

  /**
   * The first count given for a field: undefined when absent or null, and when it is not a
   * non-negative integer (a warning says it was ignored).
   */
  count(path: string): number | undefined {
    for (const source of this.sources) {
      const value = lookup(source, path);
      if (value === undefined || value === null) continue;
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
      this.warnings.push(`${path} ignored: not a non-negative integer`);
    }
    return undefined;
  }

  /** The first of several names that has a count. */
  first(...paths: string[]): number | undefined {
    for (const p of paths) {
      const n = this.count(p);
      if (n !== undefined) return n;
    }
    return undefined;
  }
}

/** Each path's parts, split once: the names are this module's constants. */
const PATH_PARTS = new Map<string, string[]>();

function lookup(source: UsageSource, path: string): unknown {
  let parts = PATH_PARTS.get(path);
  if (parts === undefined) PATH_PARTS.set(path, (parts = path.split('.')));
  let value: unknown = source;
  for (const part of parts) {
    if (!isObject(value) || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

/**
 * The server's token counts from what a client sent. `sources` are searched in order (a REST
 * body, then its metadata; a conversation's usage dict, then its metadata); `total` names the
 * `input_includes_cache` (REST) states the convention of the server's own cache fields.
 */
export function normalizeReportedTokens(
  provider: string,
  sources: UsageSource[],
  explicitConvention?: { inputIncludesCache?: boolean },
): NormalizedTokens {
  const r = new Reader(sources);
  const totalOf = (label: string, ...paths: string[]): number => {
    const n = r.first(...paths);
    if (n !== undefined) return n;
    if (paths.some((p) => r.has(p))) r.warnings.push(`${label} was null: stored as 0`);
    else r.warnings.push(`${label} was not reported: stored as 0`);
    return 0;
  };
  let input = totalOf(
    'input_tokens',
    'input_tokens',
    'prompt_tokens',
    'prompt_token_count',
    'prompt_eval_count',
  );
  let output = totalOf(
    'output_tokens',
    'output_tokens',
    'completion_tokens',
    'candidates_token_count',
    'eval_count',
  );
  let cached = 0;
  let write5m = 0;
  let write1h = 0;
  let reasoning = 0;
  let inputPartsOutside = false;

  /** The server's cached_input_tokens, or llmring's name for it in usage dicts. */
  const ownCached = () => r.first('cached_input_tokens', 'cached_tokens');
  const anthropicRead = r.count('cache_read_input_tokens');
  // llmring's decorator names Anthropic's creation count cache_creation_tokens.
  const anthropicCreated = r.first('cache_creation_input_tokens', 'cache_creation_tokens');
  const split5m = r.first('cache_creation.ephemeral_5m_input_tokens', 'cache_creation_5m_tokens');
  const split1h = r.first('cache_creation.ephemeral_1h_input_tokens', 'cache_creation_1h_tokens');
  const openaiCached = r.first('prompt_tokens_details.cached_tokens', 'input_tokens_details.cached_tokens');
  const openaiReasoning = r.first(
    'completion_tokens_details.reasoning_tokens',
    'output_tokens_details.reasoning_tokens',
  );
  const googleCached = r.count('cached_content_token_count');
  const googleThoughts = r.count('thoughts_token_count');

  if (
    anthropicRead !== undefined ||
    anthropicCreated !== undefined ||
    split5m !== undefined ||
    split1h !== undefined
  ) {
    // Rule 1: Anthropic's parts are outside its input_tokens.
    // llmring names Anthropic's read count cached_tokens or cached_input_tokens (then outside too).
    cached = anthropicRead ?? ownCached() ?? 0;
    write1h = split1h ?? 0;
    write5m = split5m ?? Math.max(0, (anthropicCreated ?? 0) - write1h);
    if (anthropicCreated !== undefined && write5m + write1h !== anthropicCreated) {
      r.warnings.push(
        `cache_creation_input_tokens (${anthropicCreated}) is not the sum of its 5-minute and 1-hour parts (${write5m} + ${write1h}): the parts were used`,
      );
    }
    const uncached = r.count('input_tokens_uncached');
    input = (uncached ?? input) + cached + write5m + write1h;
    reasoning = r.count('reasoning_tokens') ?? 0;
    const own = ownCached();
    if (anthropicRead !== undefined && own !== undefined && own !== 0 && own !== cached) {
      r.warnings.push(
        `cached_input_tokens (${own}) differs from cache_read_input_tokens (${cached}): Anthropic's count was used`,
      );
    }
  } else if (openaiCached !== undefined || openaiReasoning !== undefined) {
    // Rule 2: OpenAI's details are parts inside its totals.
    cached = openaiCached ?? ownCached() ?? 0;
    reasoning = openaiReasoning ?? r.count('reasoning_tokens') ?? 0;
  } else if (googleCached !== undefined || googleThoughts !== undefined) {
    // Rule 3: Google's cache is inside the prompt, its thoughts outside the candidates.
    cached = googleCached ?? 0;
    reasoning = googleThoughts ?? 0;
    output += reasoning;
  } else {
    // Rule 4: the server's own fields.
    cached = ownCached() ?? 0;
    write5m = r.count('cache_write_tokens') ?? 0;
    write1h = r.count('cache_write_1h_tokens') ?? 0;
    reasoning = r.count('reasoning_tokens') ?? 0;
    const decorator = provider.trim().toLowerCase() === 'anthropic' && !SERVER_FIELDS.some((f) => r.has(f));
    inputPartsOutside = explicitConvention?.inputIncludesCache === false;
    if (explicitConvention?.inputIncludesCache === undefined && decorator && cached > 0) {
      inputPartsOutside = true; // llmring's decorator: Anthropic's convention, silently
    }
  }

  // Rule 5: what cannot be inside its total is outside it.
  const inputParts = cached + write5m + write1h;
  if (inputPartsOutside) {
    input += inputParts;
  } else if (inputParts > input) {
    r.warnings.push(
      `the cached and cache-write tokens (${inputParts}) exceed input_tokens (${input}): read as not included in it (Anthropic's convention), so input_tokens is stored as ${input + inputParts}`,
    );
    input += inputParts;
  }
  if (reasoning > output) {
    r.warnings.push(
      `reasoning_tokens (${reasoning}) exceed output_tokens (${output}): read as not included in it, so output_tokens is stored as ${output + reasoning}`,
    );
    output += reasoning;
  }
  return {
    inputTokens: input,
    outputTokens: output,
    cachedInputTokens: cached,
    cacheWriteTokens: write5m,
    cacheWrite1hTokens: write1h,
    reasoningTokens: reasoning,
    warnings: r.warnings,
  };
}
