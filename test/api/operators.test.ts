/**
 * Operators over HTTP: the admin creates named tokens with roles; each role × each operation
 * gets what the role allows (data, FORBIDDEN naming the role, or UNAUTHENTICATED once revoked);
 * tokens are stored only as hashes and show their last use; and every change an operator or
 * the admin token makes is in the audit log (who, what, when), which refuses UPDATE and DELETE.
 */
import { createHash } from 'node:crypto';
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

let server: TestServer;
let project: TestProject;
const tokens: Record<'admin' | 'viewer' | 'billing', { id: string; token: string }> = {} as never;
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

const CREATE_OPERATOR = `mutation($n: String!, $r: OperatorRole!) {
  createOperator(name: $n, role: $r) { token operator { id name role prefix lastUsedAt revokedAt } } }`;

beforeAll(async () => {
  server = await startTestServer();
  project = await createProjectWithKey(server, 'operated');
  for (const role of ['admin', 'viewer', 'billing'] as const) {
    const created = dataOf(
      await server.gql(CREATE_OPERATOR, { n: `${role}-person`, r: role.toUpperCase() }, asAdmin),
    ).createOperator;
    expect(created.operator).toMatchObject({
      name: `${role}-person`,
      role: role.toUpperCase(),
      lastUsedAt: null,
    });
    expect(created.token.startsWith(created.operator.prefix)).toBe(true);
    tokens[role] = { id: created.operator.id, token: created.token };
  }
  dataOf(
    await server.gql(
      'mutation { logUsage(input: { provider: "openai", model: "gpt-4o", inputTokens: 5, outputTokens: 1 }) { usageLog { id } } }',
      {},
      withKey(project.secret),
    ),
  );
});
afterAll(() => server?.close());

type Role = 'admin' | 'viewer' | 'billing';
interface Op {
  name: string;
  query: string;
  variables?: () => Record<string, unknown>;
  allowed: Role[];
}

let n = 0;
const OPS: Op[] = [
  { name: 'projects', query: '{ projects { id } }', allowed: ['admin', 'viewer', 'billing'] },
  {
    name: 'usageLogs (every project)',
    query: '{ usageLogs { edges { node { id } } } }',
    allowed: ['admin', 'viewer', 'billing'],
  },
  {
    name: 'usageStats (a project)',
    query: 'query($p: UUID!) { usageStats(filter: { projectId: $p }) { summary { requests } } }',
    variables: () => ({ p: project.id }),
    allowed: ['admin', 'viewer', 'billing'],
  },
  {
    name: 'modelPrices',
    query: '{ modelPrices(provider: "openai", model: "gpt-4o") { id } }',
    allowed: ['admin', 'viewer', 'billing'],
  },
  {
    name: 'logUsage',
    query:
      'mutation { logUsage(input: { provider: "openai", model: "gpt-4o", inputTokens: 1, outputTokens: 1 }) { usageLog { id } } }',
    allowed: [],
  },
  {
    name: 'createProject',
    query: 'mutation($k: String!) { createProject(input: { key: $k, name: "By an operator" }) { id } }',
    variables: () => ({ k: `by-operator-${++n}` }),
    allowed: ['admin'],
  },
  {
    name: 'updateProject',
    query: 'mutation($p: UUID!) { updateProject(id: $p, input: { description: "changed" }) { id } }',
    variables: () => ({ p: project.id }),
    allowed: ['admin'],
  },
  {
    name: 'createApiKey',
    query:
      'mutation($p: UUID!) { createApiKey(projectId: $p, name: "by operator", scopes: [READ]) { secret } }',
    variables: () => ({ p: project.id }),
    allowed: ['admin'],
  },
  {
    name: 'setModelPrice',
    query: `mutation($p: UUID!, $f: DateTime!) { setModelPrice(input: { projectId: $p, provider: "openai", model: "gpt-4o",
      inputPerMillion: "1", outputPerMillion: "2", effectiveFrom: $f }) { id } }`,
    // Each allowed call a day later than the last, so that none overlaps another.
    variables: () => ({ p: project.id, f: new Date(Date.UTC(2020, 0, 1 + ++n)).toISOString() }),
    allowed: ['admin', 'billing'],
  },
  {
    name: 'repriceUsage (applied)',
    query: 'mutation($p: UUID!) { repriceUsage(filter: { projectId: $p }, dryRun: false) { applied } }',
    variables: () => ({ p: project.id }),
    allowed: ['admin', 'billing'],
  },
  { name: 'operators', query: '{ operators { id name lastUsedAt } }', allowed: ['admin'] },
  { name: 'auditLog', query: '{ auditLog { id action } }', allowed: ['admin'] },
  {
    name: 'createOperator',
    query: 'mutation($n: String!) { createOperator(name: $n, role: VIEWER) { token } }',
    variables: () => ({ n: `made-${++n}` }),
    allowed: ['admin'],
  },
];

describe.each(OPS.map((op) => [op.name, op] as const))('%s', (_name, op) => {
  test.each(['admin', 'viewer', 'billing'] as const)('as the %s operator', async (role) => {
    const res = await server.gql(op.query, op.variables?.() ?? {}, bearer(tokens[role].token));
    if (op.allowed.includes(role)) {
      expect({ status: res.status, errors: res.body.errors ?? [] }).toEqual({ status: 200, errors: [] });
    } else {
      expect({ status: res.status, codes: errorCodes(res) }).toEqual({ status: 200, codes: ['FORBIDDEN'] });
      if (op.name !== 'logUsage') {
        expect(res.body.errors?.[0].message).toContain(`'${role}-person' is ${role.toUpperCase()}`);
      }
    }
  });
});

