/**
 * Authentication, authorization and isolation over HTTP: the three API-key headers and the
 * admin token, UNAUTHENTICATED (HTTP 401) for a missing, unknown or revoked key or an archived
 * project's key, FORBIDDEN for admin-only operations with a project key and for a project key
 * naming another project, the operations that need no credentials at all; and a project key
 * seeing and writing only its own project's logs, receipts, statistics and keys through every
 * operation, while an admin sees all of them.
 */
import {
  ADMIN_TOKEN,
  asAdmin,
  createProjectWithKey,
  dataOf,
  errorCodes,
  startTestServer,
  withKey,
  type TestProject,
  type TestServer,
} from '../helpers/server';

let server: TestServer;
let alpha: TestProject;
let beta: TestProject;

beforeAll(async () => {
  server = await startTestServer();
  alpha = await createProjectWithKey(server, 'alpha');
  beta = await createProjectWithKey(server, 'beta');
});
afterAll(() => server?.close());

const CURRENT = '{ currentProject { id key } }';

async function expectUnauthenticated(headers: Record<string, string>, query = CURRENT, variables = {}) {
  const res = await server.gql(query, variables, headers);
  expect(res.status).toBe(401);
  expect(errorCodes(res)).toContain('UNAUTHENTICATED');
  expect(res.body.data?.currentProject ?? null).toBeNull();
}

