/**
 * The llmring client's requests (./llmring-client.ts, pinned by commit) replayed over HTTP,
 * with what the server must have stored for each: every call the client reports is recorded,
 * with the right tokens and cost, whatever path it took.
 */
import {
  createProjectWithKey,
  dataOf,
  startTestServer,
  withKey,
  type TestProject,
  type TestServer,
} from '../helpers/server';
import {
  DECORATOR_LOGS,
  LLMRING_LOGS,
  clientQuery,
  decoratorConversationLog,
  llmringClient,
  llmringConversationLog,
  llmringLogAfterConversation,
} from './llmring-client';

let server: TestServer;
let project: TestProject;
let client: ReturnType<typeof llmringClient>;

beforeAll(async () => {
  server = await startTestServer();
  project = await createProjectWithKey(server, 'compat');
  client = llmringClient(server.baseUrl, project.secret);
});
afterAll(() => server?.close());

interface Stored {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  cacheWrite1hTokens: number;
  reasoningTokens: number;
  costDecimal: string;
  costSource: string;
  warnings: string[];
}

/** The log a receipt is for, as GraphQL shows it. */
async function storedLog(receiptId: string): Promise<Stored> {
  const res = await server.gql(
    `query($id: String!) { receipt(receiptId: $id) { usageLog {
      inputTokens outputTokens cachedInputTokens cacheWriteTokens cacheWrite1hTokens reasoningTokens
      costDecimal costSource warnings } } }`,
    { id: receiptId },
    withKey(project.secret),
  );
  return dataOf(res).receipt.usageLog as Stored;
}

const tokens = (input: number, output: number, parts: Partial<Stored> = {}) => ({
  inputTokens: input,
  outputTokens: output,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  reasoningTokens: 0,
  ...parts,
});

describe('POST /api/v1/log as LLMRing sends it (logging_service.py)', () => {
  test.each([
    ['OpenAI, priced by the client', LLMRING_LOGS.openai, tokens(9500, 900), '0.00417500', 'CLIENT', []],
    [
      'Anthropic with a cache write (its cost covers it; the write itself is not reported)',
      LLMRING_LOGS.anthropicCacheWrite,
      tokens(1000, 50),
      '0.01875000',
      'CLIENT',
      [],
    ],
    [
      'Anthropic with cache reads, at HEAD',
      LLMRING_LOGS.anthropicCacheReadHead,
      tokens(9500, 150),
      '0.00915000',
      'CLIENT',
      [],
    ],
    [
      'Google with a null prompt count: recorded, priced on what is known, with a warning',
      LLMRING_LOGS.googleNullPrompt,
      tokens(0, 30),
      // 30 x 2.5 / 1e6
      '0.00007500',
      'REGISTRY',
      ['input_tokens was null: stored as 0'],
    ],
    ['Ollama, a model no registry prices', LLMRING_LOGS.ollama, tokens(26, 12), '0.00000000', 'UNPRICED', []],
  ])('%s', async (_name, body, expectedTokens, cost, source, warnings) => {
    const res = await client.post('/api/v1/log', body);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      log_id: expect.any(String),
      receipt_id: expect.stringMatching(/^rcpt_/),
      warnings,
    });
    expect(await storedLog(res.json.receipt_id)).toEqual({
      ...expectedTokens,
      costDecimal: cost,
      costSource: source,
      warnings,
    });
  });
});

describe('POST /api/v1/log from @log_llm_call (decorators.py, normalizers.py)', () => {
  test.each([
    [
      // 9,500 prompt tokens of which 8,000 cached (no cache price listed: the input price)
      // 9,500 x 0.25 + 900 x 2 = 4,175 / 1e6
      'OpenAI: cached tokens are part of the prompt',
      DECORATOR_LOGS.openai,
      tokens(9500, 900, { cachedInputTokens: 8000 }),
      '0.00417500',
    ],
    [
      // Anthropic's 12 input tokens exclude its 1,800 cache reads: 12 x 3 + 1,800 x 0.3 + 40 x 15
      // = 36 + 540 + 600 = 1,176 / 1e6. The original server refused this one (cached > input).
      'Anthropic with prompt caching: cache reads are not part of its input_tokens',
      DECORATOR_LOGS.anthropicCached,
      tokens(1812, 40, { cachedInputTokens: 1800 }),
      '0.00117600',
    ],
    [
      // 25 x 0.8 + 10 x 4 = 60 / 1e6; cached_input_tokens null is "no cache"
      'Anthropic without caching (the SDK reports null cache counts)',
      DECORATOR_LOGS.anthropicUncached,
      tokens(25, 10),
      '0.00006000',
    ],
    [
      // 120 x 0.3 + 30 x 2.5 = 111 / 1e6
      'Google without a context cache (cached_tokens None)',
      DECORATOR_LOGS.google,
      tokens(120, 30),
      '0.00011100',
    ],
  ])('%s', async (_name, body, expectedTokens, cost) => {
    const res = await client.post('/api/v1/log', body);
    expect(res.status).toBe(200);
    expect(res.json.warnings).toEqual([]);
    expect(await storedLog(res.json.receipt_id)).toEqual({
      ...expectedTokens,
      costDecimal: cost,
      costSource: 'REGISTRY',
      warnings: [],
    });
  });
});

