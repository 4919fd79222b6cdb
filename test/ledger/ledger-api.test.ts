/**
 * The ledger as a client sees it, over HTTP: receipts get their place in the log from the
 * integrator, checkpoints are signed notes that verify with the published vkey, inclusion and
 * consistency proofs verify with the RFC 9162 algorithms from the receipts the client got,
 * bad sizes are BAD_USER_INPUT naming the argument, projects stay isolated, and the server's
 * self-check reports a stored tree its leaves do not give (in /ready and /metrics).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../src/cli/program';
import { canonicalJson } from '../../src/receipts/jcs';
import { leafHash, verifyConsistency, verifyInclusion } from '../../src/ledger/merkle';
import { openNote, parseCheckpointText, parseVerifierKey } from '../../src/ledger/note';
import { httpLedgerServer, verifyLedger } from '../../src/ledger/verify';
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
import { integrateAll } from '../helpers/ledger';

let server: TestServer;
let a: TestProject;
let b: TestProject;

beforeAll(async () => {
  // The integrator's own rounds would race the test's: the test runs them itself.
  server = await startTestServer({
    LLMRING_LEDGER_MAX_DELAY_MS: '3600000',
    LLMRING_LEDGER_NAME: 'ledger.test',
  });
  await server.app.services.ledger.stop();
  a = await createProjectWithKey(server, 'ledger-a');
  b = await createProjectWithKey(server, 'ledger-b');
});

afterAll(async () => {
  await server?.close();
});

type Doc = Record<string, unknown> & { receipt_id: string };

async function logCalls(project: TestProject, n: number): Promise<Doc[]> {
  const docs: Doc[] = [];
  for (let i = 0; i < n; i++) {
    const { logUsage } = dataOf(
      await server.gql<{ logUsage: { receipt: { document: Doc; ledger: unknown } } }>(
        'mutation($i: LogUsageInput!) { logUsage(input: $i) { receipt { document ledger { leafIndex } } } }',
        {
          i: {
            provider: 'openai',
            model: 'gpt-4o-mini',
            inputTokens: 100 + i,
            outputTokens: 10,
            cost: 0.001,
          },
        },
        withKey(project.secret),
      ),
    );
    expect(logUsage.receipt.ledger).toBeNull(); // appended later, never on the logging path
    docs.push(logUsage.receipt.document);
  }
  return docs;
}

/** The CLI in-process on the server's database, as the operator would run it there. */
async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = {
    write: (text: string) => {
      out += text;
      return true;
    },
    once: () => undefined,
  };
  const code = await runCli(args, {
    stdout: sink,
    stderr: { write: () => true, once: () => undefined },
    env: { LLMRING_ENV: 'test', LLMRING_LEDGER_NAME: 'ledger.test' },
    db: server.app.services.db,
  });
  return { code, out };
}

const integrate = () => integrateAll(server.app.services.ledger, server.app.services.db);
const checkpointNote = async (key: string) => (await server.http(`/ledger/${key}/checkpoint`)).text();

