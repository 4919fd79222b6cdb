/**
 * Observability over HTTP: Prometheus metrics at /metrics (requests and latency by route and
 * GraphQL operation, logUsage outcomes, the connection pool, process metrics; one registry
 * per server), and the request log lines (request id, project key, operation, duration),
 * which never contain a secret.
 */
import Fastify from 'fastify';
import { registerMetrics } from '../src/http/metrics';
import { ADMIN_TOKEN, asAdmin, startTestServer, withKey, type TestServer } from './helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const LOG_USAGE = `mutation Log($input: LogUsageInput!) { logUsage(input: $input) { replayed usageLog { id } } }`;
const input = (extra: Record<string, unknown> = {}) => ({
  provider: 'openai',
  model: 'gpt-4o',
  aliasName: 'summarizer',
  inputTokens: 100,
  outputTokens: 10,
  ...extra,
});

async function scrape(s: TestServer): Promise<string> {
  const res = await s.http('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

/** The value of one sample, e.g. sample(text, 'llmring_usage_logs_total{outcome="stored"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('metrics count requests by route and operation, usage outcomes, the pool and the process', async () => {
  const key = withKey(server.firstKey);
  expect((await server.gql(LOG_USAGE, { input: input() }, key)).body.data?.logUsage.replayed).toBe(false);
  const again = { input: input({ idempotencyKey: 'k-1' }) };
  await server.gql(LOG_USAGE, again, key);
  expect((await server.gql(LOG_USAGE, again, key)).body.data?.logUsage.replayed).toBe(true);
  const rejected = await server.gql(LOG_USAGE, { input: input({ inputTokens: -1 }) }, key);
  expect(rejected.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  // Refused by the service itself (past the schema): counted once, by the service's wrapper.
  const refused = await server.gql(
    LOG_USAGE,
    { input: input({ inputTokens: 1, cachedInputTokens: 2 }) },
    key,
  );
  expect(refused.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  expect((refused.body.errors?.[0] as { path?: string[] } | undefined)?.path).toEqual(['logUsage']);
  const rest = await server.http('/api/v1/log', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...key },
    body: JSON.stringify({ model: 'gpt-4o', provider: 'openai', input_tokens: 5, output_tokens: 1 }),
  });
  expect(rest.status).toBe(200);
  await server.gql('{ usageStats { summary { requests } } projects { key } }', {}, asAdmin);

  const text = await scrape(server);
  expect(sample(text, 'llmring_usage_logs_total{outcome="stored"}')).toBe(3);
  expect(sample(text, 'llmring_usage_logs_total{outcome="replayed"}')).toBe(1);
  expect(sample(text, 'llmring_usage_logs_total{outcome="rejected"}')).toBe(2);
  expect(
    sample(text, 'llmring_graphql_operations_total{operation="mutation logUsage",outcome="success"}'),
  ).toBe(3);
  expect(
    sample(text, 'llmring_graphql_operations_total{operation="mutation logUsage",outcome="error"}'),
  ).toBe(2);
  expect(
    sample(text, 'llmring_graphql_operations_total{operation="query projects,usageStats",outcome="success"}'),
  ).toBe(1);
  expect(
    sample(text, 'llmring_graphql_operation_duration_seconds_count{operation="mutation logUsage"}'),
  ).toBe(5);
  expect(
    sample(text, 'llmring_http_requests_total{method="POST",route="/api/v1/log",status_code="200"}'),
  ).toBe(1);
  // The rejected variables answer 400, as Apollo answers invalid variables; the service's
  // refusal is an execution error in a 200 response.
  expect(sample(text, 'llmring_http_requests_total{method="POST",route="/graphql",status_code="200"}')).toBe(
    5,
  );
  expect(sample(text, 'llmring_http_requests_total{method="POST",route="/graphql",status_code="400"}')).toBe(
    1,
  );
  expect(
    sample(
      text,
      'llmring_http_request_duration_seconds_count{method="POST",route="/api/v1/log",status_code="200"}',
    ),
  ).toBe(1);
  expect(sample(text, 'llmring_db_pool_max_connections')).toBe(server.app.config.database.poolMax);
  expect(sample(text, 'llmring_db_pool_pending_acquires')).toBe(0);
  expect(sample(text, 'llmring_ingest_calls_pending')).toBe(0); // every call above has been answered
  expect(sample(text, 'llmring_db_pool_used_connections')).toBeGreaterThanOrEqual(0);
  expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  expect(text).toMatch(/^llmring_database_info\{kind="(pglite|postgres)"\} 1$/m);
});

test('each server keeps its own registry', async () => {
  // With prom-client's global registry, registering the metrics a second time in one process
  // would throw ("already registered") and both servers would share counts.
  const other = Fastify();
  await registerMetrics(other, { services: server.app.services });
  const address = await other.listen({ port: 0, host: '127.0.0.1' });
  const text = await (await fetch(`${address}/metrics`)).text();
  expect(text).toContain('# TYPE llmring_http_requests_total counter');
  expect(text).not.toMatch(/^llmring_http_requests_total\{/m);
  expect(sample(await scrape(server), 'llmring_usage_logs_total{outcome="stored"}')).toBe(3);
  await other.close();
});

test('request logs carry request id, project key, operation and duration, and never a secret', async () => {
  // A second key's secret exists only in the createApiKey response; it must not be logged either.
  const created = await server.gql(
    'mutation { createApiKey(projectId: "00000000-0000-0000-0000-000000000000", name: "x") { secret } }',
    {},
    asAdmin,
  );
  expect(created.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  const res = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'trace-42', ...withKey(server.firstKey) },
    body: JSON.stringify({ query: LOG_USAGE, variables: { input: input() }, operationName: 'Log' }),
  });
  expect(res.headers.get('x-request-id')).toBe('trace-42');
  await server.gql('{ currentProject { key } }', {}, withKey('lrs_wrong-secret-value'));
  await server.http('/api/v1/stats', { headers: { 'X-Project-Key': server.firstKey } });

  const lines = server
    .logs()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const completed = lines.filter((l) => l.msg === 'request completed');
  expect(completed.find((l) => l.reqId === 'trace-42')).toMatchObject({
    method: 'POST',
    route: '/graphql',
    statusCode: 200,
    operation: 'mutation logUsage',
    operationName: 'Log',
    projectKey: 'default',
    durationMs: expect.any(Number),
  });
  expect(completed).toContainEqual(
    expect.objectContaining({ operation: 'mutation createApiKey', admin: true, errors: ['NOT_FOUND'] }),
  );
  expect(completed).toContainEqual(expect.objectContaining({ route: '/graphql', statusCode: 401 }));
  expect(completed).toContainEqual(
    expect.objectContaining({ route: '/api/v1/stats', statusCode: 200, projectKey: 'default' }),
  );
  // Scrapes and probes stay out of the info-level log.
  expect(completed.find((l) => l.route === '/metrics')).toBeUndefined();

  const text = server.logs();
  expect(text).not.toContain(server.firstKey);
  expect(text).not.toContain('lrs_wrong-secret-value');
  expect(text).not.toContain(ADMIN_TOKEN);
});