describe('credentials', () => {
  test.each([
    ['X-API-Key', (s: string) => ({ 'X-API-Key': s })],
    ['Authorization: Bearer', (s: string) => ({ Authorization: `Bearer ${s}` })],
    ['Authorization: bearer (any case)', (s: string) => ({ authorization: `bearer ${s}` })],
    ['legacy X-Project-Key', (s: string) => ({ 'X-Project-Key': s })],
  ])('a project key in %s authenticates as its project', async (_name, header) => {
    const res = await server.gql(CURRENT, {}, header(alpha.secret));
    expect(res.status).toBe(200);
    expect(dataOf(res).currentProject).toEqual({ id: alpha.id, key: 'alpha' });
  });

  test('the admin token authenticates as admin, who belongs to no project', async () => {
    const res = await server.gql('{ currentProject { id } projects { key } }', {}, asAdmin);
    const data = dataOf(res);
    expect(data.currentProject).toBeNull();
    expect(data.projects.map((p: { key: string }) => p.key)).toEqual(['default', 'alpha', 'beta']);
  });

  test('no credentials: UNAUTHENTICATED with HTTP 401 on every protected operation', async () => {
    await expectUnauthenticated({});
    for (const query of [
      '{ projects { id } }',
      `{ project(id: "${alpha.id}") { id } }`,
      '{ usageStats { summary { requests } } }',
      '{ usageLogs { edges { cursor } } }',
      '{ receipts { edges { cursor } } }',
      '{ receipt(receiptId: "rcpt_x") { receiptId } }',
      'mutation { logUsage(input: { provider: "openai", model: "m", inputTokens: 1, outputTokens: 1 }) { replayed } }',
      'mutation { createProject(input: { key: "nobody", name: "n" }) { id } }',
      `mutation { revokeApiKey(id: "${alpha.apiKeyId}") { id } }`,
    ]) {
      const res = await server.gql(query);
      expect({ query, status: res.status, codes: errorCodes(res) }).toEqual({
        query,
        status: 401,
        codes: ['UNAUTHENTICATED'],
      });
    }
  });

  test.each([
    ['X-API-Key', { 'X-API-Key': 'lrs_unknown-key-0000000000000000' }],
    ['Authorization: Bearer', { Authorization: 'Bearer lrs_unknown-key-0000000000000000' }],
    ['X-Project-Key', { 'X-Project-Key': 'lrs_unknown-key-0000000000000000' }],
    ['a wrong admin token', { Authorization: `Bearer ${ADMIN_TOKEN}x` }],
    ['X-API-Key holding the admin token (admins use Authorization only)', { 'X-API-Key': ADMIN_TOKEN }],
  ])('an unknown key in %s: UNAUTHENTICATED with HTTP 401', async (_name, headers) => {
    await expectUnauthenticated(headers);
  });

  test('an unknown key is rejected even for operations that need no credentials', async () => {
    // A credential that matches nothing is an error, not an anonymous request.
    const res = await server.gql('{ receiptPublicKeys { keyId } }', {}, withKey('lrs_nope'));
    expect(res.status).toBe(401);
    expect(errorCodes(res)).toEqual(['UNAUTHENTICATED']);
  });

  test('a revoked key: UNAUTHENTICATED with HTTP 401 at once, in every header; other keys keep working', async () => {
    const project = await createProjectWithKey(server, 'revoked-key');
    const second = dataOf(
      await server.gql(
        'mutation($p: UUID!) { createApiKey(projectId: $p, name: "second") { secret } }',
        { p: project.id },
        asAdmin,
      ),
    ).createApiKey.secret as string;
    // Used once first, so any lookup cache holds it.
    expect(dataOf(await server.gql(CURRENT, {}, withKey(project.secret))).currentProject.key).toBe(
      'revoked-key',
    );

    const revoked = dataOf(
      await server.gql(
        'mutation($id: UUID!) { revokeApiKey(id: $id) { id revokedAt } }',
        { id: project.apiKeyId },
        asAdmin,
      ),
    ).revokeApiKey;
    expect(revoked.id).toBe(project.apiKeyId);
    expect(Date.parse(revoked.revokedAt)).not.toBeNaN();

    await expectUnauthenticated(withKey(project.secret));
    await expectUnauthenticated({ Authorization: `Bearer ${project.secret}` });
    await expectUnauthenticated({ 'X-Project-Key': project.secret });
    await expectUnauthenticated(
      withKey(project.secret),
      'mutation { logUsage(input: { provider: "openai", model: "m", inputTokens: 1, outputTokens: 1 }) { replayed } }',
    );
    expect(dataOf(await server.gql(CURRENT, {}, withKey(second))).currentProject.key).toBe('revoked-key');
  });

  test("an archived project's keys: UNAUTHENTICATED with HTTP 401 at once", async () => {
    const project = await createProjectWithKey(server, 'to-archive');
    // Used once first, so any lookup cache holds it.
    expect(dataOf(await server.gql(CURRENT, {}, withKey(project.secret))).currentProject.key).toBe(
      'to-archive',
    );

    const archived = dataOf(
      await server.gql(
        'mutation($id: UUID!) { archiveProject(id: $id) { id archivedAt } }',
        { id: project.id },
        asAdmin,
      ),
    ).archiveProject;
    expect(Date.parse(archived.archivedAt)).not.toBeNaN();

    await expectUnauthenticated(withKey(project.secret));
    await expectUnauthenticated({ 'X-Project-Key': project.secret });
    await expectUnauthenticated(
      { Authorization: `Bearer ${project.secret}` },
      '{ usageLogs { edges { cursor } } }',
    );
  });
});

describe('operations that need no credentials', () => {
  test('receiptPublicKeys, modelPricing and verifyReceipt answer without a key', async () => {
    const res = await server.gql(
      `query($doc: JSONObject!) {
        receiptPublicKeys { keyId active }
        modelPricing(provider: "openai") { provider model }
        verifyReceipt(document: $doc) { valid reason }
      }`,
      { doc: { receipt_id: 'rcpt_x' } },
    );
    const data = dataOf(res);
    expect(data.receiptPublicKeys.filter((k: { active: boolean }) => k.active)).toHaveLength(1);
    expect(data.modelPricing.length).toBeGreaterThan(0);
    expect(data.verifyReceipt.valid).toBe(false);
  });
});

