/**
 * The tamper drill (issue 18): a client stores calls, keeps its receipts and saves two
 * checkpoints; then the operator, with full access to the database and the signing key,
 * (a) deletes a receipt row, (b) changes a stored cost, (c) re-signs a forged receipt with the
 * server's key and inserts it in the past, (d) rebuilds the tree from the altered rows. In
 * every case `llmring-server verify-ledger`, holding the earlier checkpoints and receipts,
 * exits 1 and names the reason. Each case has its own project, so one tampering never hides
 * behind another. Runs on PGlite and on real Postgres (TEST_DATABASE_URL).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { runCli } from '../../src/cli/program';
import { createLogger } from '../../src/logger';
import { Frontier } from '../../src/ledger/merkle';
import { buildReceiptDocument, newReceiptId, ReceiptKeyring } from '../../src/receipts';
import { entryLeafHash } from '../../src/ledger/merkle';
import {
  createProjectWithKey,
  dataOf,
  startTestServer,
  withKey,
  type TestProject,
  type TestServer,
} from '../helpers/server';
import { integrateAll } from '../helpers/ledger';

let server: TestServer;
let tmp: string;

beforeAll(async () => {
  server = await startTestServer({ LLMRING_LEDGER_MAX_DELAY_MS: '3600000' });
  await server.app.services.ledger.stop(); // the test runs the integrator's rounds itself
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-drill-'));
});

afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

type Doc = Record<string, unknown> & { receipt_id: string };

interface Client {
  project: TestProject;
  kept: Doc[];
  files: { receipts: string; checkpoints: string[]; key: string };
}

async function logCalls(project: TestProject, n: number): Promise<Doc[]> {
  const docs: Doc[] = [];
  for (let i = 0; i < n; i++) {
    const { logUsage } = dataOf(
      await server.gql<{ logUsage: { receipt: { document: Doc } } }>(
        'mutation($i: LogUsageInput!) { logUsage(input: $i) { receipt { document } } }',
        {
          i: {
            provider: 'openai',
            model: 'gpt-4o-mini',
            inputTokens: 1000 + i,
            outputTokens: 50,
            cost: 0.0125,
          },
        },
        withKey(project.secret),
      ),
    );
    docs.push(logUsage.receipt.document);
  }
  return docs;
}

/** What a client does: log calls, keep the receipts, save a checkpoint now and then. */
async function client(key: string): Promise<Client> {
  const project = await createProjectWithKey(server, key);
  const dir = path.join(tmp, key);
  fs.mkdirSync(dir);
  const kept = await logCalls(project, 6);
  await integrateAll(server.app.services.ledger, server.app.services.db);
  const checkpoints = [path.join(dir, 'checkpoint-1.txt'), path.join(dir, 'checkpoint-2.txt')];
  fs.writeFileSync(checkpoints[0], await (await server.http(`/ledger/${key}/checkpoint`)).text());
  kept.push(...(await logCalls(project, 3)));
  await integrateAll(server.app.services.ledger, server.app.services.db);
  fs.writeFileSync(checkpoints[1], await (await server.http(`/ledger/${key}/checkpoint`)).text());
  const receipts = path.join(dir, 'kept.jsonl');
  fs.writeFileSync(receipts, kept.map((d) => JSON.stringify(d)).join('\n') + '\n');
  const keyFile = path.join(dir, 'key.txt');
  fs.writeFileSync(keyFile, project.secret);
  return { project, kept, files: { receipts, checkpoints, key: keyFile } };
}

async function verify(c: Client): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = {
    write: (s: string) => {
      out += s;
      return true;
    },
    once: () => undefined,
  };
  const code = await runCli(
    [
      'verify-ledger',
      '--receipts',
      c.files.receipts,
      '--checkpoint',
      ...c.files.checkpoints,
      '--url',
      server.baseUrl,
      '--api-key-file',
      c.files.key,
    ],
    { stdout: sink, stderr: sink, env: { LLMRING_ENV: 'test' } },
  );
  return { code, out };
}

/**
 * What an operator who rewrites history does to the ledger tables: drops the project's tree
 * and appends `documents` again, exactly as the integrator would, so that the server's own
 * self-check finds nothing wrong.
 */
async function rebuildTree(db: Knex, projectId: string, entries: Array<{ id: string; document: unknown }>) {
  await db('ledger_leaves').where({ project_id: projectId }).delete();
  await db('ledger_nodes').where({ project_id: projectId }).delete();
  const frontier = new Frontier(0);
  const leaves: unknown[] = [];
  const nodes: unknown[] = [];
  for (const e of entries) {
    const leaf = entryLeafHash(e.document);
    leaves.push([frontier.size, e.id, leaf.toString('hex')]);
    for (const n of frontier.append(leaf)) nodes.push([n.level, n.index, n.hash.toString('hex')]);
  }
  await db.raw(
    `INSERT INTO ledger_leaves (project_id, leaf_index, entry_kind, entry_id, leaf_hash, integrated_at)
     SELECT ?::uuid, (e->>0)::bigint, 'receipt', e->>1, decode(e->>2, 'hex'), now() FROM jsonb_array_elements(?::jsonb) e`,
    [projectId, JSON.stringify(leaves)],
  );
  await db.raw(
    `INSERT INTO ledger_nodes (project_id, level, idx, hash)
     SELECT ?::uuid, (e->>0)::smallint, (e->>1)::bigint, decode(e->>2, 'hex') FROM jsonb_array_elements(?::jsonb) e`,
    [projectId, JSON.stringify(nodes)],
  );
  await db.raw(`UPDATE ledger_trees SET tree_size = ?, root_hash = decode(?, 'hex') WHERE project_id = ?`, [
    frontier.size,
    frontier.root().toString('hex'),
    projectId,
  ]);
}

