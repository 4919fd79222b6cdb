/**
 * Every query and mutation of schema.graphql with every kind of caller: no credentials, project
 * A's key, A's INGEST-only and READ-only keys, project B's key, a revoked key, an archived
 * project's key, and the admin token. Each
 * cell asserts the outcome (data of the caller's own project only, FORBIDDEN, or
 * UNAUTHENTICATED with HTTP 401); no response to anyone but A and the admin holds any of A's
 * ids, keys, log ids, receipt ids or names (and the same for B); no write lands in another
 * project.
 *
 * Then the secrets: API keys are stored only as SHA-256 hashes; the admin token, every key
 * secret and the receipt signing key (configured from a known seed) appear in no response of
 * the whole run (the secret of a new key only in the createApiKey answer that returns it), in
 * no log line, and in no table.
 *
 * Comparisons of secrets are timing-safe by construction (code review, not measured here): the
 * admin token is compared with crypto.timingSafeEqual over SHA-256 digests of both sides
 * (src/graphql/context.ts secretsEqual), and API keys are never compared at all: the SHA-256
 * of the presented secret is looked up by an index (src/services/apiKeys.ts), so timing can
 * reveal at most a prefix of a hash, which gives nothing about a secret.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import {
  ADMIN_TOKEN,
  asAdmin,
  createProjectWithKey,
  dataOf,
  startTestServer,
  withKey,
  type GraphQLResponse,
  type TestProject,
  type TestServer,
} from '../helpers/server';

const SIGNING_SEED = Buffer.alloc(32, 0x5a).toString('base64url');
const SIGNING_PEM_BODY = createPrivateKey({
  key: Buffer.concat([
    Buffer.from('302e020100300506032b657004220420', 'hex'),
    Buffer.from(SIGNING_SEED, 'base64url'),
  ]),
  format: 'der',
  type: 'pkcs8',
})
  .export({ format: 'pem', type: 'pkcs8' })
  .toString()
  .split('\n')[1];

type PrincipalName = 'none' | 'keyA' | 'ingestA' | 'readA' | 'keyB' | 'revoked' | 'archived' | 'admin';
const PRINCIPALS: PrincipalName[] = [
  'none',
  'keyA',
  'ingestA',
  'readA',
  'keyB',
  'revoked',
  'archived',
  'admin',
];

let server: TestServer;
let a: TestProject;
let b: TestProject;
let c: TestProject; // archived before the matrix
let revokedSecret: string;
let revokedKeyId: string;
/** A's keys with one scope each. */
let ingestOnly: { secret: string; apiKey: { id: string; scopes: string[] } };
let readOnly: { secret: string; apiKey: { id: string; scopes: string[] } };
/** Projects and keys only the admin's mutations touch. */
let scratch: { update: string; archive: string; keyId: string; rotateKeyId: string };
const secrets: string[] = [];
const logged: Record<
  'a' | 'b',
  Array<{ usageLog: { id: string }; receipt: { receiptId: string; document: object; signature: string } }>
> = {
  a: [],
  b: [],
};

/** Every answer of the run, for the leak and secret checks. */
const answers: Array<{ principal: PrincipalName; op: string; text: string }> = [];

function headersOf(p: PrincipalName): Record<string, string> {
  switch (p) {
    case 'none':
      return {};
    case 'keyA':
      return withKey(a.secret);
    case 'ingestA':
      return withKey(ingestOnly.secret);
    case 'readA':
      return { Authorization: `Bearer ${readOnly.secret}` };
    case 'keyB':
      return { Authorization: `Bearer ${b.secret}` };
    case 'revoked':
      return withKey(revokedSecret);
    case 'archived':
      return { 'X-Project-Key': c.secret };
    case 'admin':
      return asAdmin;
  }
}

