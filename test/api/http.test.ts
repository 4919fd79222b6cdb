/**
 * The HTTP surface: the GraphQL-over-HTTP audit of graphql-http (every MUST), the Apollo
 * Sandbox landing page and introspection in development and their absence in production,
 * CSRF prevention, the probes, and the absence of any alias or sync API.
 */
import Fastify from 'fastify';
import knex from 'knex';
import { serverAudits } from 'graphql-http';
import { registerHealth } from '../../src/http/health';
import {
  createProjectWithKey,
  dataOf,
  errorCodes,
  startSiblingServer,
  startTestServer,
  withKey,
  type TestServer,
} from '../helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ LLMRING_ENV: 'development' });
});
afterAll(() => server?.close());

describe('graphql-http server audits', () => {
  // Every request of the audit carries a project key, as a real client's would.
  const fetchWithKey = (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    headers.set('x-api-key', server.firstKey);
    return fetch(input, { ...init, headers });
  };
  const audits = serverAudits({ url: () => server.url, fetchFn: fetchWithKey });

  test('the audit suite is not empty', () => {
    expect(audits.filter((a) => a.name.startsWith('MUST')).length).toBeGreaterThan(10);
  });

  test.each(audits.filter((a) => a.name.startsWith('MUST')).map((a) => [`${a.id} ${a.name}`, a] as const))(
    '%s',
    async (_name, audit) => {
      const result = await audit.fn();
      const failure =
        result.status === 'ok'
          ? null
          : { reason: result.reason, status: result.response.status, body: await result.response.text() };
      expect(failure).toBeNull();
    },
  );
});

