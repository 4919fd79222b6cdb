/**
 * Rate limits over HTTP: a key or project over its logs-per-minute or requests-per-second
 * limit gets RATE_LIMITED, HTTP 429 with Retry-After, on GraphQL and REST, and nothing of the
 * refused call is stored; limits are set per project (audited) over the server's defaults, and
 * refusals are counted in /metrics. Fixed windows: each test starts early in a minute, and the
 * requests-per-second test asserts what holds across at most two one-second windows.
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

beforeAll(async () => {
  server = await startTestServer({ LLMRING_RATE_LIMIT_PROJECT_LOGS_PER_MINUTE: '100000' });
});
afterAll(() => server?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits for the next minute when this one has less than 20 s left, so a test's calls share a window. */
async function freshMinute(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 20_000) await sleep(left + 200);
}

const SET_LIMITS = `mutation($p: UUID!, $i: RateLimitsInput!) { setProjectRateLimits(projectId: $p, input: $i) {
  rateLimits { keyRequestsPerSecond projectRequestsPerSecond keyLogsPerMinute projectLogsPerMinute } } }`;
const LOG = `mutation($a: String!) { logUsage(input: { provider: "openai", model: "gpt-4o", aliasName: $a,
  inputTokens: 1, outputTokens: 1 }) { usageLog { id } } }`;
const BATCH = `mutation($i: [LogUsageInput!]!) { logUsageBatch(inputs: $i) { results { usageLog { id } } } }`;

const stored = async (projectId: string) =>
  Number((await server.app.db('usage_logs').where({ project_id: projectId }).count({ n: '*' }))[0].n);
const restLog = (secret: string) =>
  server.http('/api/v1/log', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-API-Key': secret },
    body: JSON.stringify({ provider: 'openai', model: 'gpt-4o', input_tokens: 1, output_tokens: 1 }),
  });

async function gqlRaw(query: string, variables: Record<string, unknown>, headers: Record<string, string>) {
  const res = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read loosely typed JSON
  const body: any = await res.json();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
}

describe('logs per minute', () => {
  let p: TestProject;
  let other: string;

  beforeAll(async () => {
    p = await createProjectWithKey(server, 'limited-logs');
    other = dataOf(
      await server.gql(
        'mutation($p: UUID!) { createApiKey(projectId: $p, name: "second") { secret } }',
        { p: p.id },
        asAdmin,
      ),
    ).createApiKey.secret;
    const set = dataOf(await server.gql(SET_LIMITS, { p: p.id, i: { keyLogsPerMinute: 5 } }, asAdmin));
    expect(set.setProjectRateLimits.rateLimits).toEqual({
      keyRequestsPerSecond: 0,
      projectRequestsPerSecond: 0,
      keyLogsPerMinute: 5,
      projectLogsPerMinute: 100000,
    });
  });

  test('a key over its limit gets 429 with Retry-After on GraphQL and REST, and nothing is stored', async () => {
    await freshMinute();
    for (let i = 0; i < 3; i++) dataOf(await server.gql(LOG, { a: `ok-${i}` }, withKey(p.secret)));
    // A batch that would go over is refused whole, and does not count.
    const batch = await gqlRaw(
      BATCH,
      { i: [1, 2, 3].map(() => ({ provider: 'openai', model: 'gpt-4o', inputTokens: 1, outputTokens: 1 })) },
      withKey(p.secret),
    );
    expect(batch.status).toBe(429);
    expect(batch.body.errors.map((e: { extensions: { code: string } }) => e.extensions.code)).toEqual([
      'RATE_LIMITED',
    ]);
    for (let i = 3; i < 5; i++) dataOf(await server.gql(LOG, { a: `ok-${i}` }, withKey(p.secret)));
    const before = await stored(p.id);
    expect(before).toBe(5);

    const refused = await gqlRaw(LOG, { a: 'refused' }, withKey(p.secret));
    expect(refused.status).toBe(429);
    const error = refused.body.errors[0];
    expect(error.extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'key_logs' });
    expect(error.message).toMatch(/at most 5 usage logs per minute of this API key/);
    const retry = Number(refused.retryAfter);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(error.extensions.retryAfterSeconds).toBe(retry);

    const rest = await restLog(p.secret);
    expect(rest.status).toBe(429);
    expect(Number(rest.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await rest.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect(await stored(p.id)).toBe(before);

    // The limit is per key: the project's other key still logs.
    dataOf(await server.gql(LOG, { a: 'other-key' }, withKey(other)));
    // Reads are not logs.
    dataOf(await server.gql('{ usageLogs { edges { node { id } } } }', {}, withKey(p.secret)));
  });

  test('a project limit covers all its keys', async () => {
    const q = await createProjectWithKey(server, 'limited-project');
    const second = dataOf(
      await server.gql(
        'mutation($p: UUID!) { createApiKey(projectId: $p, name: "second") { secret } }',
        { p: q.id },
        asAdmin,
      ),
    ).createApiKey.secret;
    dataOf(await server.gql(SET_LIMITS, { p: q.id, i: { projectLogsPerMinute: 2 } }, asAdmin));
    await freshMinute();
    dataOf(await server.gql(LOG, { a: 'one' }, withKey(q.secret)));
    dataOf(await server.gql(LOG, { a: 'two' }, withKey(second)));
    for (const secret of [q.secret, second]) {
      const res = await gqlRaw(LOG, { a: 'three' }, withKey(secret));
      expect(res.status).toBe(429);
      expect(res.body.errors[0].extensions.limit).toBe('project_logs');
    }
    expect(await stored(q.id)).toBe(2);
  });

  test('refusals are counted in /metrics', async () => {
    const text = await (await server.http('/metrics')).text();
    const count = (limit: string) =>
      Number(new RegExp(`llmring_rate_limited_total\\{limit="${limit}"\\} (\\d+)`).exec(text)?.[1]);
    expect(count('key_logs')).toBeGreaterThanOrEqual(3);
    expect(count('project_logs')).toBeGreaterThanOrEqual(2);
    expect(count('key_requests')).toBe(0);
  });
});

describe('requests per second', () => {
  test('a key over its limit gets 429 with Retry-After 1; at most the limit per second gets through', async () => {
    const p = await createProjectWithKey(server, 'limited-rps');
    dataOf(await server.gql(SET_LIMITS, { p: p.id, i: { keyRequestsPerSecond: 2 } }, asAdmin));
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => gqlRaw('{ currentProject { id } }', {}, withKey(p.secret))),
    );
    const ok = answers.filter((a) => a.status === 200);
    const limited = answers.filter((a) => a.status === 429);
    expect(ok.length + limited.length).toBe(12);
    // The 12 requests take far less than a second: one window, or two if they cross an edge.
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length).toBeLessThanOrEqual(4);
    for (const a of limited) {
      expect(a.retryAfter).toBe('1');
      expect(a.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'key_requests' });
    }
  });
});