const createKey = async (projectId: string, name: string, scopes?: string[]) =>
  dataOf(
    await server.gql<{ createApiKey: { secret: string; apiKey: { id: string; scopes: string[] } } }>(
      `mutation($p: UUID!, $n: String!, $s: [ApiKeyScope!]) {
        createApiKey(projectId: $p, name: $n, scopes: $s) { secret apiKey { id scopes } } }`,
      { p: projectId, n: name, s: scopes },
      asAdmin,
    ),
  ).createApiKey;

const BATCH = `mutation($inputs: [LogUsageInput!]!) {
  logUsageBatch(inputs: $inputs) { results { usageLog { id } receipt { receiptId document signature } } }
}`;
const call = (project: string, n: number) => ({
  provider: 'openai',
  model: 'gpt-4.1',
  aliasName: `${project}-alias-${n}`,
  origin: `${project}-origin`,
  idAtOrigin: `${project}-resp-${n}`,
  idempotencyKey: `${project}-idem-${n}`,
  metadata: { owner: `${project}-owner` },
  inputTokens: 100,
  outputTokens: 10,
  cost: 0.5,
});

beforeAll(async () => {
  server = await startTestServer({
    LOG_LEVEL: 'trace', // as much logging as there can be, for the secrets to hide in
    LLMRING_RECEIPTS_PRIVATE_KEY: SIGNING_SEED,
    LLMRING_RECEIPTS_KEY_ID: 'matrix-key',
  });
  a = await createProjectWithKey(server, 'tenant-aaa');
  b = await createProjectWithKey(server, 'tenant-bbb');
  c = await createProjectWithKey(server, 'tenant-ccc');
  const second = await createKey(a.id, 'soon revoked');
  revokedSecret = second.secret;
  revokedKeyId = second.apiKey.id;
  ingestOnly = await createKey(a.id, 'ingest only', ['INGEST']);
  readOnly = await createKey(a.id, 'read only', ['READ']);
  expect([ingestOnly.apiKey.scopes, readOnly.apiKey.scopes]).toEqual([['INGEST'], ['READ']]);
  const update = await createProjectWithKey(server, 'scratch-update');
  const archive = await createProjectWithKey(server, 'scratch-archive');
  const toRotate = await createKey(update.id, 'to rotate');
  scratch = {
    update: update.id,
    archive: archive.id,
    keyId: update.apiKeyId,
    rotateKeyId: toRotate.apiKey.id,
  };
  secrets.push(ADMIN_TOKEN, SIGNING_SEED, SIGNING_PEM_BODY, server.firstKey, a.secret, b.secret, c.secret);
  secrets.push(
    revokedSecret,
    update.secret,
    archive.secret,
    ingestOnly.secret,
    readOnly.secret,
    toRotate.secret,
  );

  logged.a = dataOf(
    await server.gql(BATCH, { inputs: [1, 2, 3].map((n) => call('aaa', n)) }, withKey(a.secret)),
  ).logUsageBatch.results;
  logged.b = dataOf(
    await server.gql(BATCH, { inputs: [1, 2].map((n) => call('bbb', n)) }, withKey(b.secret)),
  ).logUsageBatch.results;
  dataOf(await server.gql(BATCH, { inputs: [call('ccc', 1)] }, withKey(c.secret)));
  // Both bad keys were used while valid, so any lookup cache holds them.
  dataOf(await server.gql('{ currentProject { id } }', {}, withKey(revokedSecret)));
  dataOf(
    await server.gql('mutation($id: UUID!) { revokeApiKey(id: $id) { id } }', { id: revokedKeyId }, asAdmin),
  );
  dataOf(await server.gql('mutation($id: UUID!) { archiveProject(id: $id) { id } }', { id: c.id }, asAdmin));
});
afterAll(() => server?.close());

