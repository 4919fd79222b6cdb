/**
 * DataLoaders batch nested fields: the number of SQL queries a request costs does not grow
 * with the number of projects (or logs) it returns. Queries are counted with knex's 'query'
 * event on the server's own connection.
 */
import type { Knex } from 'knex';
import { asAdmin, dataOf, startTestServer, withKey, type TestServer } from '../helpers/server';

let server: TestServer;
let projectCount = 1; // the 'default' project

beforeAll(async () => {
  server = await startTestServer();
  // The background workers (rollups, alerts, webhooks, scheduled exports, the ledger, the
  // price book's refresh) query the same connection every few seconds: stop them, so that
  // only the measured request's queries are counted (rollup rounds are run by hand).
  const { rollups, alerts, webhookSender, exportSchedules, ledger, priceBook } = server.app.services;
  for (const worker of [rollups, alerts, webhookSender, exportSchedules, ledger]) await worker.stop();
  priceBook.stop();
});
afterAll(() => server?.close());

/** Creates projects up to `total`, each with two keys and one logged call, in few requests. */
async function growProjectsTo(total: number) {
  const n = total - projectCount;
  const created = dataOf(
    await server.gql(
      `mutation { ${Array.from({ length: n }, (_, i) => `p${i}: createProject(input: { key: "p-${projectCount + i}", name: "P ${projectCount + i}" }) { id }`).join('\n')} }`,
      {},
      asAdmin,
    ),
  ) as Record<string, { id: string }>;
  const ids = Object.values(created).map((p) => p.id);
  const keys = dataOf(
    await server.gql(
      `mutation { ${ids
        .map(
          (id, i) =>
            `k${i}: createApiKey(projectId: "${id}", name: "one") { secret } j${i}: createApiKey(projectId: "${id}", name: "two") { secret }`,
        )
        .join('\n')} }`,
      {},
      asAdmin,
    ),
  ) as Record<string, { secret: string }>;
  for (let i = 0; i < ids.length; i++) {
    dataOf(
      await server.gql(
        'mutation { logUsage(input: { provider: "openai", model: "gpt-4.1", inputTokens: 10, outputTokens: 1, cost: 0.5 }) { replayed } }',
        {},
        withKey(keys[`k${i}`].secret),
      ),
    );
  }
  projectCount = total;
  // Fold the new logs into the hourly rollups, as the worker would have.
  await server.app.services.rollups.runOnce();
}

/** The SQL statements one request runs, and its data. */
async function countQueries(query: string, headers: Record<string, string>) {
  const db: Knex = server.app.db;
  const statements: string[] = [];
  // Transaction control (BEGIN, COMMIT, the SET LOCAL jit of a stats read) is not a query: a
  // stats read is one statement.
  const listener = (q: { sql: string }) => {
    if (!/^\s*(BEGIN|COMMIT|ROLLBACK|SET LOCAL)\b/i.test(q.sql)) statements.push(q.sql);
  };
  db.on('query', listener);
  try {
    const data = dataOf(await server.gql(query, {}, headers));
    return { statements, data };
  } finally {
    db.removeListener('query', listener);
  }
}

const PROJECTS = '{ projects { key usage { cost requests } apiKeys { prefix } } }';

test('projects { usage { cost } apiKeys { prefix } } costs the same number of queries for 10 and 100 projects', async () => {
  await growProjectsTo(10);
  const ten = await countQueries(PROJECTS, asAdmin);
  expect(ten.data.projects).toHaveLength(10);
  expect(
    ten.data.projects
      .slice(1)
      .every(
        (p: { usage: { cost: number }; apiKeys: unknown[] }) =>
          p.usage.cost === 0.5 && p.apiKeys.length === 2,
      ),
  ).toBe(true);

  await growProjectsTo(100);
  const hundred = await countQueries(PROJECTS, asAdmin);
  expect(hundred.data.projects).toHaveLength(100);
  expect(
    hundred.data.projects
      .slice(1)
      .every(
        (p: { usage: { requests: number }; apiKeys: unknown[] }) =>
          p.usage.requests === 1 && p.apiKeys.length === 2,
      ),
  ).toBe(true);

  expect(hundred.statements.length).toBe(ten.statements.length);
  // One for the projects, one for all their keys, and for all their usage one snapshot:
  // the rollup watermark, then the aggregate.
  expect(ten.statements.length).toBeLessThanOrEqual(4);
});

test('usage over an explicit range, and repeated requests, stay constant too', async () => {
  const query = `{ projects {
    usage(startDate: "2020-01-01T00:00:00Z", endDate: "2030-01-01T00:00:00Z") { cost }
    recent: usage { cost }
    apiKeys { prefix }
  } }`;
  const counts = [];
  for (let i = 0; i < 3; i++) counts.push((await countQueries(query, asAdmin)).statements.length);
  expect(new Set(counts).size).toBe(1);
  expect(counts[0]).toBeLessThanOrEqual(6);
});

test("usageLogs with each log's project and receipt: constant for 10 and 90 logs", async () => {
  const query = (first: number) =>
    `{ usageLogs(first: ${first}) { edges { node { id project { key apiKeys { prefix } } receipt { receiptId usageLog { id } project { key } } } } } }`;
  const ten = await countQueries(query(10), asAdmin);
  const ninety = await countQueries(query(90), asAdmin);
  expect(ten.data.usageLogs.edges).toHaveLength(10);
  expect(ninety.data.usageLogs.edges).toHaveLength(90);
  expect(ninety.statements.length).toBe(ten.statements.length);
});
