/**
 * The tamper-evident audit log (issue 21), as an admin and an auditor use it: changes made over
 * GraphQL and with the CLI each land in the audit log's Merkle tree with a leaf index; its
 * checkpoint is public and signed with the receipt key; `audit export` verifies offline with
 * `verify-audit`; and what someone with the database's superuser rights does (edit a row,
 * delete one, insert one, rebuild the tree to hide a deletion) makes verification fail, naming
 * the entry. Each tampering is undone before the next, so each test sees one. Runs on PGlite
 * and on real Postgres (TEST_DATABASE_URL), where the concurrent changes really are concurrent.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { Frontier } from '../../src/ledger/merkle';
import { openNote, parseCheckpointText, parseVerifierKey, verifierKey } from '../../src/ledger/note';
import { AUDIT_DOCUMENT_COLUMNS, auditDocumentOf, auditLeafHash } from '../../src/ledger/auditEntry';
import { cliRunner } from '../helpers/cli';
import {
  asAdmin,
  createProjectWithKey,
  dataOf,
  errorCodes,
  startTestServer,
  type TestServer,
} from '../helpers/server';

let server: TestServer;
let tmp: string;
let db: Knex;
const cli = cliRunner(() => server.app.services.db);
const AUDIT_LOG_ID = '00000000-0000-0000-0000-000000000000';

beforeAll(async () => {
  server = await startTestServer();
  db = server.app.services.db;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-log-'));
});
afterAll(async () => {
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let changes = 0;
/** A few changes of different kinds, by the admin token over GraphQL and by the CLI. */
async function makeChanges(): Promise<void> {
  const n = ++changes;
  const project = await createProjectWithKey(server, `audited-${n}`);
  dataOf(
    await server.gql(
      'mutation($p: UUID!) { setProjectRateLimits(projectId: $p, input: { keyRequestsPerSecond: 5 }) { id } }',
      { p: project.id },
      asAdmin,
    ),
  );
  expect((await cli('operator', 'create', `op-${n}`, '--role', 'viewer')).code).toBe(0);
}

const file = (name: string) => path.join(tmp, name);

async function exportTo(name: string): Promise<string> {
  const run = await cli('audit', 'export', '-o', file(name));
  expect(run).toMatchObject({ code: 0 });
  return file(name);
}

async function saveCheckpoint(name: string): Promise<string> {
  fs.writeFileSync(file(name), await (await server.http('/audit/checkpoint')).text());
  return file(name);
}

const verify = (...args: string[]) => cli('verify-audit', '--url', server.baseUrl, ...args);

/** What a superuser does: the append-only trigger off, a statement, the trigger on again. */
async function asSuperuser(sql: string, bindings: readonly unknown[] = []): Promise<void> {
  await db.raw('ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only');
  try {
    await db.raw(sql, bindings as Knex.RawBinding[]);
  } finally {
    await db.raw('ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only');
  }
}

interface Entry {
  id: string;
  action: string;
  leafIndex: number | null;
}
async function auditLog(): Promise<Entry[]> {
  return dataOf(await server.gql('{ auditLog(first: 500) { id action leafIndex } }', {}, asAdmin)).auditLog;
}

