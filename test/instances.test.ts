/**
 * Two server instances on one Postgres database, as behind a load balancer: usage logged on
 * both is counted once by either, their rollup workers share the work without double
 * counting, and a key revoked through one stops working on the other within seconds.
 * (The embedded PGlite database belongs to one process, so this runs on Postgres only.)
 */
import { loadConfig } from '../src/config';
import { createApp, type App } from '../src/app';
import { createLogger } from '../src/logger';
import { createTestDatabase, onPostgres, type TestDatabase } from './helpers/db';
import { startInstances, type Instances } from './helpers/instances';
import { ADMIN_TOKEN } from './helpers/server';

const maybe = onPostgres ? describe : describe.skip;

async function post(base: string, headers: Record<string, string>, query: string, variables?: object) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: any[] } }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const BATCH = `mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { replayed } } }`;
const STATS = `{ usageStats { summary { requests inputTokens cost } byAlias { aliasName requests cost } byModel { model requests } } }`;

maybe('two instances on one database', () => {
  let instances: Instances;
  let bases: string[];

  beforeAll(async () => {
    instances = await startInstances(2, {
      LLMRING_ROLLUP_INTERVAL_MS: '100',
    });
    bases = instances.bases;
  });

  afterAll(async () => {
    await instances?.close();
  });

  test('ingest on both, identical stats from either, revocation seen by both', async () => {
    const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
    const project = await post(
      bases[0],
      admin,
      `mutation { createProject(input: {key: "shared", name: "Shared"}) { id } }`,
    );
    const projectId = project.body.data.createProject.id;
    const created = await post(
      bases[1],
      admin,
      `mutation($p: UUID!) { createApiKey(projectId: $p, name: "k") { apiKey { id } secret } }`,
      {
        p: projectId,
      },
    );
    const { secret, apiKey } = created.body.data.createApiKey;
    const key = { 'X-API-Key': secret };

    const inputs = (n: number, alias: string) =>
      Array.from({ length: n }, (_, i) => ({
        provider: 'openai',
        model: i % 2 ? 'gpt-4o' : 'gpt-4o-mini',
        aliasName: alias,
        inputTokens: 100 + i,
        outputTokens: 10,
        cost: 0.001,
      }));
    // 20 batches of 25 alternating between the instances, concurrently.
    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(bases[i % 2], key, BATCH, { inputs: inputs(25, `alias-${i % 4}`) }),
      ),
    );
    expect(sent.every((r) => r.status === 200 && !r.body.errors)).toBe(true);

    const expected = { requests: 500, inputTokens: 20 * (25 * 100 + (24 * 25) / 2), cost: 0.5 };
    const fromA = await post(bases[0], key, STATS);
    const fromB = await post(bases[1], key, STATS);
    expect(fromA.body.data.usageStats.summary).toEqual(expected);
    expect(fromB.body.data).toEqual(fromA.body.data);

    // Both workers run every 100 ms; once they caught up, the answers are unchanged.
    for (let i = 0; i < 50; i++) {
      const { rows } = await instances.database.db.raw(
        'SELECT count(*)::int AS n FROM usage_logs l, usage_rollup_state s WHERE l.tx >= s.watermark',
      );
      if (rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [{ requests }] = await instances.database.db('usage_rollups_hourly').sum({ requests: 'requests' });
    expect(Number(requests)).toBe(500);
    expect((await post(bases[1], key, STATS)).body.data).toEqual(fromA.body.data);

    // Revoked through A: B (which has the key cached) refuses it within seconds.
    expect((await post(bases[1], key, `{ currentProject { key } }`)).status).toBe(200);
    await post(bases[0], admin, `mutation($id: UUID!) { revokeApiKey(id: $id) { revokedAt } }`, {
      id: apiKey.id,
    });
    const deadline = Date.now() + 10_000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await post(bases[1], key, `{ currentProject { key } }`)).status;
    }
    expect(status).toBe(401);
  });
});

maybe('DATABASE_READ_URL', () => {
  let primary: TestDatabase;
  let replica: TestDatabase;
  let app: App;
  let base: string;

  beforeAll(async () => {
    primary = await createTestDatabase();
    replica = await createTestDatabase();
    // A stand-in for a streaming replica: a second database with the same schema, into which
    // the test copies rows itself ("replication") so that what stats read is unmistakable.
    await replica.db.migrate.latest();
    const config = loadConfig({
      LLMRING_ENV: 'test',
      LOG_LEVEL: 'silent',
      DATABASE_URL: primary.settings.url,
      DATABASE_READ_URL: replica.settings.url,
      LLMRING_ROLLUP_INTERVAL_MS: '100',
    });
    app = await createApp(config, createLogger({ level: 'silent' }));
    base = await app.server.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await primary?.destroy();
    await replica?.destroy();
  });

  test('statistics read the replica; logging, keys and receipts use the primary', async () => {
    const key = { 'x-api-key': app.firstProject!.secret };
    const input = {
      provider: 'openai',
      model: 'gpt-4o',
      aliasName: 'fast',
      inputTokens: 10,
      outputTokens: 2,
    };
    const logged = await post(base, key, BATCH, { inputs: [input, input, input] });
    expect(logged.body.data.logUsageBatch.results).toHaveLength(3);
    expect(Number((await primary.db('usage_logs').count({ n: '*' }))[0].n)).toBe(3);

    // Nothing replicated yet: the replica has no logs, so neither has the answer.
    const before = await post(base, key, STATS);
    expect(before.body.data.usageStats.summary.requests).toBe(0);

    // "Replication" catches up: the same rows appear on the replica.
    await replica.db('projects').insert(await primary.db('projects').select());
    await replica.db('api_keys').insert(await primary.db('api_keys').select());
    const logs = await primary.db('usage_logs').select();
    await replica.db('usage_logs').insert(logs.map(({ tx: _tx, ...row }) => row));
    const after = await post(base, key, STATS);
    expect(after.body.data.usageStats.summary.requests).toBe(3);
    expect(after.body.data.usageStats.byAlias).toEqual([
      expect.objectContaining({ aliasName: 'fast', requests: 3 }),
    ]);
  });
});