/** What identifies a project's data: ids, key, key ids and prefixes, log and receipt ids, names it logged. */
function fingerprints(
  project: TestProject,
  slug: string,
  extraKeyIds: string[],
  logs: (typeof logged)['a'],
): string[] {
  return [
    project.id,
    project.key,
    project.apiKeyId,
    project.secret.slice(0, 12), // the key prefix
    ...extraKeyIds,
    ...logs.flatMap((l) => [l.usageLog.id, l.receipt.receiptId, l.receipt.signature]),
    `${slug}-alias`,
    `${slug}-origin`,
    `${slug}-resp`,
    `${slug}-idem`,
    `${slug}-owner`,
  ];
}

type Expect = 'UNAUTHENTICATED' | 'FORBIDDEN' | ((data: Record<string, unknown>) => void);

interface Operation {
  name: string;
  request(p: PrincipalName): { query: string; variables?: Record<string, unknown> };
  expect(p: PrincipalName): Expect;
}

/** Every log of this test, within the 10 years statistics cover at most. */
const WIDE = {
  startDate: new Date(Date.now() - 9 * 365 * 24 * 3600 * 1000).toISOString(),
  endDate: new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString(),
};
/** The project whose key a caller holds (the admin's is never asked). */
const own = (p: PrincipalName) => (p === 'keyA' || p === 'ingestA' || p === 'readA' ? a : b);
/** Project data a key may read only with READ: FORBIDDEN for an INGEST-only key. */
const reader = (p: PrincipalName, then: Exclude<Expect, 'UNAUTHENTICATED'>): Expect =>
  authenticated(p, p === 'ingestA' ? 'FORBIDDEN' : then);
/** Answers for a caller with any credential that is bad (revoked, archived) are always 401. */
const authenticated = (p: PrincipalName, then: Exclude<Expect, 'UNAUTHENTICATED'>): Expect =>
  p === 'none' || p === 'revoked' || p === 'archived' ? 'UNAUTHENTICATED' : then;
const publicOp = (p: PrincipalName, then: Exclude<Expect, 'UNAUTHENTICATED'>): Expect =>
  p === 'revoked' || p === 'archived' ? 'UNAUTHENTICATED' : then;
const adminOnly = (p: PrincipalName, then: Exclude<Expect, 'UNAUTHENTICATED'>): Expect =>
  authenticated(p, p === 'admin' ? then : 'FORBIDDEN');
/** Logging usage: a project key with INGEST only. */
const projectOnly = (p: PrincipalName, then: Exclude<Expect, 'UNAUTHENTICATED'>): Expect =>
  authenticated(p, p === 'admin' || p === 'readA' ? 'FORBIDDEN' : then);

