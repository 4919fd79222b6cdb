/**
 * Rate limits across two server instances on one Postgres database, as behind a load balancer:
 * a key's logs count on both, and once it is over its limit it gets 429 on every instance. Each
 * instance serves calls from tokens it leased from the shared counter: under concurrency on
 * both, the two together never admit more than the limit, and a small limit is exact however
 * the calls spread.
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

const BATCH2 = `mutation { logUsageBatch(inputs: [
  { provider: "openai", model: "gpt-4o", inputTokens: 1, outputTokens: 1 },
  { provider: "openai", model: "gpt-4o", inputTokens: 1, outputTokens: 1 }]) { results { usageLog { id } } } }`;

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

  const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  /** A new project with its own limits (set on one instance; the other reads them first hand), and a key's headers. */
  async function projectWithLimits(
    key: string,
    limits: object,
  ): Promise<{ id: string; headers: Record<string, string> }> {
    const project = await post(
      bases[0],
      admin,
      `mutation { createProject(input: {key: "${key}", name: "${key}"}) { id } }`,
    );
    const id = project.body.data.createProject.id;
    const set = await post(
      bases[0],
      admin,
      'mutation($p: UUID!, $i: RateLimitsInput!) { setProjectRateLimits(projectId: $p, input: $i) { id } }',
      { p: id, i: limits },
    );
    expect(set.body.errors).toBeUndefined();
    const created = await post(
      bases[1],
      admin,
      `mutation { createApiKey(projectId: "${id}", name: "k") { secret } }`,
    );
    return { id, headers: { 'X-API-Key': created.body.data.createApiKey.secret } };
  }
  const storedOf = async (projectId: string) =>
    Number(
      (await instances.database.db('usage_logs').where({ project_id: projectId }).count({ n: '*' }))[0].n,
    );
  async function freshMinute(): Promise<void> {
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 20_000) await new Promise((resolve) => setTimeout(resolve, left + 200));
  }

  test('under concurrency on both instances a limit admits exactly its count, never more', async () => {
    const L = 100; // leases of up to 6 tokens
    const { id, headers } = await projectWithLimits('concurrent', { keyLogsPerMinute: L });
    await freshMinute();
    let admitted = 0;
    for (let round = 0; round < 20; round++) {
      const answers = await Promise.all(
        Array.from({ length: 24 }, (_, i) => post(bases[i % 2], headers, LOG)),
      );
      for (const a of answers) {
        if (a.status !== 200) {
          expect(a.status).toBe(429);
          expect(a.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'key_logs' });
        }
      }
      const ok = answers.filter((a) => a.status === 200).length;
      admitted += ok;
      expect(admitted).toBeLessThanOrEqual(L);
      if (ok === 0) break;
    }
    // An instance refuses only when it holds no token and the window is spent: once both
    // refuse, every token leased was used.
    expect(admitted).toBe(L);
    expect(await storedOf(id)).toBe(L);
  });

  test('a small limit is exact however the calls spread over the instances', async () => {
    const { headers } = await projectWithLimits('small', { keyRequestsPerSecond: 5 });
    const statuses = async (base: string, n: number) =>
      (
        await Promise.all(Array.from({ length: n }, () => post(base, headers, '{ currentProject { id } }')))
      ).map((a) => a.status);
    const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1020 - (Date.now() % 1000)));
    await nextSecond();
    expect(await statuses(bases[0], 5)).toEqual(Array(5).fill(200));
    // The next second the first instance has seen a demand of 5: had it leased for that demand
    // (more than each call needs), it would hold tokens that the second could not use.
    await nextSecond();
    expect(await statuses(bases[0], 1)).toEqual([200]);
    expect(await statuses(bases[1], 4)).toEqual(Array(4).fill(200));
    for (const base of bases) expect(await statuses(base, 1)).toEqual([429]);
  });

  test('a call refused by one limit takes nothing from the others', async () => {
    const { id, headers: first } = await projectWithLimits('refused', {
      keyLogsPerMinute: 2,
      projectLogsPerMinute: 3,
    });
    const created = await post(
      bases[1],
      admin,
      `mutation { createApiKey(projectId: "${id}", name: "b") { secret } }`,
    );
    const second = { 'X-API-Key': created.body.data.createApiKey.secret };
    await freshMinute();
    for (let i = 0; i < 2; i++) expect((await post(bases[1], second, LOG)).status).toBe(200);
    // The first instance does not know that the project has 1 log left: its statement leases
    // the key's 2 tokens and none of the project's, and the batch is refused...
    const refused = await post(bases[0], first, BATCH2);
    expect(refused.status).toBe(429);
    expect(refused.body.errors[0].extensions.limit).toBe('project_logs');
    // ...without spending the key's tokens: the key still logs, up to the project's limit.
    expect((await post(bases[0], first, LOG)).status).toBe(200);
    const spent = await post(bases[0], first, LOG);
    expect(spent.body.errors[0].extensions.limit).toBe('project_logs');
    expect(await storedOf(id)).toBe(3);
  });

  test('a key gets 429 on every instance once its logs on both reach the limit; nothing more is stored', async () => {
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