describe('conversation logging (log_conversations=True)', () => {
  const logsOf = async (origin: string) => {
    const res = await client.get(`/api/v1/logs?${clientQuery({ limit: 50, offset: 0, origin })}`);
    expect(res.status).toBe(200);
    return res.json as Array<Record<string, unknown>>;
  };

  test('LLMRing posts the conversation, then the usage: the call is stored once, with the better counts', async () => {
    const first = await client.post('/api/v1/conversations/log', {
      ...llmringConversationLog(),
      metadata: { ...llmringConversationLog().metadata, origin: 'conversations-once' },
    });
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({
      conversation_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      messages_stored: false,
      receipt_id: expect.stringMatching(/^rcpt_/),
      replayed: false,
    });
    // The usage dict has the cache reads that /api/v1/log does not carry.
    expect(await storedLog(first.json.receipt_id)).toEqual({
      ...tokens(9500, 150, { cachedInputTokens: 8000 }),
      costDecimal: '0.00915000',
      costSource: 'CLIENT',
      warnings: [],
    });

    const id = first.json.conversation_id as string;
    const usage = await client.post('/api/v1/log', {
      ...llmringLogAfterConversation(id),
      origin: 'conversations-once',
    });
    expect(usage.status).toBe(200);
    expect(usage.json).toMatchObject({
      log_id: first.json.log_id,
      receipt_id: first.json.receipt_id,
      replayed: true,
    });

    const logs = await logsOf('conversations-once');
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({
      conversation_id: id,
      id_at_origin: id,
      alias: 'summarizer',
      cached_input_tokens: 8000,
    });

    // The next call gets its own conversation id, and is a second call.
    const next = await client.post('/api/v1/conversations/log', {
      ...llmringConversationLog(),
      metadata: { ...llmringConversationLog().metadata, origin: 'conversations-once' },
    });
    expect(next.json.conversation_id).not.toBe(id);
    await client.post('/api/v1/log', {
      ...llmringLogAfterConversation(next.json.conversation_id),
      origin: 'conversations-once',
    });
    expect(await logsOf('conversations-once')).toHaveLength(2);
  });

  test('calls that share an id_at_origin the server did not issue are all stored (LLMRingSession)', async () => {
    const body = {
      ...LLMRING_LOGS.openai,
      origin: 'session-calls',
      id_at_origin: 'conv-42',
      metadata: { conversation_id: 'conv-42' },
    };
    const a = await client.post('/api/v1/log', body);
    const b = await client.post('/api/v1/log', body);
    expect([a.json.replayed, b.json.replayed]).toEqual([false, false]);
    expect(await logsOf('session-calls')).toHaveLength(2);
  });

  test('the decorator posts only the conversation: its usage is stored, Anthropic cache reads included', async () => {
    const res = await client.post('/api/v1/conversations/log', decoratorConversationLog());
    expect(res.status).toBe(200);
    expect(res.json.messages_stored).toBe(false);
    expect(await storedLog(res.json.receipt_id)).toEqual({
      ...tokens(1812, 40, { cachedInputTokens: 1800 }),
      costDecimal: '0.00117600',
      costSource: 'REGISTRY',
      warnings: [],
    });
  });

  test('a conversation log with no provider anywhere, or without a key, is refused', async () => {
    const body = decoratorConversationLog();
    const noProvider = await client.post('/api/v1/conversations/log', {
      ...body,
      metadata: { ...body.metadata, provider: undefined },
    });
    expect(noProvider.status).toBe(400);
    expect(noProvider.json).toMatchObject({
      field: 'metadata.provider',
      detail: 'metadata.provider: is required',
    });
    const anonymous = await fetch(`${server.baseUrl}/api/v1/conversations/log`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(anonymous.status).toBe(401);
  });
});

describe('`llmring server status|stats|logs` (cli.py)', () => {
  test('status: /health without credentials, then /api/v1/stats with the key', async () => {
    const health = await fetch(`${server.baseUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'healthy',
      database: 'connected',
      version: expect.any(String),
    });
    expect((await client.get('/api/v1/stats')).status).toBe(200);
    const rejected = await llmringClient(server.baseUrl, 'llmr_pk_00000000000000000000000000000000').get(
      '/api/v1/stats',
    );
    expect(rejected.status).toBe(401);
  });

  test('stats with the empty date parameters httpx sends for None', async () => {
    const res = await client.get(
      `/api/v1/stats?${clientQuery({ start_date: null, end_date: null, group_by: 'day' })}`,
    );
    expect(res.status).toBe(200);
    expect(res.json.summary.total_requests).toBeGreaterThan(0);
    expect(Object.keys(res.json)).toEqual(['summary', 'by_day', 'by_model', 'by_origin', 'by_alias']);
  });

  test('logs with all seven parameters, unset ones empty: the fields its table and CSV read', async () => {
    const res = await client.get(
      `/api/v1/logs?${clientQuery({ limit: 50, offset: 0, alias: null, model: null, origin: null, start_date: null, end_date: null })}`,
    );
    expect(res.status).toBe(200);
    expect(Array.isArray(res.json)).toBe(true);
    for (const row of res.json as Array<Record<string, unknown>>) {
      for (const field of [
        'logged_at',
        'provider',
        'model',
        'alias',
        'profile',
        'origin',
        'input_tokens',
        'output_tokens',
      ]) {
        expect(row).toHaveProperty(field);
      }
      expect(typeof row.cost).toBe('number'); // formatted with :.4f
    }
  });
});

describe('receipts under /api/v1/receipts/', () => {
  let logged: { receipt_id: string; receipt: Record<string, unknown> };

  beforeAll(async () => {
    logged = (await client.post('/api/v1/log', LLMRING_LOGS.openai)).json;
  });

  test('the public key as PEM and as the original key set', async () => {
    const pem = await fetch(`${server.baseUrl}/api/v1/receipts/public-key.pem`);
    expect(pem.status).toBe(200);
    const text = await pem.text();
    expect(text).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n?$/);
    expect(text).toBe(await (await fetch(`${server.baseUrl}/receipts/public-key.pem`)).text());
    const set = await (await fetch(`${server.baseUrl}/api/v1/receipts/public-keys.json`)).json();
    expect(set).toMatchObject({
      current_key_id: logged.receipt.key_id,
      keys: [
        {
          key_id: logged.receipt.key_id,
          algorithm: 'Ed25519',
          format: 'base64url',
          public_key: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        },
      ],
    });
  });

  test('a receipt by id, with the key of its project only', async () => {
    const own = await client.get(`/api/v1/receipts/${logged.receipt_id}`);
    expect(own.status).toBe(200);
    expect(own.json).toEqual(logged.receipt);
    const other = await createProjectWithKey(server, 'compat-other');
    const foreign = await llmringClient(server.baseUrl, other.secret).get(
      `/api/v1/receipts/${logged.receipt_id}`,
    );
    expect(foreign.status).toBe(404);
    expect((await fetch(`${server.baseUrl}/api/v1/receipts/${logged.receipt_id}`)).status).toBe(401);
  });

  test('verify: valid as issued, invalid once a number is changed', async () => {
    const ok = await client.post('/api/v1/receipts/verify', logged.receipt);
    expect(ok.json).toEqual({
      receipt_id: logged.receipt_id,
      valid: true,
      algorithm: 'Ed25519',
      key_id: logged.receipt.key_id,
      reason: null,
    });
    const cost = logged.receipt.cost as Record<string, unknown>;
    const forged = await client.post('/api/v1/receipts/verify', {
      ...logged.receipt,
      cost: { ...cost, amount: '999.99000000' },
    });
    expect(forged.json).toMatchObject({
      receipt_id: logged.receipt_id,
      valid: false,
      reason: expect.any(String),
    });
    // The original CLI sent a file holding {"receipts": [...]}: the first is checked.
    const wrapped = await client.post('/api/v1/receipts/verify', { receipts: [logged.receipt] });
    expect(wrapped.json.valid).toBe(true);
  });
});

describe('what this server does not offer', () => {
  test.each([
    [
      'POST',
      '/api/v1/conversations',
      { title: null, system_prompt: null, model_alias: 'default', temperature: 0.7, max_tokens: null },
    ],
    ['GET', '/api/v1/conversations/', undefined],
    ['GET', '/api/v1/conversations/6b1f0c3e-0000-4000-8000-000000000000', undefined],
    ['POST', '/api/v1/conversations/6b1f0c3e-0000-4000-8000-000000000000/messages/batch', { messages: [] }],
    ['GET', '/conversations?limit=20&offset=0', undefined],
    ['GET', '/api/v1/mcp/servers?is_active=true', undefined],
    ['POST', '/api/v1/mcp/servers', { name: 'x', url: 'http://127.0.0.1:1', transport_type: 'http' }],
    ['GET', '/api/v1/templates/', undefined],
    ['POST', '/api/v1/receipts/generate', { since_last_receipt: true }],
  ])('%s %s: 404 saying what is offered instead', async (method, path, body) => {
    const res = method === 'GET' ? await client.get(path) : await client.post(path, body);
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({
      code: 'NOT_OFFERED',
      detail: expect.stringContaining('does not store conversations'),
      offered: expect.arrayContaining(['POST /api/v1/conversations/log', 'POST /api/v1/log']),
    });
  });
});
