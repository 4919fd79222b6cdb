/**
 * The llmring client's requests, exactly as it sends them, read from its source:
 * juanre/llmring at 7a5394a07af0e4ea8c8c1db576e373e8dba2676b (HEAD, 2026-08-18) and at v1.4.0
 * (af8988a768c8cb53763645823be3167aca51fb87). Files: src/llmring/net/http_base.py (headers),
 * src/llmring/server_client.py, src/llmring/services/logging_service.py (LLMRing's bodies),
 * src/llmring/logging/decorators.py and logging/normalizers.py (the decorators' bodies),
 * src/llmring/cli.py (`llmring server status|stats|logs`), and the providers' usage dicts in
 * src/llmring/providers/*_api.py. Token numbers are illustrations; the shapes are the client's.
 */

/** What http_base.py's BaseHTTPClient sends with every request when a key is configured. */
export function clientHeaders(apiKey: string): Record<string, string> {
  return {
    Authorization: `Bearer ${apiKey}`,
    'X-API-Key': apiKey,
    'Content-Type': 'application/json',
  };
}

/** httpx's query string for a dict whose None values it writes as empty strings. */
export function clientQuery(params: Record<string, string | number | null>): string {
  return new URLSearchParams(
    Object.entries(params).map(([k, v]): [string, string] => [k, v === null ? '' : String(v)]),
  ).toString();
}

/** A client that talks as ServerClient does: JSON bodies, every header, JSON answers. */
export function llmringClient(baseUrl: string, apiKey: string) {
  const request = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: clientHeaders(apiKey),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined; // the client's response.json() would raise here
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read loosely, as the client does
    return { status: res.status, json: json as any, text };
  };
  return {
    post: (path: string, body: unknown) => request('POST', path, body),
    get: (path: string) => request('GET', path),
  };
}

/**
 * POST /api/v1/log from LLMRing's LoggingService._log_usage_only (logging_service.py):
 * model without its provider, tokens from the provider adapter's usage dict (prompt_tokens,
 * completion_tokens, and a top-level cached_tokens that most adapters do not set), alias only
 * when the model was picked by alias, cost only when the client priced the call, metadata with
 * model_alias and finish_reason (and conversation_id with id_at_origin after a conversation log).
 */
export const LLMRING_LOGS = {
  /** OpenAI Chat Completions: cached_tokens is nested in prompt_tokens_details, so 0 here. */
  openai: {
    model: 'gpt-5-mini',
    provider: 'openai',
    input_tokens: 9500,
    output_tokens: 900,
    cached_input_tokens: 0,
    origin: 'llmring',
    alias: 'fast',
    cost: 0.004175,
    metadata: { model_alias: 'openai:gpt-5-mini', finish_reason: 'stop' },
  },
  /** Anthropic with a 4,000-token 5-minute cache write: input_tokens is Anthropic's, without it. */
  anthropicCacheWrite: {
    model: 'claude-sonnet-4-5-20250929',
    provider: 'anthropic',
    input_tokens: 1000,
    output_tokens: 50,
    cached_input_tokens: 0,
    origin: 'llmring',
    cost: 0.01875,
    metadata: { model_alias: 'anthropic:claude-sonnet-4-5-20250929', finish_reason: 'end_turn' },
  },
  /** Anthropic with 8,000 cache reads at HEAD: prompt_tokens = input_tokens + cache reads. */
  anthropicCacheReadHead: {
    model: 'claude-sonnet-4-5-20250929',
    provider: 'anthropic',
    input_tokens: 9500,
    output_tokens: 150,
    cached_input_tokens: 0,
    origin: 'llmring',
    cost: 0.00915,
    metadata: { model_alias: 'anthropic:claude-sonnet-4-5-20250929', finish_reason: 'end_turn' },
  },
  /** Google through google_api.py: usage_metadata counts may be None, sent as null. */
  googleNullPrompt: {
    model: 'gemini-2.5-flash',
    provider: 'google',
    input_tokens: null,
    output_tokens: 30,
    cached_input_tokens: 0,
    origin: 'llmring',
    metadata: { model_alias: 'google:gemini-2.5-flash', finish_reason: 'stop' },
  },
  /** Ollama (ollama_api.py): prompt_eval_count and eval_count; a model the registry lacks. */
  ollama: {
    model: 'llama3.2',
    provider: 'ollama',
    input_tokens: 26,
    output_tokens: 12,
    cached_input_tokens: 0,
    origin: 'llmring',
    metadata: { model_alias: 'ollama:llama3.2', finish_reason: 'stop' },
  },
};

/**
 * POST /api/v1/log from @log_llm_call in metadata mode (decorators.py), with the usage dict of
 * normalizers.py: OpenAI's prompt_tokens include cached_tokens (from prompt_tokens_details);
 * Anthropic's prompt_tokens are its input_tokens, and cached_tokens its cache_read_input_tokens,
 * which are not part of them; Google's cached_tokens is None without a context cache.
 * No cost, profile or id_at_origin, ever.
 */