describe('Apollo Sandbox and introspection in development', () => {
  test('a browser opening /graphql gets the embedded Sandbox, pointed at this endpoint with an X-API-Key header to fill in', async () => {
    const res = await server.http('/graphql', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('embeddable-sandbox');
    expect(html).toContain('window.location.href');
    expect(html).toContain('X-API-Key');
    expect(html).toContain('usageStats');
  });

  test('introspection works, and the schema has no alias or sync type or operation', async () => {
    const res = await server.gql(
      `{ __schema {
        types { name }
        queryType { fields { name } }
        mutationType { fields { name } }
      } }`,
    );
    const schema = dataOf(res).__schema;
    const typeNames = schema.types.map((t: { name: string }) => t.name);
    expect(typeNames).toEqual(
      expect.arrayContaining(['Query', 'Mutation', 'UsageLog', 'Receipt', 'Project']),
    );
    expect(typeNames.filter((n: string) => /alias|sync|lockfile/i.test(n) && n !== 'AliasUsage')).toEqual([]);
    expect(typeNames).not.toContain('Alias');
    const operations = [...schema.queryType.fields, ...schema.mutationType.fields].map(
      (f: { name: string }) => f.name,
    );
    expect(operations.filter((n: string) => /alias|sync/i.test(n))).toEqual([]);
    expect(operations.sort()).toEqual(
      expect.arrayContaining([
        'archiveProject',
        'createApiKey',
        'createProject',
        'currentProject',
        'logUsage',
        'logUsageBatch',
        'modelPricing',
        'project',
        'projects',
        'receipt',
        'receiptPublicKeys',
        'receipts',
        'revokeApiKey',
        'updateProject',
        'usageLogs',
        'usageStats',
        'verifyReceipt',
      ]),
    );
  });
});

describe('LLMRING_ENV=production', () => {
  // The same app served with production settings, and with introspection turned back on.
  let production: TestServer;
  let introspectable: TestServer;
  beforeAll(async () => {
    production = await startSiblingServer(server, { LLMRING_ENV: 'production' });
    introspectable = await startSiblingServer(server, {
      LLMRING_ENV: 'production',
      LLMRING_INTROSPECTION: 'true',
    });
  });
  afterAll(async () => {
    await production?.close();
    await introspectable?.close();
  });

  test('a browser opening /graphql gets no landing page, even with introspection on', async () => {
    for (const s of [production, introspectable]) {
      const res = await s.http('/graphql', { headers: { accept: 'text/html' } });
      const body = await res.text();
      expect(res.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
      expect(body).not.toContain('embeddable-sandbox');
      expect(body).not.toMatch(/<html/i);
    }
  });

  test.each([
    ['__schema', '{ __schema { mutationType { fields { name } } } }'],
    ['__type', '{ __type(name: "Mutation") { fields { name } } }'],
  ])('an introspection query (%s) fails, unless LLMRING_INTROSPECTION=true', async (_name, query) => {
    const res = await production.gql(query, {}, withKey(server.firstKey));
    expect(errorCodes(res)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(res.body.errors![0].message).toMatch(/introspection/i);
    expect(JSON.stringify(res.body)).not.toContain('logUsage');

    const allowed = await introspectable.gql(query, {}, withKey(server.firstKey));
    expect(JSON.stringify(dataOf(allowed))).toContain('logUsage');
  });

  test('operations, __typename and CSRF prevention work as in development', async () => {
    const res = await production.gql('{ __typename currentProject { key } }', {}, withKey(server.firstKey));
    expect(dataOf(res)).toEqual({ __typename: 'Query', currentProject: { key: 'default' } });
    expect((await production.http('/graphql?query=%7B__typename%7D')).status).toBe(400);
  });
});

describe('CSRF prevention', () => {
  test('a GET query without content-type or preflight header is blocked with 400', async () => {
    const res = await server.http('/graphql?query=%7B__typename%7D');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { data?: unknown; errors: Array<{ message: string }> };
    expect(body.errors[0].message).toMatch(/Cross-Site Request Forgery|CSRF/);
    expect(body.data).toBeUndefined();
  });

  test('the same GET with apollo-require-preflight (or a JSON content-type) is served', async () => {
    for (const headers of [
      { 'apollo-require-preflight': 'true' },
      { 'content-type': 'application/json' },
    ] as Array<Record<string, string>>) {
      const res = await server.http('/graphql?query=%7B__typename%7D', { headers });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
    }
  });

  test('a mutation is never executed from a GET, nor from a simple cross-site form or text POST', async () => {
    const project = await createProjectWithKey(server, 'csrf-target');
    const mutation =
      'mutation { logUsage(input: { provider: "openai", model: "gpt-4.1", inputTokens: 1, outputTokens: 1 }) { replayed } }';
    const get = await server.http(`/graphql?query=${encodeURIComponent(mutation)}`, {
      headers: { 'apollo-require-preflight': 'true', ...withKey(project.secret) },
    });
    expect(get.status).toBe(405);
    for (const [type, body] of [
      ['text/plain', JSON.stringify({ query: mutation })],
      ['application/x-www-form-urlencoded', `query=${encodeURIComponent(mutation)}`],
      [
        'multipart/form-data; boundary=x',
        `--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n${mutation}\r\n--x--\r\n`,
      ],
    ]) {
      const res = await server.http('/graphql', {
        method: 'POST',
        headers: { 'content-type': type, ...withKey(project.secret) },
        body,
      });
      expect({ type, status: res.status >= 400 && res.status < 500 }).toEqual({ type, status: true });
    }
    const stats = await server.gql('{ usageStats { summary { requests } } }', {}, withKey(project.secret));
    expect(dataOf(stats).usageStats.summary.requests).toBe(0);
  });
});

describe('probes', () => {
  test('GET /health is 200', async () => {
    const res = await server.http('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'healthy',
      database: 'connected',
      name: 'llmring-server',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
  });

  test('GET /health is 200 and unhealthy when the database does not answer (a closed port)', async () => {
    const app = Fastify();
    const db = knex({
      client: 'pg',
      connection: 'postgres://postgres@127.0.0.1:1/none',
      pool: { min: 0, max: 1 },
    });
    try {
      await registerHealth(app, { db });
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
      const res = await fetch(`${address}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'unhealthy', database: 'disconnected' });
    } finally {
      await app.close();
      await db.destroy();
    }
  });

  test('GET /ready is 200 on a migrated database, 503 while a migration is pending', async () => {
    const ready = await server.http('/ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });

    // Forget the newest migration for a moment, as if the code were ahead of the database.
    const db = server.app.db;
    const [latest] = await db('knex_migrations').orderBy('id', 'desc').limit(1);
    await db('knex_migrations').where({ id: latest.id }).delete();
    try {
      const pending = await server.http('/ready');
      expect(pending.status).toBe(503);
      expect(await pending.json()).toMatchObject({ status: 'not ready' });
    } finally {
      await db('knex_migrations').insert(latest);
    }
    expect((await server.http('/ready')).status).toBe(200);
  });
});

describe('no alias or sync API', () => {
  test.each([
    ['GET', '/aliases'],
    ['POST', '/aliases'],
    ['GET', '/aliases/summarizer'],
    ['POST', '/sync/push'],
    ['GET', '/sync/pull'],
    ['POST', '/sync/pull'],
    ['GET', '/sync/status'],
    ['GET', '/api/v1/aliases'],
    ['POST', '/api/v1/aliases'],
    ['POST', '/api/v1/sync/push'],
    ['GET', '/api/v1/sync/pull'],
  ])('%s %s is 404', async (method, path) => {
    const res = await server.http(path, {
      method,
      headers: { 'content-type': 'application/json', ...withKey(server.firstKey) },
      body: method === 'POST' ? '{}' : undefined,
    });
    expect(res.status).toBe(404);
  });

  test('a GraphQL alias or sync operation does not exist', async () => {
    for (const query of [
      '{ aliases { name } }',
      'mutation { createAlias(input: { name: "x", model: "y" }) { name } }',
      'mutation { syncPush(lockfile: "x") { ok } }',
    ]) {
      const res = await server.gql(query, {}, withKey(server.firstKey));
      expect({ query, codes: errorCodes(res) }).toEqual({ query, codes: ['GRAPHQL_VALIDATION_FAILED'] });
    }
  });
});