describe('admin-only operations with a project key: FORBIDDEN', () => {
  const cases: Array<[string, () => [string, Record<string, unknown>]]> = [
    ['createProject', () => ['mutation { createProject(input: { key: "sneaky", name: "S" }) { id } }', {}]],
    [
      'updateProject (own project)',
      () => [
        'mutation($id: UUID!) { updateProject(id: $id, input: { name: "X" }) { id } }',
        { id: alpha.id },
      ],
    ],
    [
      'archiveProject (own project)',
      () => ['mutation($id: UUID!) { archiveProject(id: $id) { id } }', { id: alpha.id }],
    ],
    [
      'createApiKey (own project)',
      () => ['mutation($id: UUID!) { createApiKey(projectId: $id, name: "x") { secret } }', { id: alpha.id }],
    ],
    [
      'revokeApiKey (own key)',
      () => ['mutation($id: UUID!) { revokeApiKey(id: $id) { id } }', { id: alpha.apiKeyId }],
    ],
    [
      "revokeApiKey (another project's key)",
      () => ['mutation($id: UUID!) { revokeApiKey(id: $id) { id } }', { id: beta.apiKeyId }],
    ],
  ];
  test.each(cases)('%s', async (_name, make) => {
    const [query, variables] = make();
    const res = await server.gql(query, variables, withKey(alpha.secret));
    expect(res.status).toBe(200);
    expect(errorCodes(res)).toEqual(['FORBIDDEN']);
    expect(res.body.data).toBeNull();
  });

  test('nothing was changed by the refused mutations', async () => {
    const data = dataOf(
      await server.gql(
        `query($a: UUID!, $b: UUID!) {
          a: project(id: $a) { name archivedAt apiKeys { id name revokedAt } }
          b: project(id: $b) { apiKeys { revokedAt } }
          projects(includeArchived: true) { key }
        }`,
        { a: alpha.id, b: beta.id },
        asAdmin,
      ),
    );
    expect(data.a).toEqual({
      name: 'Project alpha',
      archivedAt: null,
      apiKeys: [{ id: alpha.apiKeyId, name: 'test', revokedAt: null }],
    });
    expect(data.b.apiKeys).toEqual([{ revokedAt: null }]);
    expect(data.projects.map((p: { key: string }) => p.key)).not.toContain('sneaky');
  });

  test('logUsage and logUsageBatch with the admin token: FORBIDDEN (the admin belongs to no project)', async () => {
    const input = { provider: 'openai', model: 'gpt-4.1', inputTokens: 1, outputTokens: 1 };
    const one = await server.gql(
      'mutation($i: LogUsageInput!) { logUsage(input: $i) { replayed } }',
      { i: input },
      asAdmin,
    );
    expect(errorCodes(one)).toEqual(['FORBIDDEN']);
    const batch = await server.gql(
      'mutation($i: [LogUsageInput!]!) { logUsageBatch(inputs: $i) { results { replayed } } }',
      { i: [input] },
      asAdmin,
    );
    expect(errorCodes(batch)).toEqual(['FORBIDDEN']);
  });
});

describe('a project key naming another project: FORBIDDEN', () => {
  test.each([
    ['project(id)', 'query($id: UUID!) { project(id: $id) { id key } }'],
    [
      'usageStats(filter.projectId)',
      'query($id: UUID!) { usageStats(filter: { projectId: $id }) { summary { requests } } }',
    ],
    [
      'usageLogs(filter.projectId)',
      'query($id: UUID!) { usageLogs(filter: { projectId: $id }) { edges { cursor } } }',
    ],
    [
      'receipts(filter.projectId)',
      'query($id: UUID!) { receipts(filter: { projectId: $id }) { edges { cursor } } }',
    ],
  ])('%s', async (_name, query) => {
    const res = await server.gql(query, { id: beta.id }, withKey(alpha.secret));
    expect(errorCodes(res)).toEqual(['FORBIDDEN']);
    expect(JSON.stringify(res.body.data ?? null)).not.toContain(beta.id);
  });

  test('naming its own project is allowed', async () => {
    const res = await server.gql(
      `query($id: UUID!) {
        project(id: $id) { key }
        usageStats(filter: { projectId: $id }) { summary { requests } }
        usageLogs(filter: { projectId: $id }) { edges { cursor } }
        receipts(filter: { projectId: $id }) { edges { cursor } }
      }`,
      { id: alpha.id },
      withKey(alpha.secret),
    );
    expect(dataOf(res).project.key).toBe('alpha');
  });

  test('an admin may name any project, and gets null for an unknown id', async () => {
    const res = await server.gql(
      'query($a: UUID!, $b: UUID!) { a: project(id: $a) { key } b: project(id: $b) { key } }',
      { a: beta.id, b: '00000000-0000-4000-8000-000000000000' },
      asAdmin,
    );
    expect(dataOf(res)).toEqual({ a: { key: 'beta' }, b: null });
  });
});

