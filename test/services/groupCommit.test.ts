/**
 * Group commit (src/services/groupCommit.ts) on a real database: concurrent logUsage calls
 * share INSERT statements, and one unit the database refuses fails alone.
 */
import type { Knex } from 'knex';
import { GroupCommit, rolledBackByServer } from '../../src/services/groupCommit';
import { createServiceHarness, seedProject, usageInput, type ServiceHarness } from '../helpers/fixtures';

let h: ServiceHarness;

beforeAll(async () => {
  h = await createServiceHarness();
});

afterAll(async () => {
  await h?.close();
});

/** Counts the ingest statements (those inserting into usage_logs) sent while `fn` runs (knex's query event). */
async function countInserts(db: Knex, fn: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const onQuery = (q: { sql: string }) => {
    if (/\bINSERT INTO usage_logs\b/.test(q.sql)) n++;
  };
  db.on('query', onQuery);
  try {
    await fn();
  } finally {
    db.off('query', onQuery);
  }
  return n;
}

test('concurrent logUsage calls share statements, and each gets its own log and receipt', async () => {
  const p = await seedProject(h.services, { key: 'group-commit' });
  let results: Awaited<ReturnType<typeof h.services.usage.record>>[] = [];
  const statements = await countInserts(h.db, async () => {
    results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        h.services.usage.record(p.caller, usageInput({ aliasName: `a-${i}`, inputTokens: i })),
      ),
    );
  });
  // The harness runs one ingest statement at a time: the first call goes alone, the other 39
  // arrive meanwhile and travel together (and at least one statement was counted at all).
  expect(statements).toBeGreaterThanOrEqual(1);
  expect(statements).toBeLessThanOrEqual(2);
  expect(new Set(results.map((r) => r.usageLog.id)).size).toBe(40);
  results.forEach((r, i) => {
    expect(r.usageLog.aliasName).toBe(`a-${i}`);
    expect(r.usageLog.inputTokens).toBe(i);
    expect(r.receipt.usageLogId).toBe(r.usageLog.id);
    expect(r.replayed).toBe(false);
  });
  const stored = await h.db('usage_logs').where({ project_id: p.project.id }).count({ n: '*' });
  expect(Number(stored[0].n)).toBe(40);
});

test('a call the database refuses fails alone; the others are stored, their receipts signed once', async () => {
  const p = await seedProject(h.services, { key: 'group-commit-refused' });
  // A caller whose project does not exist: its log breaks the foreign key, in the database.
  const ghost = { project: { ...p.project, id: '00000000-0000-4000-8000-000000000000' }, apiKeyId: null };
  const receipts = h.services.receipts;
  const sign = receipts.sign.bind(receipts);
  let signed = 0;
  receipts.sign = async (logs) => {
    signed += logs.length;
    return sign(logs);
  };
  try {
    const calls = [
      ...Array.from({ length: 5 }, () => h.services.usage.record(p.caller, usageInput())),
      h.services.usage.record(ghost, usageInput()),
      ...Array.from({ length: 5 }, () => h.services.usage.record(p.caller, usageInput())),
    ];
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.map((o) => o.status)).toEqual([
      ...Array(5).fill('fulfilled'),
      'rejected',
      ...Array(5).fill('fulfilled'),
    ]);
    // Each of the 11 logs was signed once, though the shared statement was retried unit by unit.
    expect(signed).toBe(11);
    const stored = await h.db('usage_logs').where({ project_id: p.project.id }).count({ n: '*' });
    expect(Number(stored[0].n)).toBe(10);
  } finally {
    receipts.sign = sign;
  }
});

test('concurrent calls with one idempotency key in the same statement store one log', async () => {
  const p = await seedProject(h.services, { key: 'group-commit-idem' });
  const results = await Promise.all(
    Array.from({ length: 10 }, () =>
      h.services.usage.record(p.caller, usageInput({ idempotencyKey: 'same' })),
    ),
  );
  expect(new Set(results.map((r) => r.usageLog.id)).size).toBe(1);
  expect(new Set(results.map((r) => r.receipt.receiptId)).size).toBe(1);
  expect(results.filter((r) => !r.replayed)).toHaveLength(1);
  const stored = await h.db('usage_logs').where({ project_id: p.project.id }).count({ n: '*' });
  expect(Number(stored[0].n)).toBe(1);
});