export const DECORATOR_LOGS = {
  openai: {
    model: 'gpt-5-mini-2025-08-07',
    provider: 'openai',
    input_tokens: 9500,
    output_tokens: 900,
    cached_input_tokens: 8000,
    origin: 'llmring-decorator',
    metadata: { model_alias: 'openai:gpt-5-mini-2025-08-07', finish_reason: 'stop' },
  },
  anthropicCached: {
    model: 'claude-sonnet-4-5-20250929',
    provider: 'anthropic',
    input_tokens: 12,
    output_tokens: 40,
    cached_input_tokens: 1800,
    origin: 'llmring-decorator',
    metadata: { model_alias: 'anthropic:claude-sonnet-4-5-20250929', finish_reason: 'end_turn' },
    alias: 'summarizer',
  },
  anthropicUncached: {
    model: 'claude-3-5-haiku-20241022',
    provider: 'anthropic',
    input_tokens: 25,
    output_tokens: 10,
    cached_input_tokens: null,
    origin: 'llmring-decorator',
    metadata: { model_alias: 'anthropic:claude-3-5-haiku-20241022', finish_reason: 'end_turn' },
  },
  google: {
    model: 'gemini-2.5-flash',
    provider: 'google',
    input_tokens: 120,
    output_tokens: 30,
    cached_input_tokens: null,
    origin: 'llmring-decorator',
    metadata: { model_alias: 'google:gemini-2.5-flash', finish_reason: 'FinishReason.STOP' },
  },
};

/** Message.model_dump() (llmring/schemas.py): every key present, unset ones null. */
const message = (role: string, content: unknown) => ({
  role,
  content,
  tool_calls: null,
  tool_call_id: null,
  timestamp: null,
  metadata: null,
});

/**
 * POST /api/v1/conversations/log from LLMRing's LoggingService._log_conversation, at HEAD:
 * Anthropic with 8,000 cache reads. response.usage is the adapter's whole usage dict
 * (build_usage_dict: prompt_tokens include the reads, input_tokens_uncached does not, and the
 * client's cost and cost breakdown); metadata repeats the tokens as /api/v1/log sends them.
 * The client then posts /api/v1/log for the same call with the returned conversation_id.
 */
export function llmringConversationLog() {
  return {
    messages: [
      message('system', 'You are terse.'),
      message('user', [{ type: 'text', text: 'Summarise the attached report.' }]),
    ],
    response: {
      content: 'The report says revenue grew.',
      model: 'anthropic:claude-sonnet-4-5-20250929',
      finish_reason: 'end_turn',
      usage: {
        prompt_tokens: 9500,
        completion_tokens: 150,
        total_tokens: 9650,
        input_tokens_uncached: 1500,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 8000,
        cost_status: 'priced',
        cost: 0.00915,
        cost_breakdown: { input: 0.0045, output: 0.00225, cache_read: 0.0024 },
      },
    },
    metadata: {
      provider: 'anthropic',
      model: 'claude-sonnet-4-5-20250929',
      alias: 'summarizer',
      profile: null,
      origin: 'llmring',
      cost: 0.00915,
      input_cost: 0.0045,
      output_cost: 0.00225,
      input_tokens: 9500,
      output_tokens: 150,
      cached_tokens: 0,
    },
  };
}

/** The /api/v1/log LLMRing sends right after a conversation log, with its conversation_id. */
export function llmringLogAfterConversation(conversationId: string) {
  return {
    ...LLMRING_LOGS.anthropicCacheReadHead,
    alias: 'summarizer',
    id_at_origin: conversationId,
    metadata: {
      model_alias: 'anthropic:claude-sonnet-4-5-20250929',
      finish_reason: 'end_turn',
      conversation_id: conversationId,
    },
  };
}

/**
 * POST /api/v1/conversations/log from @log_llm_call with log_conversations=True (and instead of
 * /api/v1/log): the caller's messages as passed, the normalised usage dict (Anthropic's
 * normaliser: cache_creation_tokens and cached_tokens beside prompt_tokens), no cost.
 */
export function decoratorConversationLog() {
  return {
    messages: [{ role: 'user', content: 'What is 2 + 2?' }],
    response: {
      content: '4',
      model: 'claude-sonnet-4-5-20250929',
      finish_reason: 'end_turn',
      usage: {
        prompt_tokens: 12,
        completion_tokens: 40,
        total_tokens: 52,
        cache_creation_tokens: 0,
        cached_tokens: 1800,
      },
    },
    metadata: {
      provider: 'anthropic',
      model: 'claude-sonnet-4-5-20250929',
      alias: null,
      origin: 'llmring-decorator',
      input_tokens: 12,
      output_tokens: 40,
      cached_tokens: 1800,
    },
  };
}