const storedEntries = async (db: Knex, projectId: string) =>
  (
    await db('receipts')
      .where({ project_id: projectId })
      .orderBy(['created_at', 'receipt_id'])
      .select('receipt_id', 'document')
  ).map((r: { receipt_id: string; document: unknown }) => ({ id: r.receipt_id, document: r.document }));

describe('the tamper drill', () => {
  it('passes untouched: kept receipts verify against two checkpoints', async () => {
    const c = await client('drill-clean');
    const run = await verify(c);
    expect(run.out).toMatch(/^OK {4}9 receipts, 2 checkpoints \(newest size 9, server now 9\)/m);
    expect(run.code).toBe(0);
  });

  it('(a) a deleted receipt row', async () => {
    const c = await client('drill-delete');
    const victim = c.kept[2].receipt_id;
    await server.app.services.db('receipts').where({ receipt_id: victim }).delete();
    const run = await verify(c);
    expect(run.code).toBe(1);
    expect(run.out).toContain(`FAIL  receipt ${victim}: the server no longer holds it`);
  });

  it('(b) a changed cost, in the log and in the stored receipt', async () => {
    const c = await client('drill-cost');
    const { db } = server.app.services;
    const victim = c.kept[4];
    await db('usage_logs')
      .where({ id: victim.usage_log_id as string })
      .update({ cost: '0.00100000' });
    await db.raw(
      `UPDATE receipts SET document = jsonb_set(document, '{cost,amount}', '"0.00100000"') WHERE receipt_id = ?`,
      [victim.receipt_id],
    );
    const run = await verify(c);
    expect(run.code).toBe(1);
    expect(run.out).toContain(
      `FAIL  receipt ${victim.receipt_id}: the server's stored copy differs from the one kept`,
    );
    expect(run.out).toContain(
      `FAIL  receipt ${victim.receipt_id}: the server bills the call 0.00100000, but its receipt and adjustments say 0.01250000`,
    );
  });

  it("(c) a forged receipt, signed with the server's own key, inserted in the past", async () => {
    const c = await client('drill-forge');
    const { db } = server.app.services;
    const keyring = await ReceiptKeyring.load({
      settings: {},
      db,
      logger: createLogger({ level: 'silent' }),
    });
    const past = new Date(Date.parse(c.kept[1].issued_at as string) + 1);
    const forged = keyring.sign(
      buildReceiptDocument({
        receiptId: newReceiptId(),
        issuedAt: past,
        occurredAt: past,
        projectKey: c.project.key,
        usageLogId: '00000000-0000-4000-8000-000000000000',
        aliasName: null,
        provider: 'openai',
        modelUsed: 'gpt-4o',
        tokens: {
          input: 90000,
          output: 9000,
          cachedInput: 0,
          cacheWrite5m: 0,
          cacheWrite1h: 0,
          reasoning: 0,
        },
        cost: { amount: '4.50000000', source: 'client' },
        pricing: null,
        keyId: keyring.activeKeyId,
      }),
    );
    expect(keyring.verify(forged).valid).toBe(true); // a perfect forgery, as far as signatures go
    await db('receipts').insert({
      receipt_id: forged.receipt_id,
      project_id: c.project.id,
      usage_log_id: null,
      document: JSON.stringify(forged),
      signature: forged.signature,
      key_id: forged.key_id,
      created_at: past,
    });
    // Into the log where its time says it belongs: after the second call.
    await rebuildTree(db, c.project.id, await storedEntries(db, c.project.id));
    // A server that never saw the earlier tree (restarted since) finds it self-consistent.
    expect((await server.app.services.ledger.check()).ok).toBe(true);
    const run = await verify(c);
    expect(run.code).toBe(1);
    expect(run.out).toContain(
      'FAIL  checkpoints of sizes 6 and 9: the log of size 9 does not extend the log of size 6: entries were changed, removed or inserted',
    );
    expect(run.out).toMatch(
      /FAIL {2}the saved checkpoint of size 9 and the server's current one: the log of size 10 does not extend the log of size 9/,
    );
    expect(run.out).toContain(`FAIL  receipt ${c.kept[5].receipt_id}: not in the checkpoint of size 9`);
  });

  it('(d) the tree rebuilt from the altered rows', async () => {
    const c = await client('drill-rebuild');
    const { db } = server.app.services;
    const { ledger } = server.app.services;
    expect((await ledger.check()).ok).toBe(true); // the running server has seen this tree
    const victim = c.kept[7].receipt_id;
    await db('receipts').where({ receipt_id: victim }).delete();
    await rebuildTree(db, c.project.id, await storedEntries(db, c.project.id));
    // Hide the cut: one new call makes the log as long as the client's newest checkpoint.
    await logCalls(c.project, 1);
    await integrateAll(ledger, db);
    // The tree is self-consistent, but not the one the server saw: it says so, and stays unready.
    const health = await ledger.check();
    expect(health.problems).toEqual([
      `project ${c.project.id}: the first 9 leaves no longer give the root an earlier check saw: the log was rewritten`,
    ]);
    expect((await server.http('/ready')).status).toBe(503);
    const run = await verify(c);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(
      /FAIL {2}the saved checkpoint of size 9 and the server's current one: same size 9, different roots/,
    );
    expect(run.out).toContain(`FAIL  receipt ${victim}: no inclusion proof in the checkpoint of size 9`);
    expect(run.out).toContain(`FAIL  receipt ${c.kept[8].receipt_id}: not in the checkpoint of size 9`);
  });
});