describe('the audit log as a Merkle log', () => {
  test('every change gets the next leaf, in the order of the ids; the public checkpoint covers them all', async () => {
    await makeChanges();
    const entries = (await auditLog()).reverse();
    expect(entries.map((e) => e.action)).toEqual([
      'createProject',
      'createApiKey',
      'setProjectRateLimits',
      'createOperator',
    ]);
    expect(entries.map((e) => e.leafIndex)).toEqual([0, 1, 2, 3]);

    // Public, over HTTP and GraphQL, no credential: the same note.
    const note = await (await server.http('/audit/checkpoint')).text();
    const { auditCheckpoint } = dataOf(
      await server.gql('{ auditCheckpoint { origin treeSize rootHash note keyId } }'),
    );
    expect(auditCheckpoint.note).toBe(note);
    expect(auditCheckpoint).toMatchObject({ origin: 'llmring-server/_audit', treeSize: 4 });
    expect(note.split('\n').slice(0, 2)).toEqual(['llmring-server/_audit', '4']);

    expect((await cli('audit', 'checkpoint')).out).toBe(note);

    // The CLI's JSON Lines say where each entry is too.
    const lines = (await cli('audit', '--json')).out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l: { leafIndex: number }) => l.leafIndex)).toEqual([3, 2, 1, 0]);
    expect((await cli('audit')).out).toMatch(/ID\s+AT\s+WHO\s+ACTION\s+TARGET\s+LEAF/);
  });

  test('the checkpoint is signed with the receipt key: the published receipt key opens it, another key does not', async () => {
    const note = await (await server.http('/audit/checkpoint')).text();
    const jwks = (await (await server.http('/receipts/public-keys.json')).json()) as {
      keys: Array<{ kid: string; x: string }>;
    };
    const receiptKey = jwks.keys[0];
    const vkey = verifierKey('llmring-server/_audit', Buffer.from(receiptKey.x, 'base64url'));
    expect(parseCheckpointText(openNote(note, parseVerifierKey(vkey))).treeSize).toBeGreaterThan(0);
    expect((await (await server.http('/audit/vkey')).text()).split('\n')[0]).toBe(vkey);
    const { auditCheckpoint, auditVerifierKey } = dataOf(
      await server.gql('{ auditCheckpoint { keyId } auditVerifierKey }'),
    );
    expect(auditCheckpoint.keyId).toBe(receiptKey.kid);
    expect(auditVerifierKey).toBe(vkey);

    // Another key of the same name, or the receipt key under a project ledger's origin: refused.
    const other = verifierKey('llmring-server/_audit', Buffer.alloc(32, 7));
    expect(() => openNote(note, parseVerifierKey(other))).toThrow(/does not verify|no signature/);
    const exported = await exportTo('signed.jsonl');
    const wrong = await cli('verify-audit', '--export', exported, '--vkey', other);
    expect(wrong.code).toBe(1);
    expect(wrong.out).toMatch(
      /^FAIL {2}the export's checkpoint: the note has no signature by llmring-server\/_audit\+[0-9a-f]{8}$/m,
    );
    const projectOrigin = verifierKey('llmring-server/audited-1', Buffer.from(receiptKey.x, 'base64url'));
    const foreign = await cli('verify-audit', '--export', exported, '--vkey', projectOrigin);
    expect(foreign.code).toBe(1);
    expect(foreign.out).toMatch(
      /^FAIL {2}the export's checkpoint: the note has no signature by llmring-server\/audited-1/m,
    );
  });

  test('an export verifies offline, and a later one extends the checkpoints and exports saved before it', async () => {
    const first = await exportTo('first.jsonl');
    const checkpoint = await saveCheckpoint('checkpoint-1.txt');
    const ok = await verify('--export', first);
    expect(ok.err).toBe('');
    expect(ok.out).toMatch(/^OK {4}4 leaves \(checkpoint size 4\), 0 earlier checkpoints/m);
    expect(ok.code).toBe(0);
    // What is not an export, or no key to trust: a usage error, nothing verified.
    fs.writeFileSync(file('not-an-export.jsonl'), '{"receipt_id":"rcpt_1"}\n');
    const bad = await verify('--export', file('not-an-export.jsonl'));
    expect(bad).toMatchObject({ code: 2, out: '' });
    expect(bad.err).toContain('not an audit export');
    const keyless = await cli('verify-audit', '--export', first);
    expect(keyless.code).toBe(2);
    expect(keyless.err).toContain('give --vkey (saved from GET /audit/vkey) or --url');

    await makeChanges();
    const later = await exportTo('later.jsonl');
    const vkey = (await (await server.http('/audit/vkey')).text()).split('\n')[0];
    const run = await cli(
      'verify-audit',
      '--export',
      later,
      '--checkpoint',
      checkpoint,
      first,
      '--vkey',
      vkey,
    );
    expect(run.out).toMatch(/^OK {4}8 leaves \(checkpoint size 8\), 2 earlier checkpoints/m);
    expect(run.code).toBe(0);

    const [header, ...leaves] = fs
      .readFileSync(later, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(header).toMatchObject({ format: 'llmring-audit-export', version: 1 });
    expect(leaves[4]).toEqual({
      leafIndex: 4,
      entryId: expect.any(String),
      leafHash: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/),
      entry: {
        version: 1,
        id: leaves[4].entryId,
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        actorKind: 'admin_token',
        actor: 'admin token',
        actorOperatorId: null,
        action: 'createProject',
        targetType: 'project',
        targetId: expect.any(String),
        details: { key: 'audited-2', name: 'Project audited-2' },
      },
    });
  });

  test('an entry edited in the table fails verification, naming the entry', async () => {
    const entries = (await auditLog()).reverse();
    const victim = entries.find((e) => e.action === 'setProjectRateLimits')!;
    const [saved] = (await db.raw('SELECT details::text AS details FROM audit_log WHERE id = ?', [victim.id]))
      .rows;
    await asSuperuser(
      `UPDATE audit_log SET details = jsonb_set(details, '{changes,keyRequestsPerSecond}', '500') WHERE id = ?`,
      [victim.id],
    );
    try {
      const run = await verify('--export', await exportTo('edited.jsonl'));
      expect(run.code).toBe(1);
      expect(run.out).toContain(
        `FAIL  leaf ${victim.leafIndex} (audit entry ${victim.id}): the entry (setProjectRateLimits by admin token at `,
      );
      expect(run.out).toContain('is not the one logged: it was changed after it was written');
      expect(run.out.match(/^FAIL/gm)).toHaveLength(1);
      expect(run.err).toContain(
        `verify-audit: 1 failures; the first entry that does not match: leaf ${victim.leafIndex} (audit entry ${victim.id})`,
      );

      // Giving the edited entry a matching leaf hash in the export does not help: the signed
      // checkpoint commits to the leaves.
      const lines = fs
        .readFileSync(file('edited.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const leaf = lines[victim.leafIndex! + 1];
      leaf.leafHash = auditLeafHash(leaf.entry).toString('base64');
      fs.writeFileSync(file('doctored.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      const doctored = await verify('--export', file('doctored.jsonl'));
      expect(doctored.code).toBe(1);
      expect(doctored.out).toBe(
        "FAIL  the export's leaf hashes do not give its checkpoint's root: the leaves were altered after the checkpoint was signed\n",
      );
    } finally {
      await asSuperuser('UPDATE audit_log SET details = ?::jsonb WHERE id = ?', [saved.details, victim.id]);
    }
    expect((await verify('--export', await exportTo('restored.jsonl'))).code).toBe(0);
  });

  test('an entry deleted from the table fails verification, naming the entry its leaf was for', async () => {
    const victim = (await auditLog()).reverse()[5];
    const [row] = (
      await db.raw(
        'SELECT *, at::text AS at_exact, details::text AS details_text FROM audit_log WHERE id = ?',
        [victim.id],
      )
    ).rows;
    await asSuperuser('DELETE FROM audit_log WHERE id = ?', [victim.id]);
    try {
      const run = await verify('--export', await exportTo('deleted.jsonl'));
      expect(run.code).toBe(1);
      expect(run.out).toContain(
        `FAIL  leaf 5 (audit entry ${victim.id}): the audit log no longer holds this entry: it was deleted after it was logged`,
      );
      expect(run.err).toContain(`the first entry that does not match: leaf 5 (audit entry ${victim.id})`);
    } finally {
      await db.raw(
        `INSERT INTO audit_log (id, at, actor_kind, actor_operator_id, actor_name, action, target_type, target_id, details)
         VALUES (?, ?::timestamptz, ?, ?, ?, ?, ?, ?, ?::jsonb)`,
        [
          row.id,
          row.at_exact,
          row.actor_kind,
          row.actor_operator_id,
          row.actor_name,
          row.action,
          row.target_type,
          row.target_id,
          row.details_text,
        ],
      );
    }
    expect((await verify('--export', await exportTo('restored.jsonl'))).code).toBe(0);
  });

  test('an entry inserted into the table around the server is in no leaf, and verification says so', async () => {
    const [{ id }] = (
      await db.raw(
        `INSERT INTO audit_log (at, actor_kind, actor_name, action, target_type, target_id, details)
         VALUES (now() - interval '30 days', 'admin_token', 'admin token', 'archiveProject', 'project', 'x', '{}')
         RETURNING id::text AS id`,
      )
    ).rows;
    try {
      expect((await auditLog()).find((e) => e.id === id)).toMatchObject({ leafIndex: null });
      const run = await verify('--export', await exportTo('inserted.jsonl'));
      expect(run.code).toBe(1);
      expect(run.out).toMatch(
        new RegExp(
          `^FAIL {2}audit entry ${id}: in no leaf of the log \\(archiveProject by admin token at .*\\): written to the table around the server$`,
          'm',
        ),
      );
    } finally {
      await asSuperuser('DELETE FROM audit_log WHERE id = ?', [id]);
    }
  });

  test('concurrent changes get distinct leaves in the order of their ids, and the log still verifies', async () => {
    const before = (await auditLog()).length;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        server
          .gql(
            'mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }',
            { i: { key: `concurrent-${i}`, name: `Concurrent ${i}` } },
            asAdmin,
          )
          .then(dataOf),
      ),
    );
    const entries = (await auditLog()).reverse();
    expect(entries).toHaveLength(before + 8);
    // Leaf order is id order, with no gap and no repeat.
    const byId = [...entries].sort((a, b) => Number(a.id) - Number(b.id));
    expect(byId.map((e) => e.leafIndex)).toEqual(entries.map((_, i) => i));
    expect((await verify('--export', await exportTo('concurrent.jsonl'))).code).toBe(0);
  });

  test("an audit entry's leaf is no receipt's: receiptInclusionProof does not serve it", async () => {
    const [entry] = await auditLog();
    const res = await server.gql(
      'query($id: String!) { receiptInclusionProof(receiptId: $id) { leafIndex } }',
      { id: entry.id },
      asAdmin,
    );
    expect(errorCodes(res)).toEqual(['NOT_FOUND']);
  });

  test('a tree rebuilt to hide a deletion verifies on its own, but not against what an auditor saved; the self-check sees it too', async () => {
    const { ledger } = server.app.services;
    expect((await ledger.check()).ok).toBe(true); // the running server has seen this tree
    const checkpoint = await saveCheckpoint('before-rebuild.txt');
    const earlier = await exportTo('before-rebuild.jsonl');
    const entries = (await auditLog()).reverse();
    const victim = entries[2];

    // Delete the entry, and rebuild the audit log's tree from the remaining rows, as the server
    // would have built it: the new export is self-consistent, signed with the server's own key.
    await asSuperuser('DELETE FROM audit_log WHERE id = ?', [victim.id]);
    await db('ledger_leaves').where({ project_id: AUDIT_LOG_ID }).delete();
    await db('ledger_nodes').where({ project_id: AUDIT_LOG_ID }).delete();
    const { rows } = await db.raw(`SELECT ${AUDIT_DOCUMENT_COLUMNS} FROM audit_log ORDER BY id`);
    const frontier = new Frontier(0);
    for (const row of rows) {
      const hash = auditLeafHash(auditDocumentOf(row));
      await db('ledger_leaves').insert({
        project_id: AUDIT_LOG_ID,
        leaf_index: frontier.size,
        entry_kind: 'audit',
        entry_id: row.audit_id,
        leaf_hash: hash,
        integrated_at: new Date(),
      });
      for (const n of frontier.append(hash)) {
        await db('ledger_nodes').insert({
          project_id: AUDIT_LOG_ID,
          level: n.level,
          idx: n.index,
          hash: n.hash,
        });
      }
    }
    await db('ledger_trees')
      .where({ project_id: AUDIT_LOG_ID })
      .update({ tree_size: frontier.size, root_hash: frontier.root() });

    const rebuilt = await exportTo('rebuilt.jsonl');
    // Alone, the rewritten log looks fine: only what was saved before can tell.
    expect((await verify('--export', rebuilt)).code).toBe(0);

    const withCheckpoint = await verify('--export', rebuilt, '--checkpoint', checkpoint);
    expect(withCheckpoint.code).toBe(1);
    expect(withCheckpoint.out).toContain(
      `FAIL  the earlier checkpoint ${checkpoint} (size ${entries.length}): the log is now smaller (size ${entries.length - 1}): entries were removed`,
    );
    // One more change makes the log as long as before: then the roots differ, and an earlier
    // export names the first leaf that changed and what it held.
    await cli('operator', 'create', 'cover-up', '--role', 'viewer');
    const covered = await exportTo('covered.jsonl');
    const run = await verify('--export', covered, '--checkpoint', checkpoint, earlier);
    expect(run.code).toBe(1);
    expect(run.out).toContain(
      `FAIL  the earlier checkpoint ${checkpoint} (size ${entries.length}): the log no longer extends it: entries before leaf ${entries.length} were changed, removed or inserted`,
    );
    expect(run.out).toContain(
      `FAIL  leaf 2 (audit entry ${victim.id} in ${earlier}): the log's leaf differs from the one in the earlier export (${victim.action} by admin token at `,
    );
    expect(run.err).toContain(
      `the first entry that does not match: leaf 2 (audit entry ${victim.id} in ${earlier})`,
    );

    // The running server's self-check, which saw the old tree, finds the rewrite.
    const health = await ledger.check();
    expect(health.problems).toEqual([
      `the audit log: the first ${entries.length} leaves no longer give the root an earlier check saw: the log was rewritten`,
    ]);
  });
});