const OPERATIONS: Operation[] = [
  {
    name: 'currentProject',
    request: () => ({
      query: '{ currentProject { id key apiKeys { id prefix name revokedAt } usage { requests } } }',
    }),
    expect: (p) =>
      reader(p, (d) => {
        if (p === 'admin') expect(d.currentProject).toBeNull();
        else expect((d.currentProject as { id: string }).id).toBe(own(p).id);
      }),
  },
  {
    name: 'projects',
    request: () => ({
      query: '{ projects(includeArchived: true) { id key apiKeys { id prefix } usage { requests } } }',
    }),
    expect: (p) =>
      reader(p, (d) => {
        const ids = (d.projects as Array<{ id: string }>).map((x) => x.id);
        if (p === 'admin') expect(ids).toEqual(expect.arrayContaining([a.id, b.id, c.id]));
        else expect(ids).toEqual([own(p).id]);
      }),
  },
  ...(['A', 'B'] as const).map((target): Operation => ({
    name: `project(id: ${target})`,
    request: () => ({
      query: 'query($id: UUID!) { project(id: $id) { id key apiKeys { id prefix } } }',
      variables: { id: target === 'A' ? a.id : b.id },
    }),
    expect: (p) =>
      reader(
        p,
        p === 'admin' || own(p) === (target === 'A' ? a : b)
          ? (d) => expect((d.project as { id: string }).id).toBe(target === 'A' ? a.id : b.id)
          : 'FORBIDDEN',
      ),
  })),
  {
    name: 'usageStats (no project named)',
    request: () => ({
      query: `query($f: UsageFilter) { usageStats(filter: $f) {
        summary { requests } byAlias { aliasName } byOrigin { origin } byModel { model }
        byPeriod { requests } breakdown(by: [PROJECT, ALIAS]) { project { id key } aliasName requests } } }`,
      variables: { f: WIDE },
    }),
    expect: (p) =>
      reader(p, (d) => {
        const projects = (d.usageStats as { breakdown: Array<{ project: { id: string } }> }).breakdown.map(
          (g) => g.project.id,
        );
        if (p === 'admin') expect(projects).toEqual(expect.arrayContaining([a.id, b.id, c.id]));
        else expect([...new Set(projects)]).toEqual([own(p).id]);
      }),
  },
  ...(['usageStats', 'usageLogs', 'receipts'] as const).map((field): Operation => ({
    name: `${field}(filter.projectId: A)`,
    request: () => ({
      query: `query($f: UsageFilter) { ${field}(filter: $f) { ${field === 'usageStats' ? 'summary { requests }' : 'pageInfo { endCursor }'} } }`,
      variables: { f: { ...WIDE, projectId: a.id } },
    }),
    expect: (p) => reader(p, p === 'keyB' ? 'FORBIDDEN' : () => undefined),
  })),
  {
    name: 'usageLogs',
    request: () => ({
      query: `query($f: UsageFilter) { usageLogs(filter: $f, first: 500) { edges { cursor node {
        id project { id key } aliasName origin idAtOrigin idempotencyKey metadata receipt { receiptId projectKey } } } } }`,
      variables: { f: WIDE },
    }),
    expect: (p) =>
      reader(p, (d) => {
        const edges = (d.usageLogs as { edges: Array<{ node: { project: { id: string } } }> }).edges;
        expect(edges.length).toBeGreaterThan(0);
        if (p !== 'admin') expect([...new Set(edges.map((e) => e.node.project.id))]).toEqual([own(p).id]);
      }),
  },
  {
    name: 'receipts',
    request: () => ({
      query: `query($f: UsageFilter) { receipts(filter: $f, first: 500) { edges { cursor node {
        receiptId projectKey project { id } usageLog { id } signature document } } } }`,
      variables: { f: WIDE },
    }),
    expect: (p) =>
      reader(p, (d) => {
        const edges = (d.receipts as { edges: Array<{ node: { project: { id: string } } }> }).edges;
        expect(edges.length).toBeGreaterThan(0);
        if (p !== 'admin') expect([...new Set(edges.map((e) => e.node.project.id))]).toEqual([own(p).id]);
      }),
  },
  {
    name: "receipt(receiptId: A's)",
    request: () => ({
      query:
        'query($r: String!) { receipt(receiptId: $r) { receiptId project { id } usageLog { id } document } }',
      variables: { r: logged.a[0].receipt.receiptId },
    }),
    expect: (p) =>
      reader(p, (d) => {
        if (p === 'keyB') expect(d.receipt).toBeNull();
        else expect((d.receipt as { receiptId: string }).receiptId).toBe(logged.a[0].receipt.receiptId);
      }),
  },
  {
    name: "verifyReceipt(A's document)",
    request: () => ({
      query: 'query($d: JSONObject!) { verifyReceipt(document: $d) { valid keyId reason } }',
      variables: { d: logged.a[0].receipt.document },
    }),
    expect: (p) =>
      publicOp(p, (d) => expect(d.verifyReceipt).toEqual({ valid: true, keyId: 'matrix-key', reason: null })),
  },
  {
    name: 'receiptPublicKeys',
    request: () => ({ query: '{ receiptPublicKeys { keyId algorithm publicKeyPem jwk active } }' }),
    expect: (p) =>
      publicOp(p, (d) => {
        const keys = d.receiptPublicKeys as Array<{ keyId: string; jwk: Record<string, unknown> }>;
        expect(keys.map((k) => k.keyId)).toContain('matrix-key');
        for (const k of keys) expect(k.jwk.d).toBeUndefined();
      }),
  },
  {
    name: 'modelPricing',
    request: () => ({ query: '{ modelPricing(provider: "openai") { provider model } }' }),
    expect: (p) => publicOp(p, (d) => expect((d.modelPricing as unknown[]).length).toBeGreaterThan(0)),
  },
  {
    name: 'logUsage',
    request: (p) => ({
      query: `mutation($i: LogUsageInput!) { logUsage(input: $i) {
        usageLog { id project { id } aliasName } receipt { receiptId projectKey project { id } } } }`,
      variables: {
        i: {
          provider: 'openai',
          model: 'gpt-4.1',
          aliasName: `matrix-${p}`,
          inputTokens: 1,
          outputTokens: 1,
        },
      },
    }),
    expect: (p) =>
      projectOnly(p, (d) => {
        const r = d.logUsage as {
          usageLog: { project: { id: string } };
          receipt: { project: { id: string } };
        };
        expect([r.usageLog.project.id, r.receipt.project.id]).toEqual([own(p).id, own(p).id]);
      }),
  },
  {
    name: 'logUsageBatch',
    request: (p) => ({
      query: `mutation($i: [LogUsageInput!]!) { logUsageBatch(inputs: $i) { results {
        usageLog { id project { id } } receipt { receiptId project { id } } } } }`,
      variables: {
        i: [1, 2].map((n) => ({
          provider: 'openai',
          model: 'gpt-4.1',
          aliasName: `matrix-batch-${p}-${n}`,
          inputTokens: 1,
          outputTokens: 1,
        })),
      },
    }),
    expect: (p) =>
      projectOnly(p, (d) => {
        const results = (d.logUsageBatch as { results: Array<{ usageLog: { project: { id: string } } }> })
          .results;
        expect(results.map((r) => r.usageLog.project.id)).toEqual([own(p).id, own(p).id]);
      }),
  },
  {
    name: 'createProject',
    request: (p) => ({
      query: 'mutation($i: CreateProjectInput!) { createProject(input: $i) { id key } }',
      variables: { i: { key: `made-by-${p}`, name: 'Made in the matrix' } },
    }),
    expect: (p) =>
      adminOnly(p, (d) => expect((d.createProject as { key: string }).key).toBe('made-by-admin')),
  },
  {
    name: 'updateProject (A; a scratch project for the admin)',
    request: (p) => ({
      query:
        'mutation($id: UUID!) { updateProject(id: $id, input: { name: "renamed", description: "x" }) { id name } }',
      variables: { id: p === 'admin' ? scratch.update : a.id },
    }),
    expect: (p) => adminOnly(p, (d) => expect((d.updateProject as { name: string }).name).toBe('renamed')),
  },
  {
    name: 'archiveProject (A; a scratch project for the admin)',
    request: (p) => ({
      query: 'mutation($id: UUID!) { archiveProject(id: $id) { id archivedAt } }',
      variables: { id: p === 'admin' ? scratch.archive : a.id },
    }),
    expect: (p) =>
      adminOnly(p, (d) => expect((d.archiveProject as { archivedAt: string }).archivedAt).toBeTruthy()),
  },
  {
    name: 'createApiKey (for A; a scratch project for the admin)',
    request: (p) => ({
      query:
        'mutation($id: UUID!) { createApiKey(projectId: $id, name: "matrix") { secret apiKey { id prefix } } }',
      variables: { id: p === 'admin' ? scratch.update : a.id },
    }),
    expect: (p) =>
      adminOnly(p, (d) => {
        const created = d.createApiKey as { secret: string; apiKey: { prefix: string } };
        expect(created.secret.startsWith(created.apiKey.prefix)).toBe(true);
      }),
  },
  {
    name: "rotateApiKey (A's key; a scratch key for the admin)",
    request: (p) => ({
      query: `mutation($id: UUID!) { rotateApiKey(id: $id, overlap: "PT1M") {
        secret apiKey { id scopes rotatedFrom } previous { id expiresAt } } }`,
      variables: { id: p === 'admin' ? scratch.rotateKeyId : a.apiKeyId },
    }),
    expect: (p) =>
      adminOnly(p, (d) => {
        const r = d.rotateApiKey as { apiKey: { rotatedFrom: string }; previous: { expiresAt: string } };
        expect(r.apiKey.rotatedFrom).toBe(scratch.rotateKeyId);
        expect(r.previous.expiresAt).toBeTruthy();
      }),
  },
  {
    name: 'operators',
    request: () => ({ query: '{ operators { id name role lastUsedAt } }' }),
    expect: (p) => adminOnly(p, (d) => expect(Array.isArray(d.operators)).toBe(true)),
  },
  {
    name: 'auditLog',
    request: () => ({ query: '{ auditLog(first: 500) { id actor action targetId details leafIndex } }' }),
    expect: (p) =>
      adminOnly(p, (d) => {
        const actions = (d.auditLog as Array<{ action: string }>).map((e) => e.action);
        expect(actions).toEqual(expect.arrayContaining(['createProject', 'createApiKey', 'revokeApiKey']));
      }),
  },
  {
    // Public, like the ledger's checkpoints: a size and a root, nothing of any project.
    name: 'auditCheckpoint',
    request: () => ({ query: '{ auditCheckpoint { origin treeSize note keyId } auditVerifierKey }' }),
    expect: (p) =>
      publicOp(p, (d) => {
        expect(d.auditCheckpoint).toMatchObject({ origin: 'llmring-server/_audit', keyId: 'matrix-key' });
        expect(d.auditVerifierKey).toMatch(/^llmring-server\/_audit\+[0-9a-f]{8}\+/);
      }),
  },
  {
    name: 'createOperator',
    request: (p) => ({
      query: 'mutation($n: String!) { createOperator(name: $n, role: VIEWER) { token operator { name } } }',
      variables: { n: `operator-by-${p}` },
    }),
    expect: (p) =>
      adminOnly(p, (d) =>
        expect((d.createOperator as { operator: { name: string } }).operator.name).toBe('operator-by-admin'),
      ),
  },
  {
    name: 'setProjectRateLimits (A; a scratch project for the admin)',
    request: (p) => ({
      query: `mutation($id: UUID!) { setProjectRateLimits(projectId: $id, input: { keyLogsPerMinute: 1 }) {
        rateLimits { keyLogsPerMinute } } }`,
      variables: { id: p === 'admin' ? scratch.update : a.id },
    }),
    expect: (p) =>
      adminOnly(p, (d) => expect(d.setProjectRateLimits).toEqual({ rateLimits: { keyLogsPerMinute: 1 } })),
  },
  {
    name: "revokeApiKey (A's key; a scratch key for the admin)",
    request: (p) => ({
      query: 'mutation($id: UUID!) { revokeApiKey(id: $id) { id revokedAt } }',
      variables: { id: p === 'admin' ? scratch.keyId : a.apiKeyId },
    }),
    expect: (p) =>
      adminOnly(p, (d) => expect((d.revokeApiKey as { revokedAt: string }).revokedAt).toBeTruthy()),
  },
];

