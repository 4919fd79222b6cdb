/**
 * What the ledger holds besides receipts, and what it keeps: a re-pricing's adjustments are
 * entries of the log too (provable by their adj_ ids, and the verifier checks the bill against
 * them), and retention that deletes receipts keeps their leaves, so old checkpoints stay
 * consistent and a pruned receipt's inclusion is still proven.
 */
import { canonicalJson } from '../../src/receipts/jcs';
import { leafHash, verifyInclusion } from '../../src/ledger/merkle';
import { parseCheckpointText } from '../../src/ledger/note';
import { httpLedgerServer, verifyLedger } from '../../src/ledger/verify';
import {
  asAdmin,
  createProjectWithKey,
  dataOf,
  startTestServer,
  withKey,
  type TestProject,
  type TestServer,
} from '../helpers/server';
import { integrateAll } from '../helpers/ledger';

let server: TestServer;
let p: TestProject;

beforeAll(async () => {
  server = await startTestServer({ LLMRING_LEDGER_MAX_DELAY_MS: '3600000' });
  await server.app.services.ledger.stop();
  p = await createProjectWithKey(server, 'ledger-entries');
});

afterAll(async () => {
  await server?.close();
});

type Doc = Record<string, unknown> & { receipt_id: string };
const MODEL = { provider: 'anthropic', model: 'claude-sonnet-4-5-20250929' };
const JUNE = '2025-06-15T12:00:00Z';
const integrate = () => integrateAll(server.app.services.ledger, server.app.services.db);
const checkpoint = async () => (await server.http(`/ledger/${p.key}/checkpoint`)).text();
const rootOf = (note: string) => parseCheckpointText(note.split('\n\n')[0] + '\n');

async function proofOf(id: string) {
  return dataOf(
    await server.gql<{ receiptInclusionProof: { leafIndex: number; treeSize: number; hashes: string[] } }>(
      'query($id: String!) { receiptInclusionProof(receiptId: $id) { leafIndex treeSize hashes } }',
      { id },
      withKey(p.secret),
    ),
  ).receiptInclusionProof;
}

describe('ledger entries', () => {
  const kept: Doc[] = [];
  let before = '';

  it('appends the adjustments of a re-pricing after the receipts they adjust', async () => {
    for (let i = 0; i < 3; i++) {
      const { logUsage } = dataOf(
        await server.gql<{ logUsage: { receipt: { document: Doc } } }>(
          'mutation($i: LogUsageInput!) { logUsage(input: $i) { receipt { document } } }',
          { i: { ...MODEL, inputTokens: 10_000, outputTokens: 1_000, occurredAt: JUNE } },
          withKey(p.secret),
        ),
      );
      kept.push(logUsage.receipt.document);
    }
    await integrate();
    before = await checkpoint();
    dataOf(
      await server.gql(
        'mutation($i: SetModelPriceInput!) { setModelPrice(input: $i) { id } }',
        {
          i: {
            ...MODEL,
            projectId: p.id,
            inputPerMillion: '2.5',
            outputPerMillion: '12',
            effectiveFrom: '2025-06-01T00:00:00Z',
          },
        },
        asAdmin,
      ),
    );
    const { repriceUsage } = dataOf(
      await server.gql<{ repriceUsage: { changedLogs: number } }>(
        'mutation($f: UsageFilter) { repriceUsage(filter: $f, dryRun: false) { changedLogs } }',
        { f: { projectId: p.id, startDate: '2025-06-01T00:00:00Z', endDate: '2025-07-01T00:00:00Z' } },
        asAdmin,
      ),
    );
    expect(repriceUsage.changedLogs).toBe(3);
    expect(await integrate()).toBe(3);

    const { usageLogs } = dataOf(
      await server.gql<{
        usageLogs: {
          edges: Array<{ node: { adjustments: Array<{ adjustmentId: string; document: unknown }> } }>;
        };
      }>(
        'query($f: UsageFilter) { usageLogs(filter: $f) { edges { node { adjustments { adjustmentId document } } } } }',
        { f: { startDate: '2025-06-01T00:00:00Z', endDate: '2025-07-01T00:00:00Z' } },
        withKey(p.secret),
      ),
    );
    const adjustments = usageLogs.edges.flatMap((e) => e.node.adjustments);
    expect(adjustments).toHaveLength(3);
    const root = rootOf(await checkpoint());
    expect(root.treeSize).toBe(6);
    for (const adj of adjustments) {
      const proof = await proofOf(adj.adjustmentId);
      expect(proof.leafIndex).toBeGreaterThanOrEqual(3);
      const leaf = leafHash(Buffer.from(canonicalJson(adj.document)));
      const hashes = proof.hashes.map((h) => Buffer.from(h, 'base64'));
      expect(verifyInclusion(leaf, proof.leafIndex, proof.treeSize, hashes, root.rootHash)).toBe(true);
    }

    // The bill is now the adjustments' amount: the verifier accepts it, with both checkpoints.
    const result = await verifyLedger({
      receipts: kept,
      checkpoints: [before, await checkpoint()],
      server: httpLedgerServer(server.baseUrl, p.secret),
    });
    expect(result.failures).toEqual([]);
  });

  it('keeps the leaves of receipts that retention deleted: their proofs still verify', async () => {
    const { services } = server.app;
    const after = await checkpoint();
    await services.rollups.runOnce(); // retention waits for the rollups to count the logs
    const pruned = await services.retention.prune(new Date(), { projectIds: [p.id], deleteReceipts: true });
    expect(pruned.receiptsDeleted).toBe(3);

    expect(await checkpoint()).toBe(after); // the log is unchanged
    const root = rootOf(after);
    const proof = await proofOf(kept[1].receipt_id);
    const leaf = leafHash(Buffer.from(canonicalJson(kept[1])));
    expect(
      verifyInclusion(
        leaf,
        proof.leafIndex,
        proof.treeSize,
        proof.hashes.map((h) => Buffer.from(h, 'base64')),
        root.rootHash,
      ),
    ).toBe(true);
    expect((await services.ledger.check()).ok).toBe(true);

    const opts = {
      receipts: kept,
      checkpoints: [before, after],
      server: httpLedgerServer(server.baseUrl, p.secret),
    };
    const strict = await verifyLedger(opts);
    expect(strict.failures).toContain(
      `receipt ${kept[0].receipt_id}: the server no longer holds it (deleted, or pruned by retention)`,
    );
    const lenient = await verifyLedger({ ...opts, allowPruned: true });
    expect(lenient).toMatchObject({ ok: true, failures: [] });
    expect(lenient.warnings).toHaveLength(3);
  });
});
