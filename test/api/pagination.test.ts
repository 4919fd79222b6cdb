/**
 * Keyset pagination of usageLogs and receipts: walking the pages while new calls keep
 * arriving returns no item twice and misses none that existed when the walk began; a
 * malformed cursor is BAD_USER_INPUT.
 */
import {
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
const originalLogs = new Set<string>();
const originalReceipts = new Set<string>();
const START = Date.now() - 10 * 60_000;

const BATCH = `mutation($inputs: [LogUsageInput!]!) {
  logUsageBatch(inputs: $inputs) { results { usageLog { id } receipt { receiptId } } }
}`;

async function log(inputs: Array<Record<string, unknown>>) {
  const results = dataOf(await server.gql(BATCH, { inputs }, withKey(project.secret))).logUsageBatch
    .results as Array<{
    usageLog: { id: string };
    receipt: { receiptId: string };
  }>;
  return results;
}

const call = (occurredAt: Date, n: number) => ({
  provider: 'openai',
  model: 'gpt-4.1',
  aliasName: `page-${n}`,
  inputTokens: n,
  outputTokens: 1,
  occurredAt: occurredAt.toISOString(),
});

/** New calls between two pages: newer than all, tied with an original, and older than all. */
let arrivals = 0;
async function newCallsArrive() {
  arrivals += 1;
  await log([
    call(new Date(), 1000 + arrivals),
    call(new Date(START - 37 * 1000), 2000 + arrivals), // the same instant as 5 originals
    call(new Date(START - 3_600_000 - arrivals), 3000 + arrivals),
  ]);
}

beforeAll(async () => {
  server = await startTestServer();
  project = await createProjectWithKey(server, 'pages');
  // 250 calls in 5 batches (so receipts share 5 issue instants), 5 calls per occurredAt instant.
  for (let b = 0; b < 5; b++) {
    const inputs = Array.from({ length: 50 }, (_, i) => {
      const n = b * 50 + i;
      return call(new Date(START - Math.floor(n / 5) * 1000), n);
    });
    for (const r of await log(inputs)) {
      originalLogs.add(r.usageLog.id);
      originalReceipts.add(r.receipt.receiptId);
    }
  }
});
afterAll(() => server?.close());

interface Page<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

async function walk<T>(
  field: 'usageLogs' | 'receipts',
  selection: string,
  first: number,
): Promise<{ nodes: T[]; pages: number }> {
  const query = `query($first: Int, $after: String) {
    ${field}(first: $first, after: $after) { edges { cursor node { ${selection} } } pageInfo { hasNextPage endCursor } }
  }`;
  const nodes: T[] = [];
  let after: string | null = null;
  let pages = 0;
  for (;;) {
    const page: Page<T> = dataOf(await server.gql(query, { first, after }, withKey(project.secret)))[field];
    pages += 1;
    expect(page.edges.length).toBeLessThanOrEqual(first);
    if (page.edges.length) expect(page.pageInfo.endCursor).toBe(page.edges[page.edges.length - 1].cursor);
    nodes.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage) break;
    expect(pages).toBeLessThan(50);
    after = page.pageInfo.endCursor;
    await newCallsArrive();
  }
  return { nodes, pages };
}

test('usageLogs: 250 logs in pages of 40 while new ones arrive: none twice, none missed, newest first', async () => {
  const { nodes, pages } = await walk<{ id: string; occurredAt: string }>('usageLogs', 'id occurredAt', 40);
  expect(pages).toBeGreaterThanOrEqual(7);
  const ids = nodes.map((n) => n.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...originalLogs].filter((id) => !ids.includes(id))).toEqual([]);
  // Ordered by (occurredAt, id), both descending, across page boundaries.
  for (let i = 1; i < nodes.length; i++) {
    const [prev, cur] = [nodes[i - 1], nodes[i]];
    const ordered =
      prev.occurredAt > cur.occurredAt || (prev.occurredAt === cur.occurredAt && prev.id > cur.id);
    expect({ i, prev, cur, ordered }).toEqual({ i, prev, cur, ordered: true });
  }
});

test('receipts: 250 receipts in pages of 40 while new ones arrive: none twice, none missed', async () => {
  const { nodes } = await walk<{ receiptId: string; issuedAt: string }>('receipts', 'receiptId issuedAt', 40);
  const ids = nodes.map((n) => n.receiptId);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...originalReceipts].filter((id) => !ids.includes(id))).toEqual([]);
  for (let i = 1; i < nodes.length; i++) expect(nodes[i - 1].issuedAt >= nodes[i].issuedAt).toBe(true);
});

test('an old cursor keeps working; first: 0 returns an empty page', async () => {
  const q =
    'query($after: String, $first: Int) { usageLogs(first: $first, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }';
  const page1 = dataOf(await server.gql(q, { first: 3 }, withKey(project.secret))).usageLogs;
  const next = dataOf(
    await server.gql(q, { first: 3, after: page1.pageInfo.endCursor }, withKey(project.secret)),
  ).usageLogs;
  await newCallsArrive();
  const again = dataOf(
    await server.gql(q, { first: 3, after: page1.pageInfo.endCursor }, withKey(project.secret)),
  ).usageLogs;
  expect(again.edges).toEqual(next.edges);
  // An edge's cursor works as well as endCursor.
  const fromEdge = dataOf(
    await server.gql(q, { first: 2, after: page1.edges[0].cursor }, withKey(project.secret)),
  ).usageLogs;
  expect(fromEdge.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(
    page1.edges.slice(1).map((e: { node: { id: string } }) => e.node.id),
  );
  const empty = dataOf(await server.gql(q, { first: 0 }, withKey(project.secret))).usageLogs;
  expect(empty).toEqual({ edges: [], pageInfo: { hasNextPage: true, endCursor: null } });
});

describe('a malformed cursor is BAD_USER_INPUT naming after', () => {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
  test.each([
    ['garbage', 'not a cursor!'],
    ['base64 of junk', b64('hello world')],
    ['no uuid', b64('1700000000000000:not-a-uuid')],
    ['no timestamp', b64(':00000000-0000-4000-8000-000000000000')],
    ['sql', b64("1'; DROP TABLE usage_logs; --:00000000-0000-4000-8000-000000000000")],
    ['huge', 'A'.repeat(5000)],
  ])('%s', async (_name, cursor) => {
    for (const field of ['usageLogs', 'receipts']) {
      const res = await server.gql(
        `query($after: String) { ${field}(after: $after) { edges { cursor } } }`,
        { after: cursor },
        withKey(project.secret),
      );
      expect({ field, codes: errorCodes(res) }).toEqual({ field, codes: ['BAD_USER_INPUT'] });
      expect(res.body.errors![0].extensions?.field).toBe('after');
      expect(res.body.errors![0].message).toContain('after');
    }
  });
});
