/**
 * The original server's own tests (juanre/llmring-server at
 * 32ff973079326e1eaeac7678e93d16b7c682b787, and tag llmring-server-0.1.2 for receipts):
 * their payloads and assertions, replayed over HTTP. Where this server answers differently
 * on purpose, the test says so. Also: keys made by `llmring server init` (cli.py
 * _generate_api_key: 'llmr_pk_' + 32 hex digits), with and without LLMRING_ACCEPT_CLIENT_KEYS.
 */
import {
  asAdmin,
  createProjectWithKey,
  dataOf,
  startTestServer,
  type TestProject,
  type TestServer,
} from '../helpers/server';
import { llmringClient } from './llmring-client';

let server: TestServer;
let project: TestProject;

beforeAll(async () => {
  server = await startTestServer();
  project = await createProjectWithKey(server, 'proj-test');
});
afterAll(() => server?.close());

const post = (path: string, body: unknown, key: string | null = project.secret) =>
  fetch(`${server.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(key === null ? {} : { 'X-API-Key': key }) },
    body: JSON.stringify(body),
  });
const get = (path: string, key: string | null = project.secret) =>
  fetch(`${server.baseUrl}${path}`, { headers: key === null ? {} : { 'X-API-Key': key } });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the original's tests read JSON loosely
const json = async (res: Response): Promise<any> => res.json();

describe('tests/test_usage.py', () => {
  test('test_log_and_stats', async () => {
    const res = await post('/api/v1/log', {
      model: 'gpt-4o-mini',
      provider: 'openai',
      input_tokens: 1000,
      output_tokens: 200,
      cached_input_tokens: 0,
      alias: 'summarizer',
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toHaveProperty('log_id');
    const stats = await get('/api/v1/stats');
    expect(stats.status).toBe(200);
    const body = await json(stats);
    expect(body).toHaveProperty('summary');
    expect(typeof body.by_alias).toBe('object');
    // 1,000 x 0.15 + 200 x 0.6 = 270 / 1e6, priced from the registry as the original did.
    expect(body.by_alias.summarizer).toMatchObject({ requests: 1, cost: '0.00027000' });
  });

  test('test_usage_logs_endpoint', async () => {
    const res = await post('/api/v1/log', {
      model: 'gpt-4o-mini',
      provider: 'openai',
      input_tokens: 100,
      output_tokens: 20,
      cached_input_tokens: 0,
      alias: 'fast',
      origin: 'tests',
    });
    expect(res.status).toBe(200);
    const logs = await get('/api/v1/logs');
    expect(logs.status).toBe(200);
    const rows = await json(logs);
    expect(Array.isArray(rows)).toBe(true);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0]).toMatchObject({ model: 'gpt-4o-mini', alias: 'fast' });
  });
});

test('tests/test_security_and_registry_v35.py test_stateful_routes_require_project_key', async () => {
  const res = await post(
    '/api/v1/log',
    { model: 'gpt-4o-mini', provider: 'openai', input_tokens: 100, output_tokens: 10 },
    null,
  );
  expect(res.status).toBe(401);
});

describe('tests/test_registry.py and test_dual_mode.py: /health', () => {
  test('test_health, test_dual_mode_health_endpoint', async () => {
    const res = await get('/health', null);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(['healthy', 'unhealthy']).toContain(body.status);
    expect(body).toHaveProperty('database');
  });
});

describe('tests/test_conversations.py: POST /api/v1/conversations/log', () => {
  test('test_log_conversation_full: the usage is recorded (the messages, by design, are not)', async () => {
    const res = await post('/api/v1/conversations/log', {
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
      response: {
        content: 'The capital of France is Paris.',
        model: 'gpt-4o',
        finish_reason: 'stop',
        usage: { prompt_tokens: 10, completion_tokens: 8, total_tokens: 18 },
      },
      metadata: {
        provider: 'openai',
        model: 'gpt-4o',
        alias: 'deep',
        profile: 'default',
        origin: 'llmring-decorator',
        cost: 0.000054,
        input_cost: 0.00003,
        output_cost: 0.000024,
        input_tokens: 10,
        output_tokens: 8,
        cached_tokens: 0,
      },
    });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toHaveProperty('conversation_id');
    expect(body).toHaveProperty('message_id');
    expect(body.messages_stored).toBe(false);
    const logs = await json(await get('/api/v1/logs?alias=deep'));
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({
      conversation_id: body.conversation_id,
      input_tokens: 10,
      output_tokens: 8,
      cost: 0.000054,
      origin: 'llmring-decorator',
    });
  });

  test('test_log_conversation_with_multiple_messages and _without_alias', async () => {
    const anthropic = await post('/api/v1/conversations/log', {
      messages: [
        { role: 'system', content: 'You are a math tutor.' },
        { role: 'user', content: 'What is 1 + 1?' },
        { role: 'assistant', content: '1 + 1 equals 2.' },
        { role: 'user', content: 'And 2 + 2?' },
      ],
      response: { content: '2 + 2 equals 4.', model: 'claude-3-haiku-20240307', finish_reason: 'stop' },
      metadata: {
        provider: 'anthropic',
        model: 'claude-3-haiku-20240307',
        alias: 'low_cost',
        cost: 0.000025,
        input_tokens: 50,
        output_tokens: 10,
      },
    });
    expect(anthropic.status).toBe(200);
    const google = await post('/api/v1/conversations/log', {
      messages: [{ role: 'user', content: 'Hi' }],
      response: { content: 'Hello!', model: 'gemini-pro', finish_reason: 'stop' },
      metadata: { provider: 'google', model: 'gemini-pro', input_tokens: 5, output_tokens: 3 },
    });
    expect(google.status).toBe(200);
    const logs = (await json(await get('/api/v1/logs?limit=500'))) as Array<Record<string, unknown>>;
    const byConversation = new Map(logs.map((l) => [l.conversation_id, l]));
    expect(byConversation.get((await json(anthropic)).conversation_id)).toMatchObject({
      alias: 'low_cost',
      provider: 'anthropic',
      cost: 0.000025,
      metadata: expect.objectContaining({ message_count: 4, model_alias: 'claude-3-haiku-20240307' }),
    });
    expect(byConversation.get((await json(google)).conversation_id)).toMatchObject({
      alias: null,
      metadata: expect.objectContaining({ model_alias: 'gemini-pro' }),
    });
  });

  test('test_log_conversation_missing_auth', async () => {
    const res = await post('/api/v1/conversations/log', { messages: [], response: {}, metadata: {} }, null);
    expect(res.status).toBe(401);
  });

  test('test_log_conversation_validates_schema: refused (400 here, where FastAPI said 422)', async () => {
    const res = await post('/api/v1/conversations/log', { messages: [{ role: 'user', content: 'Hello' }] });
    expect(res.status).toBe(400);
    expect((await json(res)).field).toBe('metadata.provider');
  });
});

describe('tests/test_receipts_phase7.py (llmring-server-0.1.2)', () => {
  test('test_get_public_key_endpoints', async () => {
    const pem = await (await get('/api/v1/receipts/public-key.pem', null)).text();
    expect(pem).toContain('BEGIN PUBLIC KEY');
    expect(pem).toContain('END PUBLIC KEY');
    const set = await json(await get('/api/v1/receipts/public-keys.json', null));
    expect(set).toHaveProperty('keys');
    expect(set).toHaveProperty('current_key_id');
    expect(set.keys[0].algorithm).toBe('Ed25519');
    expect(set.keys[0].format).toBe('base64url');
  });

  test('test_verify_receipt_endpoint: valid, then invalid after changing the cost', async () => {
    const logged = await json(
      await post('/api/v1/conversations/log', {
        messages: [{ role: 'user', content: 'Hello' }],
        response: { content: 'Hi there!', model: 'gpt-4', finish_reason: 'stop' },
        metadata: {
          provider: 'openai',
          model: 'gpt-4',
          alias: 'chatbot',
          profile: 'default',
          input_tokens: 10,
          output_tokens: 5,
          input_cost: 0.0001,
          output_cost: 0.0002,
        },
      }),
    );
    expect(logged.receipt_id).toMatch(/^rcpt_/);
    expect(logged.receipt).toMatchObject({ alias_name: 'chatbot', provider: 'openai', model_used: 'gpt-4' });
    expect(logged.receipt.signature).toMatch(/^ed25519:/);
    const valid = await json(await post('/api/v1/receipts/verify', logged.receipt, null));
    expect(valid).toMatchObject({ valid: true, receipt_id: logged.receipt_id, algorithm: 'Ed25519' });
    const tampered = { ...logged.receipt, cost: { ...logged.receipt.cost, amount: '999.99000000' } };
    const invalid = await post('/api/v1/receipts/verify', tampered, null);
    expect(invalid.status).toBe(200);
    expect((await json(invalid)).valid).toBe(false);
  });
});

describe('keys made by `llmring server init` (llmr_pk_ + 32 hex digits)', () => {
  const clientKey = (n: number) => `llmr_pk_${n.toString(16).padStart(32, '0')}`;

  test('refused by default: the server does not know them', async () => {
    const res = await llmringClient(server.baseUrl, clientKey(1)).post('/api/v1/log', {
      model: 'gpt-4o-mini',
      provider: 'openai',
      input_tokens: 1,
      output_tokens: 1,
    });
    expect(res.status).toBe(401);
  });

  describe('with LLMRING_ACCEPT_CLIENT_KEYS=true', () => {
    let open: TestServer;
    beforeAll(async () => {
      open = await startTestServer({ LLMRING_ACCEPT_CLIENT_KEYS: 'true' });
    });
    afterAll(() => open?.close());

    const log = (key: string) =>
      llmringClient(open.baseUrl, key).post('/api/v1/log', {
        model: 'gpt-4o-mini',
        provider: 'openai',
        input_tokens: 100,
        output_tokens: 10,
        origin: 'llmring',
      });
    const projectsNow = async () =>
      dataOf(await open.gql('{ projects { id key name } }', {}, asAdmin)).projects as Array<{
        id: string;
        key: string;
        name: string;
      }>;

    test('a new key creates its own project on first use (at once, twice: one project), and sees only it', async () => {
      const before = await projectsNow();
      const [a, b] = await Promise.all([log(clientKey(2)), log(clientKey(2))]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const after = await projectsNow();
      expect(after).toHaveLength(before.length + 1);
      const created = after.find((p) => !before.some((q) => q.id === p.id))!;
      expect(created.key).toMatch(/^client-[a-z2-7]{8}$/);
      expect(created.name).toBe(`Client key ${clientKey(2).slice(0, 12)}…`);
      expect(created.name).not.toContain(clientKey(2).slice(12));
      expect(a.json.receipt.project_key).toBe(created.key);

      const third = await log(clientKey(2));
      expect(third.json.receipt.project_key).toBe(created.key);
      const logs = await llmringClient(open.baseUrl, clientKey(2)).get('/api/v1/logs');
      expect(logs.json).toHaveLength(3);
      // Another client key: another project, which does not see the first one's calls.
      await log(clientKey(3));
      expect((await llmringClient(open.baseUrl, clientKey(3)).get('/api/v1/logs')).json).toHaveLength(1);
      // The first project's own key (created at start) sees none of them.
      expect((await llmringClient(open.baseUrl, open.firstKey).get('/api/v1/logs')).json).toHaveLength(0);
    });

    test('a revoked client key stays revoked: no new project', async () => {
      await log(clientKey(4));
      const projects = await projectsNow();
      const keys = dataOf(
        await open.gql(
          'query($p: UUID!) { project(id: $p) { apiKeys { id } } }',
          { p: projects[projects.length - 1].id },
          asAdmin,
        ),
      ).project.apiKeys as Array<{ id: string }>;
      dataOf(
        await open.gql('mutation($id: UUID!) { revokeApiKey(id: $id) { id } }', { id: keys[0].id }, asAdmin),
      );
      expect((await log(clientKey(4))).status).toBe(401);
      expect(await projectsNow()).toHaveLength(projects.length);
    });

    test('other keys are not adopted: a server key never seen, or one of another format', async () => {
      expect((await log('lrs_unknownkeyunknownkeyunknownkey')).status).toBe(401);
      expect((await log(`llmr_pk_${'A'.repeat(32)}`)).status).toBe(401);
    });
  });
});
