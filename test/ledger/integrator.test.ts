/**
 * The integrator with two instances and concurrent ingest: each entry is appended exactly
 * once, at contiguous positions per project, with the leaf hash of its stored document, and
 * both instances' self-checks agree with the trees. On Postgres the instances really race
 * (pooled connections); on PGlite they take turns on its one connection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { createServices } from '../../src/services';
import { entryLeafHash } from '../../src/ledger/merkle';
import { rootOf, verifyInclusion } from '../../src/ledger/merkle';
import { integrateAll } from '../helpers/ledger';
import { createServiceHarness, seedProject, type ServiceHarness } from '../helpers/fixtures';

let h: ServiceHarness;

beforeAll(async () => {
  h = await createServiceHarness();
});

afterAll(async () => {
  await h?.close();
});

test('two integrators under concurrent ingest append every entry once, in place', async () => {
  const other = await createServices({
    db: h.db,
    config: loadConfig({ LLMRING_ENV: 'test' }),
    logger: createLogger({ level: 'silent' }),
  });
  const instances = [h.services.ledger, other.ledger];
  const projects = await Promise.all(
    [1, 2, 3].map((i) => seedProject(h.services, { key: `integrator-${i}` })),
  );

  let ingesting = true;
  const ingest = (async () => {
    for (let round = 0; round < 12; round++) {
      await Promise.all(
        projects.map((p, i) =>
          h.services.usage.recordBatch(
            { project: p.project, apiKeyId: null },
            Array.from({ length: 5 + i }, (_, k) => ({
              provider: 'openai',
              model: 'gpt-4o-mini',
              inputTokens: 10 + k + round,
              outputTokens: 1,
              cost: 0.0001,
            })),
          ),
        ),
      );
    }
    ingesting = false;
  })();
  const integrate = instances.map(async (ledger) => {
    let appended = 0;
    while (ingesting) appended += (await ledger.runOnce()).appended;
    return appended;
  });
  await ingest;
  const during = await Promise.all(integrate);
  // Whatever is left (a round waits for transactions still open anywhere on the server).
  const rest = (await integrateAll(instances[1], h.db)) + (await integrateAll(instances[0], h.db));
  const total = Number((await h.db('receipts').count({ n: '*' }))[0].n);
  expect(during[0] + during[1] + rest).toBe(total);

  for (const { project } of projects) {
    const receipts = await h
      .db('receipts')
      .where({ project_id: project.id })
      .select('receipt_id', 'document');
    const leaves = await h
      .db('ledger_leaves')
      .where({ project_id: project.id })
      .orderBy('leaf_index')
      .select('leaf_index', 'entry_id', 'leaf_hash');
    expect(leaves.map((l: { leaf_index: unknown }) => Number(l.leaf_index))).toEqual(
      receipts.map((_, i) => i),
    );
    expect(new Set(leaves.map((l: { entry_id: string }) => l.entry_id))).toEqual(
      new Set(receipts.map((r: { receipt_id: string }) => r.receipt_id)),
    );
    const docs = new Map(
      receipts.map((r: { receipt_id: string; document: unknown }) => [r.receipt_id, r.document]),
    );
    for (const l of leaves as Array<{ entry_id: string; leaf_hash: Uint8Array }>) {
      expect(Buffer.from(l.leaf_hash).equals(entryLeafHash(docs.get(l.entry_id)))).toBe(true);
    }
    const [tree] = await h
      .db('ledger_trees')
      .where({ project_id: project.id })
      .select('tree_size', 'root_hash');
    expect(Number(tree.tree_size)).toBe(receipts.length);
    const root = rootOf(leaves.map((l: { leaf_hash: Uint8Array }) => Buffer.from(l.leaf_hash)));
    expect(Buffer.from(tree.root_hash).equals(root)).toBe(true);
  }
  for (const ledger of instances) expect(await ledger.check()).toMatchObject({ ok: true, problems: [] });
  await other.receipts.close();
});

test("the integrator's advisory lock is no other worker's", () => {
  // Two workers on one lock id would skip or wait for each other's rounds.
  const dir = path.resolve(__dirname, '..', '..', 'src');
  const ids: Array<[string, string]> = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const file = path.join(d, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (file.endsWith('.ts')) {
        for (const m of fs.readFileSync(file, 'utf8').matchAll(/const (\w+_LOCK) = ([\d_]+);/g))
          ids.push([m[1], m[2]]);
      }
    }
  };
  walk(dir);
  expect(ids.map(([name]) => name)).toContain('LEDGER_LOCK');
  const values = ids.map(([, value]) => value.replace(/_/g, ''));
  expect(new Set(values).size).toBe(values.length);
});

test('the leaf hash stored with a receipt when it was signed is its document’s; without one, the document gives it', async () => {
  const { project } = await seedProject(h.services, { key: 'integrator-leaf' });
  await h.services.usage.recordBatch(
    { project, apiKeyId: null },
    Array.from({ length: 6 }, (_, k) => ({
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: 10 + k,
      outputTokens: 1,
    })),
  );
  const receipts = await h
    .db('receipts')
    .where({ project_id: project.id })
    .select('receipt_id', 'document', 'leaf_hash');
  for (const r of receipts) expect(Buffer.from(r.leaf_hash).equals(entryLeafHash(r.document))).toBe(true);
  // As receipts stored before the column existed: the integrator computes their leaves.
  await h
    .db('receipts')
    .whereIn('receipt_id', [receipts[1].receipt_id, receipts[4].receipt_id])
    .update({ leaf_hash: null });
  await integrateAll(h.services.ledger, h.db);
  const leaves = await h
    .db('ledger_leaves')
    .where({ project_id: project.id })
    .select('entry_id', 'leaf_hash');
  const docs = new Map(receipts.map((r) => [r.receipt_id, r.document]));
  expect(leaves).toHaveLength(6);
  for (const l of leaves)
    expect(Buffer.from(l.leaf_hash).equals(entryLeafHash(docs.get(l.entry_id)))).toBe(true);
});

test('entries are appended in transaction order where transaction ids gain a digit (999, then 1000)', async () => {
  const { project } = await seedProject(h.services, { key: 'integrator-digits' });
  await integrateAll(h.services.ledger, h.db);
  const nextXid = async () => BigInt((await h.db.raw('SELECT pg_current_xact_id()::text AS x')).rows[0].x);
  let xid = await nextXid();
  const boundary = 10n ** BigInt(String(xid + 20n).length);
  if (boundary - xid > 20_000n) {
    // A cluster far from a power of ten (a long-lived Postgres): PGlite's fresh one is near 1000.
    console.warn(`transaction id ${xid} is far from ${boundary}: nothing to check here`);
    return;
  }
  while (xid < boundary - 5n) xid = await nextXid(); // each autocommit statement takes an id
  for (let k = 0; k < 10; k++) {
    // One transaction each, so their ids straddle the boundary.
    await h.services.usage.recordBatch({ project, apiKeyId: null }, [
      { provider: 'openai', model: 'gpt-4o-mini', inputTokens: 10 + k, outputTokens: 1 },
    ]);
  }
  await integrateAll(h.services.ledger, h.db);
  const { rows } = await h.db.raw(
    `SELECT l.leaf_index::int AS i, r.tx::text AS tx FROM ledger_leaves l
     JOIN receipts r ON r.receipt_id = l.entry_id WHERE l.project_id = ? ORDER BY l.leaf_index`,
    [project.id],
  );
  const txs = (rows as Array<{ tx: string }>).map((r) => BigInt(r.tx));
  expect(txs).toHaveLength(10);
  expect(txs.map(String)).toEqual([...txs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String));
  expect(txs[0] < boundary && txs[9] >= boundary).toBe(true);
  const [state] = (await h.db.raw(`SELECT cursor_tx::text AS tx FROM ledger_state`)).rows;
  expect(state.tx).toBe(String(txs[9]));
});

test('only every fourth level of subtree hashes is stored, and proofs still verify for every leaf', async () => {
  const { project } = await seedProject(h.services, { key: 'integrator-stride' });
  await h.services.usage.recordBatch(
    { project, apiKeyId: null },
    Array.from({ length: 300 }, (_, k) => ({
      provider: 'openai',
      model: 'gpt-4o-mini',
      inputTokens: k,
      outputTokens: 1,
    })),
  );
  await integrateAll(h.services.ledger, h.db);
  const levels = await h
    .db('ledger_nodes')
    .where({ project_id: project.id })
    .groupBy('level')
    .orderBy('level')
    .select('level', h.db.raw('count(*)::int AS n'));
  // 300 leaves: 18 complete subtrees of 16 leaves, 1 of 256.
  expect(levels.map((r: { level: unknown; n: unknown }) => [Number(r.level), Number(r.n)])).toEqual([
    [4, 18],
    [8, 1],
  ]);
  const leaves = await h
    .db('ledger_leaves')
    .where({ project_id: project.id })
    .orderBy('leaf_index')
    .select('entry_id', 'leaf_hash');
  for (const size of [1, 15, 16, 17, 255, 256, 257, 300]) {
    const sizeRoot = rootOf(
      leaves.slice(0, size).map((l: { leaf_hash: Uint8Array }) => Buffer.from(l.leaf_hash)),
    );
    for (let i = 0; i < size; i += size > 20 ? 7 : 1) {
      const proof = await h.services.ledger.inclusionProof(leaves[i].entry_id, size, null);
      const hashes = proof.hashes.map((b) => Buffer.from(b, 'base64'));
      expect(verifyInclusion(Buffer.from(leaves[i].leaf_hash), i, size, hashes, sizeRoot)).toBe(true);
    }
  }
  expect(await h.services.ledger.check()).toMatchObject({ ok: true });
});