describe('isolation between projects and the admin', () => {
  let a: TestProject;
  let b: TestProject;

  interface Logged {
    usageLog: { id: string };
    receipt: { receiptId: string };
    replayed: boolean;
  }
  const logged: Record<'a' | 'b', Logged[]> = { a: [], b: [] };

  const BATCH = `mutation($inputs: [LogUsageInput!]!) {
    logUsageBatch(inputs: $inputs) { results { replayed usageLog { id } receipt { receiptId } } }
  }`;

  /** Everything a caller can read in one request. */
  const EVERYTHING = `{
    currentProject { id key apiKeys { id prefix } usage { requests cost } }
    projects(includeArchived: true) { id key apiKeys { id } usage { requests } }
    usageStats {
      summary { requests cost uniqueAliases }
      byPeriod { requests cost }
      byAlias { aliasName requests }
      byModel { model requests }
      byOrigin { origin requests }
      breakdown(by: [PROJECT, ALIAS]) { project { id key } aliasName requests }
    }
    usageLogs(first: 500) { edges { node { id project { id key } aliasName receipt { receiptId } } } }
    receipts(first: 500) { edges { node { receiptId projectKey project { id } usageLog { id } document } } }
  }`;

  beforeAll(async () => {
    a = await createProjectWithKey(server, 'tenant-a');
    b = await createProjectWithKey(server, 'tenant-b');
    const call = (alias: string, idempotencyKey?: string) => ({
      provider: 'openai',
      model: 'gpt-4.1',
      aliasName: alias,
      origin: `${alias}-origin`,
      inputTokens: 100,
      outputTokens: 10,
      cost: 1,
      idempotencyKey,
    });
    logged.a = dataOf(
      await server.gql(
        BATCH,
        {
          inputs: [call('a-secret-alias', 'shared-idempotency-key'), call('a-secret-alias'), call('a-other')],
        },
        withKey(a.secret),
      ),
    ).logUsageBatch.results;
    // The same idempotency key in another project is another call: nothing is replayed across projects.
    logged.b = dataOf(
      await server.gql(
        BATCH,
        { inputs: [call('b-alias', 'shared-idempotency-key'), call('b-alias')] },
        withKey(b.secret),
      ),
    ).logUsageBatch.results;
  });

  test('the same idempotency key in two projects stores two calls', () => {
    expect(logged.b[0].replayed).toBe(false);
    expect(logged.b[0].usageLog.id).not.toBe(logged.a[0].usageLog.id);
    expect(logged.b[0].receipt.receiptId).not.toBe(logged.a[0].receipt.receiptId);
  });

  test.each(['b', 'a'] as const)('project %s sees only its own data in every operation', async (who) => {
    const me = who === 'a' ? a : b;
    const other = who === 'a' ? b : a;
    const mine = logged[who];
    const theirs = logged[who === 'a' ? 'b' : 'a'];
    const res = await server.gql(EVERYTHING, {}, withKey(me.secret));
    const data = dataOf(res);

    expect(data.currentProject.id).toBe(me.id);
    expect(data.currentProject.apiKeys.map((k: { id: string }) => k.id)).toEqual([me.apiKeyId]);
    expect(data.currentProject.usage).toEqual({ requests: mine.length, cost: mine.length });
    expect(data.projects.map((p: { id: string }) => p.id)).toEqual([me.id]);
    expect(data.projects[0].apiKeys.map((k: { id: string }) => k.id)).toEqual([me.apiKeyId]);

    expect(data.usageStats.summary.requests).toBe(mine.length);
    expect(data.usageStats.breakdown.every((g: { project: { id: string } }) => g.project.id === me.id)).toBe(
      true,
    );
    expect(data.usageStats.byAlias.every((g: { aliasName: string }) => g.aliasName.startsWith(who))).toBe(
      true,
    );

    expect(data.usageLogs.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual(
      mine.map((l) => l.usageLog.id).sort(),
    );
    expect(
      data.usageLogs.edges.every((e: { node: { project: { id: string } } }) => e.node.project.id === me.id),
    ).toBe(true);
    expect(data.receipts.edges.map((e: { node: { receiptId: string } }) => e.node.receiptId).sort()).toEqual(
      mine.map((l) => l.receipt.receiptId).sort(),
    );

    // Nothing of the other project anywhere in the response.
    const text = JSON.stringify(res.body);
    for (const secret of [
      other.id,
      other.key,
      other.apiKeyId,
      ...theirs.flatMap((l) => [l.usageLog.id, l.receipt.receiptId]),
      who === 'a' ? 'b-alias' : 'a-secret-alias',
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  test("another project's receipt is null, exactly like an unknown one", async () => {
    const res = await server.gql(
      'query($r: String!) { receipt(receiptId: $r) { receiptId } }',
      { r: logged.a[0].receipt.receiptId },
      withKey(b.secret),
    );
    expect(dataOf(res).receipt).toBeNull();
    const own = await server.gql(
      'query($r: String!) { receipt(receiptId: $r) { receiptId } }',
      { r: logged.b[0].receipt.receiptId },
      withKey(b.secret),
    );
    expect(dataOf(own).receipt.receiptId).toBe(logged.b[0].receipt.receiptId);
  });

  test("the first project's key sees neither tenant", async () => {
    const res = await server.gql(EVERYTHING, {}, withKey(server.firstKey));
    const text = JSON.stringify(dataOf(res));
    for (const id of [a.id, b.id, ...[...logged.a, ...logged.b].map((l) => l.usageLog.id)]) {
      expect(text).not.toContain(id);
    }
  });

  test('the admin sees every project, all together or one at a time', async () => {
    // The tenants' calls are the only ones logged in this file.
    const data = dataOf(await server.gql(EVERYTHING, {}, asAdmin));
    expect(data.currentProject).toBeNull();
    expect(data.projects.map((p: { key: string }) => p.key)).toEqual(
      expect.arrayContaining(['default', 'alpha', 'beta', 'tenant-a', 'tenant-b']),
    );
    expect(data.usageStats.summary.requests).toBe(logged.a.length + logged.b.length);
    const perProject = Object.fromEntries(
      data.usageStats.breakdown.map(
        (g: { project: { key: string }; aliasName: string; requests: number }) => [
          `${g.project.key}/${g.aliasName}`,
          g.requests,
        ],
      ),
    );
    expect(perProject).toEqual({
      'tenant-a/a-secret-alias': 2,
      'tenant-a/a-other': 1,
      'tenant-b/b-alias': 2,
    });
    expect(data.usageLogs.edges).toHaveLength(5);
    expect(data.receipts.edges).toHaveLength(5);

    const onlyA = dataOf(
      await server.gql(
        `query($id: UUID!) {
          usageLogs(filter: { projectId: $id }) { edges { node { id } } }
          receipts(filter: { projectId: $id }) { edges { node { receiptId } } }
          usageStats(filter: { projectId: $id }) { summary { requests } }
          receipt: receipt(receiptId: "${logged.b[0].receipt.receiptId}") { projectKey }
        }`,
        { id: a.id },
        asAdmin,
      ),
    );
    expect(onlyA.usageLogs.edges.map((e: { node: { id: string } }) => e.node.id).sort()).toEqual(
      logged.a.map((l) => l.usageLog.id).sort(),
    );
    expect(onlyA.receipts.edges).toHaveLength(logged.a.length);
    expect(onlyA.usageStats.summary.requests).toBe(logged.a.length);
    expect(onlyA.receipt).toEqual({ projectKey: 'tenant-b' });
  });
});