describe('a unit the database refuses', () => {
  const table = 'group_commit_probe';

  beforeAll(async () => {
    await h.db.raw(`CREATE TABLE ${table} (x integer NOT NULL CHECK (x >= 0))`);
  });

  afterAll(async () => {
    await h.db.raw(`DROP TABLE ${table}`);
  });

  const commits = (runs: number[][]) =>
    new GroupCommit<number, number>({
      maxInFlight: 1,
      maxItems: 1000,
      run: async (items) => {
        runs.push(items);
        await h.db.raw(`INSERT INTO ${table} SELECT unnest(?::int[])`, [items]);
        return items.length;
      },
    });

  test('fails alone: the others are retried each in their own statement and stored', async () => {
    const runs: number[][] = [];
    const gc = commits(runs);
    const outcomes = await Promise.allSettled([gc.submit([1, 2]), gc.submit([-1]), gc.submit([3])]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(rolledBackByServer((outcomes[1] as PromiseRejectedResult).reason)).toBe(true);
    // One shared statement (refused as a whole), then one per unit.
    expect(runs).toEqual([[1, 2, -1, 3], [1, 2], [-1], [3]]);
    const rows = await h.db(table).orderBy('x').pluck('x');
    expect(rows).toEqual([1, 2, 3]);
  });

  test('retries queue behind the limit of statements in flight, one unit each, and wait their turn', async () => {
    let inFlight = 0;
    let most = 0;
    const runs: number[][] = [];
    const gc = new GroupCommit<number, number>({
      maxInFlight: 2,
      maxItems: 1000,
      retryDelayMs: 2,
      run: async (items) => {
        runs.push(items);
        most = Math.max(most, ++inFlight);
        try {
          await h.db.raw(`INSERT INTO ${table} SELECT unnest(?::int[])`, [items]);
          return items.length;
        } finally {
          inFlight--;
        }
      },
    });
    const units = Array.from({ length: 50 }, (_, i) => [i === 7 ? -1 : 1000 + i]);
    const outcomes = await Promise.allSettled(units.map((u) => gc.submit(u)));
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(1);
    expect(most).toBeLessThanOrEqual(2);
    // Every unit of a refused statement went alone afterwards, and nothing was stored twice.
    const alone = runs.filter((r) => r.length === 1);
    expect(alone.length).toBeGreaterThanOrEqual(2);
    const stored = await h.db(table).where('x', '>=', 1000).count({ n: '*' });
    expect(Number(stored[0].n)).toBe(49);
  });

  test('a failure with an unknown outcome (connection lost) is not retried', async () => {
    let calls = 0;
    const gc = new GroupCommit<number, number>({
      maxInFlight: 1,
      maxItems: 1000,
      run: async () => {
        calls++;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: undefined });
      },
    });
    const outcomes = await Promise.allSettled([gc.submit([1]), gc.submit([2])]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
    expect(rolledBackByServer({ code: '08006' })).toBe(false);
    expect(rolledBackByServer({ code: '57P01' })).toBe(false);
    expect(rolledBackByServer({ code: 'ECONNRESET' })).toBe(false);
    expect(rolledBackByServer({ code: '23514' })).toBe(true);
  });

  test('units are never split, and a statement carries at most maxItems', async () => {
    const runs: number[][] = [];
    const gc = new GroupCommit<number, number>({
      maxInFlight: 1,
      maxItems: 4,
      run: async (items) => {
        runs.push(items);
        return items.length;
      },
    });
    await Promise.all([
      gc.submit([1, 2, 3]),
      gc.submit([4, 5]),
      gc.submit([6]),
      gc.submit([7, 8, 9, 10, 11]),
    ]);
    expect(runs).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9, 10, 11],
    ]);
  });
});