describe('leases (the limits are enforced from per-instance leases of tokens)', () => {
  test('concurrent logging calls of one key share lease statements', async () => {
    const p = await createProjectWithKey(server, 'shared-leases');
    const high = { keyRequestsPerSecond: 1_000_000, projectRequestsPerSecond: 1_000_000 };
    dataOf(
      await server.gql(
        SET_LIMITS,
        { p: p.id, i: { ...high, keyLogsPerMinute: 1e9, projectLogsPerMinute: 1e9 } },
        asAdmin,
      ),
    );
    let statements = 0;
    const onQuery = (q: { sql: string }) => {
      if (q.sql.includes('rate_counters')) statements++;
    };
    await freshMinute();
    server.app.db.on('query', onQuery);
    try {
      const answers = await Promise.all(
        Array.from({ length: 64 }, (_, i) => gqlRaw(LOG, { a: `burst-${i}` }, withKey(p.secret))),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(64).fill(200));
    } finally {
      server.app.db.off('query', onQuery);
    }
    // Each of the 64 calls checks 2 request and 2 logs limits: one statement per check was 128.
    expect(statements).toBeLessThanOrEqual(16);
    expect(await stored(p.id)).toBe(64);
  });
});

describe('setProjectRateLimits', () => {
  test('is admin only, refuses a negative limit naming it, returns a limit to the default with null, and is audited', async () => {
    const p = await createProjectWithKey(server, 'limits-admin');
    expect(
      errorCodes(await server.gql(SET_LIMITS, { p: p.id, i: { keyLogsPerMinute: 1 } }, withKey(p.secret))),
    ).toEqual(['FORBIDDEN']);
    const bad = await server.gql(SET_LIMITS, { p: p.id, i: { keyLogsPerMinute: -1 } }, asAdmin);
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors?.[0].extensions?.field).toBe('input.keyLogsPerMinute');
    dataOf(
      await server.gql(
        SET_LIMITS,
        { p: p.id, i: { projectLogsPerMinute: 7, keyRequestsPerSecond: 3 } },
        asAdmin,
      ),
    );
    const reset = dataOf(
      await server.gql(SET_LIMITS, { p: p.id, i: { projectLogsPerMinute: null } }, asAdmin),
    );
    expect(reset.setProjectRateLimits.rateLimits).toMatchObject({
      projectLogsPerMinute: 100000,
      keyRequestsPerSecond: 3,
    });
    const audit = dataOf(
      await server.gql('{ auditLog(first: 2) { action targetId details } }', {}, asAdmin),
    ).auditLog;
    expect(audit).toEqual([
      {
        action: 'setProjectRateLimits',
        targetId: p.id,
        details: { changes: { projectLogsPerMinute: null } },
      },
      {
        action: 'setProjectRateLimits',
        targetId: p.id,
        details: { changes: { projectLogsPerMinute: 7, keyRequestsPerSecond: 3 } },
      },
    ]);
  });
});
