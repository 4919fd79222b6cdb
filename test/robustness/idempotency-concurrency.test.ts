/**
 * Idempotency under concurrency: 50 logUsage calls with one idempotencyKey, sent at once, store
 * exactly one row and one receipt, and all 50 answers carry the same usageLog id and receipt.
 * On Postgres the requests really race (a pool of 10 connections); on PGlite they queue.
 */
import {
  createProjectWithKey,
  startTestServer,
  withKey,
  type TestProject,
  type TestServer,
} from '../helpers/server';

let server: TestServer;
let project: TestProject;

beforeAll(async () => {
  server = await startTestServer();
  project = await createProjectWithKey(server, 'concurrent');
});
afterAll(() => server?.close());

const LOG = `mutation($input: LogUsageInput!) {
  logUsage(input: $input) { replayed usageLog { id idempotencyKey } receipt { receiptId signature } }
}`;

interface Answer {
  replayed: boolean;
  usageLog: { id: string; idempotencyKey: string };
  receipt: { receiptId: string; signature: string };
}

async function race(idempotencyKey: string, n: number): Promise<Answer[]> {
  const input = { provider: 'openai', model: 'gpt-4.1', inputTokens: 100, outputTokens: 10, idempotencyKey };
  const responses = await Promise.all(
    Array.from({ length: n }, () => server.gql(LOG, { input }, withKey(project.secret))),
  );
  for (const res of responses)
    expect({ status: res.status, errors: res.body.errors ?? [] }).toEqual({ status: 200, errors: [] });
  return responses.map((res) => res.body.data!.logUsage as Answer);
}

test('50 concurrent calls with one idempotencyKey: one row, one receipt, the same answer 50 times', async () => {
  const answers = await race('one-key-for-fifty', 50);
  expect(new Set(answers.map((a) => a.usageLog.id)).size).toBe(1);
  expect(new Set(answers.map((a) => a.receipt.receiptId)).size).toBe(1);
  expect(new Set(answers.map((a) => a.receipt.signature)).size).toBe(1);
  expect(answers.filter((a) => !a.replayed)).toHaveLength(1);

  const db = server.app.db;
  const rows = await db('usage_logs').where({ project_id: project.id, idempotency_key: 'one-key-for-fifty' });
  expect(rows.map((r) => r.id)).toEqual([answers[0].usageLog.id]);
  const receipts = await db('receipts').where({ usage_log_id: answers[0].usageLog.id });
  expect(receipts.map((r) => r.receipt_id)).toEqual([answers[0].receipt.receiptId]);
});

test('five keys raced ten times each, interleaved: five rows, each answered consistently', async () => {
  const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
  const all = await Promise.all(keys.map((k) => race(`interleaved-${k}`, 10)));
  all.forEach((answers, i) => {
    expect(new Set(answers.map((a) => a.usageLog.id)).size).toBe(1);
    expect(answers[0].usageLog.idempotencyKey).toBe(`interleaved-${keys[i]}`);
  });
  const [{ n }] = await server.app
    .db('usage_logs')
    .where({ project_id: project.id })
    .whereLike('idempotency_key', 'interleaved-%')
    .count({ n: '*' });
  expect(Number(n)).toBe(5);
});
