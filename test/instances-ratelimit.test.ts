/**
 * Rate limits across two server instances on one Postgres database, as behind a load balancer:
 * a key's logs count on both, and once it is over its limit it gets 429 on every instance.
 * (The embedded PGlite database belongs to one process, so this runs on Postgres only.)
 */
import { onPostgres } from './helpers/db';
import { startInstances, type Instances } from './helpers/instances';
import { ADMIN_TOKEN } from './helpers/server';

const maybe = onPostgres ? describe : describe.skip;

async function post(base: string, headers: Record<string, string>, query: string, variables?: object) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read loosely typed JSON
  const body: any = await res.json();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body };
}

const LOG = `mutation { logUsage(input: { provider: "openai", model: "gpt-4o", inputTokens: 1, outputTokens: 1 }) {
  usageLog { id } } }`;

maybe('rate limits on two instances of one database', () => {
  let instances: Instances;
  let bases: string[];

  beforeAll(async () => {
    instances = await startInstances(2, {
      // The server's default, the same on both instances.
      LLMRING_RATE_LIMIT_KEY_LOGS_PER_MINUTE: '4',
    });
    bases = instances.bases;
  });

  afterAll(async () => {
    await instances?.close();
  });

  test('a key gets 429 on every instance once its logs on both reach the limit; nothing more is stored', async () => {
    const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const project = await post(
      bases[0],
      admin,
      'mutation { createProject(input: {key: "shared", name: "Shared"}) { id } }',
    );
    const projectId = project.body.data.createProject.id;
    const key = await post(
      bases[1],
      admin,
      `mutation { createApiKey(projectId: "${projectId}", name: "k") { secret } }`,
    );
    const headers = { 'X-API-Key': key.body.data.createApiKey.secret };

    // All calls in one minute's window.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 20_000) await new Promise((resolve) => setTimeout(resolve, left + 200));
    for (const base of [bases[0], bases[1], bases[0], bases[1]]) {
      const res = await post(base, headers, LOG);
      expect({ status: res.status, errors: res.body.errors }).toEqual({ status: 200, errors: undefined });
    }
    for (const base of bases) {
      const res = await post(base, headers, LOG);
      expect(res.status).toBe(429);
      expect(res.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'key_logs' });
      expect(Number(res.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    const [{ n }] = await instances.database
      .db('usage_logs')
      .where({ project_id: projectId })
      .count({ n: '*' });
    expect(Number(n)).toBe(4);
  });
});