describe('the usage ledger over HTTP', () => {
  let kept: Doc[] = [];
  let first = '';

  it('appends receipts in order and says where each is', async () => {
    kept = await logCalls(a, 5);
    await logCalls(b, 2);
    const early = await server.gql(
      'query($id: String!) { receiptInclusionProof(receiptId: $id) { leafIndex } }',
      { id: kept[0].receipt_id },
      withKey(a.secret),
    );
    expect(errorCodes(early)).toEqual(['NOT_FOUND']);
    expect(early.body.errors?.[0].message).toBe(
      `receipt ${kept[0].receipt_id} is not in the ledger yet: receipts are appended within LLMRING_LEDGER_MAX_DELAY_MS of their answer`,
    );
    const waiting = /^llmring_ledger_lag_seconds (\S+)$/m.exec(await (await server.http('/metrics')).text());
    expect(Number(waiting?.[1])).toBeGreaterThan(0); // receipts stored, none appended yet
    expect(await integrate()).toBe(7);
    const res = dataOf(
      await server.gql<{ receipt: { ledger: { leafIndex: number; integratedAt: string } } }>(
        'query($id: String!) { receipt(receiptId: $id) { ledger { leafIndex integratedAt } } }',
        { id: kept[3].receipt_id },
        withKey(a.secret),
      ),
    );
    expect(res.receipt.ledger.leafIndex).toBe(3);
    expect(new Date(res.receipt.ledger.integratedAt).getTime()).not.toBeNaN();
    expect(await integrate()).toBe(0);
    expect(await (await server.http('/metrics')).text()).toMatch(/^llmring_ledger_lag_seconds 0$/m);
  });

  it('publishes signed checkpoints anyone can verify with the vkey', async () => {
    const res = await server.http(`/ledger/${a.key}/checkpoint`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    first = await res.text();
    const vkeyText = await (await server.http(`/ledger/${a.key}/vkey`)).text();
    const vkey = parseVerifierKey(vkeyText);
    expect(vkey.name).toBe('ledger.test/ledger-a');
    const checkpoint = parseCheckpointText(openNote(first, vkey));
    expect(checkpoint.treeSize).toBe(5);

    const gql = dataOf(
      await server.gql<{
        ledgerCheckpoint: { origin: string; treeSize: number; rootHash: string; note: string };
      }>(
        'query($p: UUID) { ledgerCheckpoint(projectId: $p) { origin treeSize rootHash note } ledgerVerifierKey(projectId: $p) }',
        { p: a.id },
      ),
    );
    expect(gql.ledgerCheckpoint).toEqual({
      origin: 'ledger.test/ledger-a',
      treeSize: 5,
      rootHash: checkpoint.rootHash.toString('base64'),
      note: first,
    });
    // Project b's checkpoint is signed under its own name: a's vkey does not open it.
    expect(() => openNote(gql.ledgerCheckpoint.note.replace('ledger-a', 'ledger-b'), vkey)).toThrow();
    expect((await server.http('/ledger/no-such-project/checkpoint')).status).toBe(404);
  });

  it('proves each kept receipt in the checkpoint, from the document the client got', async () => {
    const checkpoint = parseCheckpointText(first.split('\n\n')[0] + '\n');
    for (const [i, doc] of kept.entries()) {
      const { receiptInclusionProof: p } = dataOf(
        await server.gql<{
          receiptInclusionProof: { leafIndex: number; treeSize: number; hashes: string[] };
        }>(
          'query($id: String!) { receiptInclusionProof(receiptId: $id) { leafIndex treeSize hashes } }',
          { id: doc.receipt_id },
          withKey(a.secret),
        ),
      );
      expect(p.leafIndex).toBe(i);
      const leaf = leafHash(Buffer.from(canonicalJson(doc)));
      const hashes = p.hashes.map((h) => Buffer.from(h, 'base64'));
      expect(verifyInclusion(leaf, p.leafIndex, p.treeSize, hashes, checkpoint.rootHash)).toBe(true);
      const altered = leafHash(Buffer.from(canonicalJson({ ...doc, model_used: 'gpt-4o' })));
      expect(verifyInclusion(altered, p.leafIndex, p.treeSize, hashes, checkpoint.rootHash)).toBe(false);
    }
  });

  it('proves a later checkpoint consistent with an earlier one; the verifier passes', async () => {
    kept.push(...(await logCalls(a, 4)));
    await integrate();
    const second = await checkpointNote(a.key);
    const [c1, c2] = [first, second].map((n) => parseCheckpointText(n.split('\n\n')[0] + '\n'));
    expect(c2.treeSize).toBe(9);
    const { ledgerConsistencyProof } = dataOf(
      await server.gql<{ ledgerConsistencyProof: string[] }>(
        'query { ledgerConsistencyProof(fromSize: 5, toSize: 9) }',
        {},
        withKey(a.secret),
      ),
    );
    const proof = ledgerConsistencyProof.map((h) => Buffer.from(h, 'base64'));
    expect(verifyConsistency(5, 9, proof, c1.rootHash, c2.rootHash)).toBe(true);

    const result = await verifyLedger({
      receipts: kept,
      checkpoints: [first, second],
      server: httpLedgerServer(server.baseUrl, a.secret),
    });
    expect(result).toMatchObject({
      ok: true,
      failures: [],
      checked: { receipts: 9, checkpoints: 2, newestSize: 9 },
    });
  });

  it("the README's inclusion snippet verifies a receipt with node:crypto only, and refuses an altered one", async () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
    const snippet =
      /<!-- inclusion-snippet:start -->\s*```js\n([\s\S]*?)```\s*<!-- inclusion-snippet:end -->/.exec(readme);
    expect(snippet).not.toBeNull();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inclusion-'));
    try {
      fs.writeFileSync(path.join(dir, 'verify-inclusion.js'), snippet![1]);
      const note = await checkpointNote(a.key);
      const size = Number(note.split('\n')[1]);
      const doc = kept[2];
      const { receiptInclusionProof } = dataOf(
        await server.gql<{ receiptInclusionProof: unknown }>(
          'query($id: String!, $s: SafeInt) { receiptInclusionProof(receiptId: $id, treeSize: $s) { leafIndex treeSize hashes } }',
          { id: doc.receipt_id, s: size },
          withKey(a.secret),
        ),
      );
      fs.writeFileSync(path.join(dir, 'proof.json'), JSON.stringify(receiptInclusionProof));
      fs.writeFileSync(path.join(dir, 'checkpoint.txt'), note);
      fs.writeFileSync(path.join(dir, 'vkey.txt'), await (await server.http(`/ledger/${a.key}/vkey`)).text());
      const run = (receipt: unknown, checkpoint = 'checkpoint.txt') => {
        fs.writeFileSync(path.join(dir, 'receipt.json'), JSON.stringify(receipt));
        try {
          return execFileSync(
            process.execPath,
            ['verify-inclusion.js', 'receipt.json', 'proof.json', checkpoint, 'vkey.txt'],
            {
              cwd: dir,
              encoding: 'utf8',
            },
          ).trim();
        } catch (err) {
          return `${(err as { stdout?: string }).stdout?.trim()} (exit ${(err as { status?: number }).status})`;
        }
      };
      expect(run(doc)).toBe('included');
      expect(run({ ...doc, cost: { ...(doc.cost as object), amount: '0.00000001' } })).toBe(
        'NOT INCLUDED (exit 1)',
      );
      // A checkpoint whose root was changed no longer carries a valid signature.
      const lines = note.split('\n');
      lines[2] = Buffer.alloc(32, 1).toString('base64');
      fs.writeFileSync(path.join(dir, 'forged.txt'), lines.join('\n'));
      expect(run(doc, 'forged.txt')).toBe('NOT INCLUDED (exit 1)');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad sizes with BAD_USER_INPUT naming the argument', async () => {
    const ask = async (query: string, vars: Record<string, unknown> = {}) => {
      const res = await server.gql(query, vars, withKey(a.secret));
      return [errorCodes(res)[0], res.body.errors?.[0]?.extensions?.field];
    };
    const id = kept[6].receipt_id;
    const inc =
      'query($id: String!, $s: SafeInt) { receiptInclusionProof(receiptId: $id, treeSize: $s) { leafIndex } }';
    expect(await ask(inc, { id, s: 0 })).toEqual(['BAD_USER_INPUT', 'treeSize']);
    expect(await ask(inc, { id, s: 10 })).toEqual(['BAD_USER_INPUT', 'treeSize']);
    expect(await ask(inc, { id, s: 6 })).toEqual(['BAD_USER_INPUT', 'treeSize']); // appended after size 6
    const con = 'query($f: SafeInt!, $t: SafeInt) { ledgerConsistencyProof(fromSize: $f, toSize: $t) }';
    expect(await ask(con, { f: 0, t: 5 })).toEqual(['BAD_USER_INPUT', 'fromSize']);
    expect(await ask(con, { f: 6, t: 5 })).toEqual(['BAD_USER_INPUT', 'fromSize']);
    expect(await ask(con, { f: 2, t: 10 })).toEqual(['BAD_USER_INPUT', 'toSize']);
    expect(await ask(con, { f: 10 })).toEqual(['BAD_USER_INPUT', 'fromSize']);
  });

  it("keeps projects apart: another project's key sees no receipt and no proof", async () => {
    const id = kept[0].receipt_id;
    const inc = 'query($id: String!) { receiptInclusionProof(receiptId: $id) { leafIndex } }';
    expect(errorCodes(await server.gql(inc, { id }, withKey(b.secret)))).toEqual(['NOT_FOUND']);
    expect(errorCodes(await server.gql(inc, { id: 'rcpt_unknown' }, withKey(a.secret)))).toEqual([
      'NOT_FOUND',
    ]);
    expect(errorCodes(await server.gql(inc, { id }))).toEqual(['UNAUTHENTICATED']);
    const con = 'query($p: UUID) { ledgerConsistencyProof(projectId: $p, fromSize: 1) }';
    expect(errorCodes(await server.gql(con, { p: a.id }, withKey(b.secret)))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await server.gql(con, { p: a.id }))).toEqual(['UNAUTHENTICATED']);
    expect(
      dataOf(await server.gql<{ ledgerConsistencyProof: string[] }>(con, { p: a.id }, asAdmin)),
    ).toBeTruthy();
    const noProject = await server.gql(con, {}, asAdmin);
    expect([errorCodes(noProject)[0], noProject.body.errors?.[0]?.extensions?.field]).toEqual([
      'BAD_USER_INPUT',
      'projectId',
    ]);
  });

  it('watches itself: a stored root its leaves do not give fails /ready and the metric', async () => {
    const { ledger, db } = server.app.services;
    expect((await ledger.check()).ok).toBe(true);
    expect((await server.http('/ready')).status).toBe(200);
    const [{ root_hash: saved }] = await db('ledger_trees').where({ project_id: a.id }).select('root_hash');
    await db('ledger_trees')
      .where({ project_id: a.id })
      .update({ root_hash: Buffer.alloc(32) });
    try {
      const health = await ledger.check();
      expect(health.ok).toBe(false);
      expect(health.problems.join('\n')).toMatch(/root recomputed from the stored leaves differs/);
      const ready = await server.http('/ready');
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ reason: 'ledger check failed' });
      expect(await (await server.http('/metrics')).text()).toMatch(/^llmring_ledger_check_failed 1$/m);
      expect(server.logs()).toMatch(/ledger check failed/);
      const check = await cli('ledger', 'check');
      expect(check.code).toBe(1);
      expect(check.out).toContain(
        `FAIL  project ${a.id}: the root recomputed from the stored leaves differs`,
      );
    } finally {
      await db('ledger_trees').where({ project_id: a.id }).update({ root_hash: saved });
    }
    expect((await ledger.check()).ok).toBe(true);
    expect((await server.http('/ready')).status).toBe(200);
    expect(await cli('ledger', 'check')).toMatchObject({
      code: 0,
      out: 'OK    every stored tree matches its leaves\n',
    });
  });

  it('the CLI prints the checkpoint the server publishes', async () => {
    const run = await cli('ledger', 'checkpoint', a.key);
    expect(run).toEqual({ code: 0, out: await checkpointNote(a.key) });
  });
});