describe.each(OPERATIONS.map((op) => [op.name, op] as const))('%s', (_name, op) => {
  test.each(PRINCIPALS)('as %s', async (p) => {
    const { query, variables } = op.request(p);
    const res: GraphQLResponse = await server.gql(query, variables ?? {}, headersOf(p));
    const text = JSON.stringify(res.body);
    answers.push({ principal: p, op: op.name, text });
    const expected = op.expect(p);
    const codes = (res.body.errors ?? []).map((e) => e.extensions?.code);
    if (expected === 'UNAUTHENTICATED') {
      expect({ status: res.status, codes }).toEqual({ status: 401, codes: ['UNAUTHENTICATED'] });
      expect(Object.values(res.body.data ?? {}).filter((v) => v !== null)).toEqual([]);
    } else if (expected === 'FORBIDDEN') {
      expect({ status: res.status, codes }).toEqual({ status: 200, codes: ['FORBIDDEN'] });
      expect(Object.values(res.body.data ?? {}).filter((v) => v !== null)).toEqual([]);
    } else {
      expect({ status: res.status, errors: res.body.errors ?? [] }).toEqual({ status: 200, errors: [] });
      expected(res.body.data as Record<string, unknown>);
    }
  });
});

describe('after the matrix', () => {
  test("no answer to anyone but A and the admin holds A's data, and none to anyone but B and the admin holds B's", () => {
    expect(answers.length).toBe(OPERATIONS.length * PRINCIPALS.length);
    const ofA = fingerprints(a, 'aaa', [revokedKeyId], logged.a);
    const ofB = fingerprints(b, 'bbb', [], logged.b);
    const ofAs = (p: PrincipalName) => p === 'keyA' || p === 'ingestA' || p === 'readA';
    const leaks = answers.flatMap(({ principal, op, text }) =>
      [
        ...(ofAs(principal) || principal === 'admin'
          ? []
          : ofA.filter((f) => text.includes(f)).map((f) => `A's ${f}`)),
        ...(principal === 'keyB' || principal === 'admin'
          ? []
          : ofB.filter((f) => text.includes(f)).map((f) => `B's ${f}`)),
      ].map((what) => `${op} as ${principal}: ${what}`),
    );
    expect(leaks).toEqual([]);
    // The check can fail: A's own answers do hold its fingerprints.
    const ownA = answers
      .filter((x) => x.principal === 'keyA')
      .map((x) => x.text)
      .join('\n');
    expect(ofA.filter((f) => !ownA.includes(f))).toEqual([]);
  });

  test('no write landed in another project, and the refused mutations changed nothing', async () => {
    const db = server.app.db;
    // Every stored log belongs to the project of the key that wrote it.
    const mismatched = await db('usage_logs as l')
      .join('api_keys as k', 'k.id', 'l.api_key_id')
      .whereRaw('k.project_id <> l.project_id')
      .count({ n: '*' });
    expect(Number(mismatched[0].n)).toBe(0);
    const count = async (projectId: string) =>
      Number((await db('usage_logs').where({ project_id: projectId }).count({ n: '*' }))[0].n);
    expect(await count(a.id)).toBe(3 + 2 * (1 + 2)); // seeded, logUsage, logUsageBatch: by A and A's INGEST key
    expect(await count(b.id)).toBe(2 + 1 + 2);
    expect(await count(c.id)).toBe(1);
    const aliases = (await db('usage_logs').where({ project_id: a.id }).pluck('alias_name')) as string[];
    expect(aliases.filter((x) => x.startsWith('matrix-')).sort()).toEqual([
      'matrix-batch-ingestA-1',
      'matrix-batch-ingestA-2',
      'matrix-batch-keyA-1',
      'matrix-batch-keyA-2',
      'matrix-ingestA',
      'matrix-keyA',
    ]);

    const state = dataOf(
      await server.gql(
        `query($a: UUID!) { project(id: $a) { name description archivedAt apiKeys { id revokedAt expiresAt } }
          projects(includeArchived: true) { key } }`,
        { a: a.id },
        asAdmin,
      ),
    );
    expect(state.project).toEqual({
      name: 'Project tenant-aaa',
      description: null,
      archivedAt: null,
      apiKeys: [
        { id: a.apiKeyId, revokedAt: null, expiresAt: null },
        { id: revokedKeyId, revokedAt: expect.any(String), expiresAt: null },
        { id: ingestOnly.apiKey.id, revokedAt: null, expiresAt: null },
        { id: readOnly.apiKey.id, revokedAt: null, expiresAt: null },
      ],
    });
    const keys = state.projects.map((p: { key: string }) => p.key);
    expect(keys).toContain('made-by-admin');
    expect(keys.filter((k: string) => k.startsWith('made-by-') && k !== 'made-by-admin')).toEqual([]);
  });
});

