/**
 * Key scopes, expiry and rotation over HTTP, as clients see them: GraphQL and the REST routes
 * the llmring client uses. An INGEST-only key logs and reads nothing; a READ-only key reads and
 * stores nothing (FORBIDDEN naming the scope, 403 on REST); an expired key gets UNAUTHENTICATED
 * saying so; a rotated key's old secret works until the end of its overlap.
 */
import {
  asAdmin,
  createProjectWithKey,
  dataOf,
  errorCodes,
  startTestServer,
  withKey,
  type TestProject,
  type TestServer,
} from '../helpers/server';

let server: TestServer;
let project: TestProject;
let ingest: string;
let read: string;
let receiptId: string;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read loosely typed JSON
type Json = any;

async function rest(
  path: string,
  secret: string,
  body?: unknown,
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await server.http(path, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'X-API-Key': secret, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

const createKey = async (vars: Record<string, unknown>) =>
  server.gql(
    `mutation($p: UUID!, $s: [ApiKeyScope!], $e: DateTime) {
      createApiKey(projectId: $p, name: "scoped", scopes: $s, expiresAt: $e) {
        secret apiKey { id scopes expiresAt rotatedFrom } } }`,
    { p: project.id, ...vars },
    asAdmin,
  );

const storedLogs = async () =>
  Number((await server.app.db('usage_logs').where({ project_id: project.id }).count({ n: '*' }))[0].n);

const LOG = { provider: 'openai', model: 'gpt-4o', input_tokens: 10, output_tokens: 2 };
/** What llmring's conversation logging posts. */
const CONVERSATION = { messages: [], metadata: { provider: 'openai', model: 'gpt-4o' } };

beforeAll(async () => {
  server = await startTestServer();
  project = await createProjectWithKey(server, 'scoped');
  const i = dataOf(await createKey({ s: ['INGEST'] })).createApiKey;
  const r = dataOf(await createKey({ s: ['READ'] })).createApiKey;
  expect([i.apiKey.scopes, r.apiKey.scopes]).toEqual([['INGEST'], ['READ']]);
  ingest = i.secret;
  read = r.secret;
  const logged = await rest('/api/v1/log', project.secret, LOG);
  expect(logged.status).toBe(200);
  receiptId = logged.body.receipt_id;
});
afterAll(() => server?.close());

describe('an INGEST-only key', () => {
  it('logs over REST and GraphQL', async () => {
    const before = await storedLogs();
    expect((await rest('/api/v1/log', ingest, LOG)).status).toBe(200);
    expect((await rest('/api/v1/conversations/log', ingest, CONVERSATION)).status).toBe(200);
    dataOf(
      await server.gql(
        'mutation { logUsage(input: { provider: "openai", model: "gpt-4o", inputTokens: 1, outputTokens: 1 }) { usageLog { id } } }',
        {},
        withKey(ingest),
      ),
    );
    expect(await storedLogs()).toBe(before + 3);
  });

  it.each(['/api/v1/stats', '/api/v1/logs', '/api/v1/stats?group_by=nonsense'])(
    'gets 403 naming READ from GET %s',
    async (path) => {
      const res = await rest(path, ingest);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('FORBIDDEN');
      expect(res.body.detail).toMatch(/lacks the READ scope/);
    },
  );

  it('gets 403 for a receipt of its own project, and FORBIDDEN for every read in GraphQL', async () => {
    const res = await rest(`/api/v1/receipts/${receiptId}`, ingest);
    expect(res.status).toBe(403);
    for (const query of [
      '{ currentProject { id } }',
      '{ usageLogs { edges { node { id } } } }',
      '{ usageStats { summary { requests } } }',
      '{ metadataDimensions }',
      `{ modelPricing(projectId: "${project.id}") { model } }`,
    ]) {
      const answer = await server.gql(query, {}, withKey(ingest));
      expect({ query, codes: errorCodes(answer) }).toEqual({ query, codes: ['FORBIDDEN'] });
      expect(answer.body.errors?.[0].message).toMatch(/lacks the READ scope/);
    }
  });

  it("still reads what is public: the registry's prices", async () => {
    const answer = dataOf(
      await server.gql('{ modelPricing(provider: "openai") { model } }', {}, withKey(ingest)),
    );
    expect(answer.modelPricing.length).toBeGreaterThan(0);
  });
});

describe('a READ-only key', () => {
  it('reads its project over REST and GraphQL', async () => {
    const stats = await rest('/api/v1/stats', read);
    expect(stats.status).toBe(200);
    expect((await rest(`/api/v1/receipts/${receiptId}`, read)).status).toBe(200);
    const logs = dataOf(await server.gql('{ usageLogs { edges { node { id } } } }', {}, withKey(read)));
    expect(logs.usageLogs.edges.length).toBeGreaterThan(0);
  });

  it('stores nothing: 403 from REST /api/v1/log and conversations, FORBIDDEN from logUsage(Batch)', async () => {
    const before = await storedLogs();
    for (const path of ['/api/v1/log', '/api/v1/conversations/log']) {
      const res = await rest(path, read, path.includes('conversations') ? CONVERSATION : LOG);
      expect({ path, status: res.status, code: res.body.code }).toEqual({
        path,
        status: 403,
        code: 'FORBIDDEN',
      });
      expect(res.body.detail).toMatch(/lacks the INGEST scope/);
    }
    // An invalid body too: refused for the scope, before it is read.
    expect((await rest('/api/v1/log', read, { provider: 5 })).status).toBe(403);
    for (const query of [
      'mutation { logUsage(input: { provider: "openai", model: "gpt-4o", inputTokens: 1, outputTokens: 1 }) { usageLog { id } } }',
      'mutation { logUsageBatch(inputs: [{ provider: "openai", model: "gpt-4o", inputTokens: 1, outputTokens: 1 }]) { results { receipt { receiptId } } } }',
    ]) {
      expect(errorCodes(await server.gql(query, {}, withKey(read)))).toEqual(['FORBIDDEN']);
    }
    expect(await storedLogs()).toBe(before);
  });
});

describe('createApiKey', () => {
  it('shows the scopes, expiry and origin of every key', async () => {
    const answer = dataOf(
      await server.gql(
        'query($id: UUID!) { project(id: $id) { apiKeys { scopes expiresAt rotatedFrom } } }',
        { id: project.id },
        asAdmin,
      ),
    );
    expect(answer.project.apiKeys).toEqual([
      { scopes: ['INGEST', 'READ'], expiresAt: null, rotatedFrom: null },
      { scopes: ['INGEST'], expiresAt: null, rotatedFrom: null },
      { scopes: ['READ'], expiresAt: null, rotatedFrom: null },
    ]);
  });

  it('refuses no scope and a past expiry, naming the argument', async () => {
    for (const [vars, field] of [
      [{ s: [] }, 'scopes'],
      [{ e: new Date(Date.now() - 1000).toISOString() }, 'expiresAt'],
    ] as const) {
      const answer = await createKey(vars);
      expect(errorCodes(answer)).toEqual(['BAD_USER_INPUT']);
      expect(answer.body.errors?.[0].extensions?.field).toBe(field);
    }
  });
});

describe('an expired key', () => {
  it('gets 401 saying it expired, with no secret in the answer, on GraphQL and REST', async () => {
    const created = dataOf(
      await createKey({ e: new Date(Date.now() + 3_600_000).toISOString() }),
    ).createApiKey;
    dataOf(await server.gql('{ currentProject { id } }', {}, withKey(created.secret))); // cached now
    // The hour passes (the expiry is moved back rather than the clock forward).
    const expiredAt = new Date(Date.now() - 1000);
    await server.app.db('api_keys').where({ id: created.apiKey.id }).update({ expires_at: expiredAt });
    server.app.services.apiKeys.clearCache();
    const answer = await server.gql('{ currentProject { id } }', {}, withKey(created.secret));
    expect(answer.status).toBe(401);
    expect(errorCodes(answer)).toEqual(['UNAUTHENTICATED']);
    expect(answer.body.errors?.[0].message).toContain(`expired at ${expiredAt.toISOString()}`);
    const res = await rest('/api/v1/log', created.secret, LOG);
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/expired/);
    for (const text of [JSON.stringify(answer.body), JSON.stringify(res.body)]) {
      expect(text).not.toContain(created.secret);
    }
  });
});

describe('rotateApiKey', () => {
  const ROTATE = `mutation($id: UUID!, $o: Duration!) { rotateApiKey(id: $id, overlap: $o) {
    secret apiKey { id name scopes rotatedFrom expiresAt } previous { id expiresAt } } }`;

  it('returns a new secret of the same name and scopes; both work during the overlap', async () => {
    const old = dataOf(await createKey({ s: ['INGEST'] })).createApiKey;
    expect((await rest('/api/v1/log', old.secret, LOG)).status).toBe(200);
    const before = Date.now();
    const rotated = dataOf(await server.gql(ROTATE, { id: old.apiKey.id, o: 'PT1H' }, asAdmin)).rotateApiKey;
    expect(rotated.apiKey).toMatchObject({ name: 'scoped', scopes: ['INGEST'], rotatedFrom: old.apiKey.id });
    const end = Date.parse(rotated.previous.expiresAt);
    expect(end).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(end).toBeLessThanOrEqual(Date.now() + 3_600_000);
    for (const secret of [old.secret, rotated.secret])
      expect((await rest('/api/v1/log', secret, LOG)).status).toBe(200);
    expect((await rest('/api/v1/stats', rotated.secret)).status).toBe(403); // scopes carried over
    // Rotated once: the old key cannot be rotated again.
    const again = await server.gql(ROTATE, { id: old.apiKey.id, o: 'PT1H' }, asAdmin);
    expect(errorCodes(again)).toEqual(['BAD_USER_INPUT']);
    expect(again.body.errors?.[0].extensions?.field).toBe('id');
  });

  it('with PT0S stops the old secret at once', async () => {
    const old = dataOf(await createKey({})).createApiKey;
    expect((await rest('/api/v1/stats', old.secret)).status).toBe(200);
    const rotated = dataOf(await server.gql(ROTATE, { id: old.apiKey.id, o: 'PT0S' }, asAdmin)).rotateApiKey;
    expect((await rest('/api/v1/stats', old.secret)).status).toBe(401);
    expect((await rest('/api/v1/stats', rotated.secret)).status).toBe(200);
  });

  it('refuses a bad overlap naming it, and is for admins only', async () => {
    const old = dataOf(await createKey({})).createApiKey;
    const bad = await server.gql(ROTATE, { id: old.apiKey.id, o: 'one hour' }, asAdmin);
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors?.[0].extensions?.field).toBe('overlap');
    expect(
      errorCodes(await server.gql(ROTATE, { id: old.apiKey.id, o: 'PT1H' }, withKey(old.secret))),
    ).toEqual(['FORBIDDEN']);
  });
});