describe('the audit log', () => {
  test('holds every change, with who made it, and nothing for refused or read-only calls', async () => {
    const log = dataOf(
      await server.gql(
        '{ auditLog(first: 500) { id at actor actorOperatorId action targetType targetId details } }',
        {},
        asAdmin,
      ),
    ).auditLog as Array<{
      id: string;
      at: string;
      actor: string;
      actorOperatorId: string | null;
      action: string;
      targetType: string | null;
      details: Record<string, unknown>;
    }>;
    const summary = log.map((e) => `${e.actor} ${e.action}`).reverse();
    expect(summary).toEqual([
      'admin token createProject', // createProjectWithKey
      'admin token createApiKey',
      'admin token createOperator',
      'admin token createOperator',
      'admin token createOperator',
      'admin-person createProject',
      'admin-person updateProject',
      'admin-person createApiKey',
      'admin-person setModelPrice',
      'billing-person setModelPrice',
      'admin-person repriceUsage',
      'billing-person repriceUsage',
      'admin-person createOperator',
    ]);
    // Newest first, ids increasing with time.
    expect(log.map((e) => Number(e.id))).toEqual([...log.map((e) => Number(e.id))].sort((a, b) => b - a));
    const byAdminPerson = log.filter((e) => e.actor === 'admin-person');
    expect(new Set(byAdminPerson.map((e) => e.actorOperatorId))).toEqual(new Set([tokens.admin.id]));
    const key = log.find((e) => e.actor === 'admin-person' && e.action === 'createApiKey')!;
    expect(key).toMatchObject({
      targetType: 'api_key',
      details: { projectId: project.id, scopes: ['READ'] },
    });
    // No secret in the log: the created key's and operator's secrets were in answers only.
    const text = JSON.stringify(log);
    for (const t of Object.values(tokens)) expect(text).not.toContain(t.token);
    expect(text).not.toContain(project.secret);
  });

  test('pages with before', async () => {
    const page = async (before?: string) =>
      dataOf(
        await server.gql('query($b: ID) { auditLog(first: 5, before: $b) { id } }', { b: before }, asAdmin),
      ).auditLog.map((e: { id: string }) => e.id);
    const first = await page();
    const second = await page(first[first.length - 1]);
    expect(first.length).toBe(5);
    expect(Math.max(...second.map(Number))).toBeLessThan(Math.min(...first.map(Number)));
    const bad = await server.gql('{ auditLog(first: 0) { id } }', {}, asAdmin);
    expect(errorCodes(bad)).toEqual(['BAD_USER_INPUT']);
    expect(bad.body.errors?.[0].extensions?.field).toBe('first');
  });

  test('is append-only: the database refuses UPDATE, DELETE and TRUNCATE', async () => {
    const db = server.app.db;
    await expect(db('audit_log').update({ actor_name: 'someone else' })).rejects.toThrow(/append-only/);
    await expect(db('audit_log').delete()).rejects.toThrow(/append-only/);
    await expect(db.raw('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    expect(Number((await db('audit_log').count({ n: '*' }))[0].n)).toBeGreaterThan(10);
  });
});

describe('operator tokens', () => {
  test('are stored only as SHA-256 hashes, and list with their last use', async () => {
    const rows = await server.app.db('operators').select('*');
    const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
    const hashes = new Set(rows.map((r) => r.token_hash));
    for (const t of Object.values(tokens)) expect(hashes.has(sha(t.token))).toBe(true);
    const dump = JSON.stringify(rows);
    for (const t of Object.values(tokens)) expect(dump).not.toContain(t.token);
    const listed = dataOf(await server.gql('{ operators { name lastUsedAt } }', {}, asAdmin)).operators;
    for (const role of ['admin', 'viewer', 'billing']) {
      expect(listed.find((o: { name: string }) => o.name === `${role}-person`).lastUsedAt).not.toBeNull();
    }
  });

  test('work only as Authorization: Bearer, and a name is taken while its operator works', async () => {
    const res = await server.gql('{ projects { id } }', {}, withKey(tokens.viewer.token));
    expect(res.status).toBe(401);
    const dup = await server.gql(CREATE_OPERATOR, { n: 'viewer-person', r: 'VIEWER' }, asAdmin);
    expect(errorCodes(dup)).toEqual(['BAD_USER_INPUT']);
    expect(dup.body.errors?.[0].extensions?.field).toBe('name');
  });

  test('stop working once revoked, and the revocation is audited', async () => {
    const revoked = dataOf(
      await server.gql(
        'mutation($id: UUID!) { revokeOperator(id: $id) { revokedAt } }',
        { id: tokens.billing.id },
        bearer(tokens.admin.token),
      ),
    ).revokeOperator;
    expect(revoked.revokedAt).not.toBeNull();
    const res = await server.gql('{ projects { id } }', {}, bearer(tokens.billing.token));
    expect(res.status).toBe(401);
    expect(res.body.errors?.[0].message).toBe('the operator token is unknown or revoked');
    const [latest] = dataOf(
      await server.gql('{ auditLog(first: 1) { actor action targetId } }', {}, asAdmin),
    ).auditLog;
    expect(latest).toEqual({ actor: 'admin-person', action: 'revokeOperator', targetId: tokens.billing.id });
  });
});