describe('secrets', () => {
  test('API keys are stored only as SHA-256 hashes and a short prefix', async () => {
    const rows = await server.app.db('api_keys').select('*');
    expect(rows.length).toBeGreaterThanOrEqual(8);
    const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
    const hashes = new Set(rows.map((r) => r.key_hash));
    for (const s of [a.secret, b.secret, c.secret, revokedSecret]) expect(hashes.has(sha(s))).toBe(true);
    for (const row of rows) {
      expect(row.key_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(String(row.key_prefix).length).toBeLessThanOrEqual(12);
    }
  });

  test('no secret is in any table', async () => {
    const db = server.app.db;
    const tables = (await db('information_schema.tables')
      .where({ table_schema: 'public', table_type: 'BASE TABLE' })
      .pluck('table_name')) as string[];
    expect(tables).toEqual(expect.arrayContaining(['api_keys', 'usage_logs', 'receipts', 'projects']));
    const found: string[] = [];
    for (const table of tables) {
      const rows = (await db.raw('SELECT row_to_json(t)::text AS j FROM ?? t', [table])).rows as Array<{
        j: string;
      }>;
      const text = rows.map((r) => r.j).join('\n');
      for (const s of secrets) if (text.includes(s)) found.push(`${table}: ${s.slice(0, 6)}…`);
    }
    expect(found).toEqual([]);
  });

  test('no secret is in any answer of the run, except a new key or token in the createApiKey, rotateApiKey or createOperator answer that returns it', async () => {
    // Provoke a few errors too: they must not echo what was sent.
    const bad: Array<Record<string, string>> = [
      withKey(`${a.secret}x`),
      { Authorization: `Bearer ${ADMIN_TOKEN}x` },
      { 'X-Project-Key': revokedSecret },
    ];
    for (const headers of bad) {
      const res = await server.gql('{ currentProject { id } }', {}, headers);
      answers.push({ principal: 'none', op: 'bad credential', text: JSON.stringify(res.body) });
    }
    const leaks: string[] = [];
    for (const { principal, op, text } of answers) {
      let rest = text;
      const field = ['createApiKey', 'rotateApiKey', 'createOperator'].find((f) => op.startsWith(f));
      if (field && principal === 'admin') {
        const created = (JSON.parse(text) as { data: Record<string, { secret?: string; token?: string }> })
          .data[field];
        const secret = created.secret ?? created.token!;
        secrets.push(secret);
        rest = text.replace(secret, '');
      }
      for (const s of secrets) if (rest.includes(s)) leaks.push(`${op} as ${principal}: ${s.slice(0, 6)}…`);
    }
    expect(leaks).toEqual([]);
  });

  test('no secret is in the server log, which did log every request', () => {
    const logs = server.logs();
    // Every request of the matrix left a line, so there was something to leak into.
    expect(logs.split('\n').filter((l) => l.includes('"/graphql"')).length).toBeGreaterThan(answers.length);
    expect(secrets.filter((s) => logs.includes(s)).map((s) => `${s.slice(0, 6)}…`)).toEqual([]);
  });
});

describe('browsers on other origins', () => {
  test('get no CORS headers: a preflight is refused and an answer carries no Access-Control-Allow-Origin', async () => {
    const preflight = await fetch(server.url, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://elsewhere.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-api-key',
      },
    });
    expect(preflight.status).toBeGreaterThanOrEqual(400);
    const post = await fetch(server.url, {
      method: 'POST',
      headers: {
        origin: 'https://elsewhere.example',
        'content-type': 'application/json',
        ...withKey(b.secret),
      },
      body: JSON.stringify({ query: '{ currentProject { id } }' }),
    });
    for (const res of [preflight, post]) {
      expect([...res.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual([]);
    }
  });
});
