/**
 * Budgets, spike alerts and webhooks end to end: GraphQL as an admin and a project key would
 * use it, the alert worker's rounds at chosen instants, and receivers on loopback that verify
 * every delivery with the Standard Webhooks library.
 */
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
import { startReceiver, type Receiver } from '../helpers/webhookReceiver';

let server: TestServer;
const receivers: Receiver[] = [];

beforeAll(async () => {
  server = await startTestServer({
    LLMRING_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
    // Rounds run when the tests say, at the instants they choose.
    LLMRING_ALERT_INTERVAL_MS: '3600000',
    LLMRING_WEBHOOK_POLL_MS: '50',
    LLMRING_WEBHOOK_RETRY_BASE_MS: '50',
    LLMRING_WEBHOOK_TIMEOUT_MS: '500',
  });
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await server?.close();
});

async function receiver(script?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(script);
  receivers.push(r);
  return r;
}

async function webhook(project: TestProject | null, r: Receiver, events: string[]) {
  const res = await server.gql(
    `mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { secret webhook { id url events } } }`,
    { input: { projectId: project?.id ?? null, url: r.url, events } },
    asAdmin,
  );
  const created = dataOf(res).createWebhook;
  r.useSecret(created.secret);
  return created.webhook.id as string;
}

async function budget(input: Record<string, unknown>) {
  const res = await server.gql(
    `mutation($input: CreateBudgetInput!) { createBudget(input: $input) { id period timeZone thresholds amount } }`,
    { input },
    asAdmin,
  );
  return dataOf(res).createBudget as { id: string };
}

/** Calls with client costs at given instants. */
async function spend(project: TestProject, calls: Array<{ cost: number; at: string; aliasName?: string }>) {
  const res = await server.gql(
    `mutation($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { replayed } } }`,
    {
      inputs: calls.map((c) => ({
        provider: 'openai',
        model: 'gpt-4o',
        inputTokens: 10,
        outputTokens: 1,
        cost: c.cost,
        occurredAt: c.at,
        aliasName: c.aliasName ?? null,
      })),
    },
    withKey(project.secret),
  );
  dataOf(res);
}

const round = (at: string) => server.app.services.alerts.runOnce(new Date(at));
const settle = () => new Promise((r) => setTimeout(r, 400));

describe('a budget crossing its thresholds', () => {
  test('50%, 80% and 100% send exactly three signed events, each once, however many rounds run', async () => {
    const project = await createProjectWithKey(server, 'thresholds');
    const r = await receiver();
    await webhook(project, r, ['BUDGET_THRESHOLD_CROSSED']);
    const b = await budget({
      projectId: project.id,
      name: 'June',
      amount: '10',
      period: 'MONTH',
      timeZone: 'America/Los_Angeles',
      thresholds: [80, 50, 100],
    });

    // June in Los Angeles: 2026-06-01T07:00Z to 2026-07-01T07:00Z.
    await spend(project, [{ cost: 5.5, at: '2026-06-10T12:00:00Z' }]);
    // A call on 31 May in Los Angeles (00:30Z on 1 June) is not June's.
    await spend(project, [{ cost: 4, at: '2026-06-01T06:30:00Z' }]);
    for (let i = 0; i < 3; i++) await round('2026-06-20T00:00:00Z');
    await r.until((got) => got.length >= 1);
    await spend(project, [{ cost: 3, at: '2026-06-11T12:00:00Z' }]);
    await round('2026-06-20T00:00:00Z');
    await round('2026-06-20T00:00:01Z');
    await r.until((got) => got.length >= 2);
    await spend(project, [{ cost: 1.5, at: '2026-06-12T12:00:00Z' }]);
    await round('2026-06-20T00:00:00Z');
    await r.until((got) => got.length >= 3);
    await round('2026-06-21T00:00:00Z');
    await settle();

    expect(r.received.map((x) => x.error)).toEqual([null, null, null]);
    expect(new Set(r.received.map((x) => x.id)).size).toBe(3);
    const events = r.verified();
    expect(events.map((e) => [e.type, e.data.threshold, e.data.spent])).toEqual([
      ['budget.threshold_crossed', 50, '5.50000000'],
      ['budget.threshold_crossed', 80, '8.50000000'],
      ['budget.threshold_crossed', 100, '10.00000000'],
    ]);
    expect(events[0].data).toMatchObject({
      budget: { id: b.id, name: 'June', project_key: 'thresholds', amount: '10.00000000', period: 'month' },
      period: { start: '2026-06-01T07:00:00.000Z', end: '2026-07-01T07:00:00.000Z' },
      percent: 55,
    });
  });

  test('a round after thresholds were decided inserts no event again: one read, not an insert per crossed threshold', async () => {
    const project = await createProjectWithKey(server, 'decided-once');
    await budget({
      projectId: project.id,
      name: 'June',
      amount: '1',
      period: 'MONTH',
      timeZone: 'UTC',
      thresholds: [50, 100],
    });
    await spend(project, [{ cost: 2, at: '2026-06-10T12:00:00Z' }]);
    await round('2026-06-20T00:00:00Z');
    const inserts: string[] = [];
    const listener = (q: { sql: string }) => {
      if (/INSERT INTO alert_events/i.test(q.sql)) inserts.push(q.sql);
    };
    server.app.db.on('query', listener);
    try {
      await round('2026-06-20T00:00:01Z');
    } finally {
      server.app.db.removeListener('query', listener);
    }
    expect(inserts).toEqual([]);
    const decided = await server.app
      .db('alert_events')
      .where({ project_id: project.id })
      .orderBy('threshold')
      .select('type', 'threshold');
    expect(decided).toEqual([
      { type: 'threshold_crossed', threshold: 50 },
      { type: 'threshold_crossed', threshold: 100 },
    ]);
  });

  test('a new period sends budget.period_reset once; one that began before the budget, none', async () => {
    const project = await createProjectWithKey(server, 'resets');
    const r = await receiver();
    await webhook(project, r, ['BUDGET_PERIOD_RESET']);
    await budget({
      projectId: project.id,
      name: 'Weekly',
      amount: '100',
      period: 'WEEK',
      timeZone: 'Europe/Berlin',
    });
    const now = Date.now();
    await round(new Date(now).toISOString());
    // Eight days on, a new ISO week has begun in Berlin.
    const later = new Date(now + 8 * 86_400_000).toISOString();
    await round(later);
    await round(later);
    await r.until((got) => got.length >= 1);
    await settle();
    expect(r.verified().map((e) => e.type)).toEqual(['budget.period_reset']);
    const start = new Date((r.verified()[0].data.period as { start: string }).start);
    expect(start.getTime()).toBeGreaterThan(now);
  });
});

describe('what a budget counts, and who may see it', () => {
  test('status: spent exact, remaining, percent, thresholds reached, forecast; a filter narrows it', async () => {
    const project = await createProjectWithKey(server, 'status');
    const all = await budget({
      projectId: project.id,
      name: 'All',
      amount: '1',
      period: 'TOTAL',
      thresholds: [10, 50],
    });
    const only = await budget({
      projectId: project.id,
      name: 'Summaries',
      amount: '1',
      period: 'TOTAL',
      aliasNames: ['summarizer'],
    });
    const now = new Date().toISOString();
    // 0.1 + 0.2 as floats is 0.30000000000000004; the budget counts exact decimals.
    await spend(project, [
      { cost: 0.1, at: now, aliasName: 'summarizer' },
      { cost: 0.2, at: now },
    ]);
    const status = async (id: string) =>
      dataOf(
        await server.gql(
          `query($id: UUID!) { budgetStatus(id: $id) { spent remaining percent thresholdsCrossed forecast periodEnd budget { name } } }`,
          { id },
          withKey(project.secret),
        ),
      ).budgetStatus;
    expect(await status(all.id)).toEqual({
      spent: '0.30000000',
      remaining: '0.70000000',
      percent: 30,
      thresholdsCrossed: [10],
      forecast: null,
      periodEnd: null,
      budget: { name: 'All' },
    });
    expect((await status(only.id)).spent).toBe('0.10000000');

    const monthly = await budget({ projectId: project.id, name: 'Monthly', amount: '1', period: 'MONTH' });
    const m = dataOf(
      await server.gql(
        `query($id: UUID!) { budget(id: $id) { status { spent forecast periodStart periodEnd } } }`,
        { id: monthly.id },
        asAdmin,
      ),
    ).budget.status;
    // The run-rate forecast: spent x period length / elapsed, at least what was spent.
    expect(Number(m.forecast)).toBeGreaterThanOrEqual(Number(m.spent));
    expect(new Date(m.periodStart).getTime()).toBeLessThanOrEqual(Date.now());
    expect(new Date(m.periodEnd).getTime()).toBeGreaterThan(Date.now());
  });

  test('a project key reads its own budgets only, and changes nothing', async () => {
    const a = await createProjectWithKey(server, 'owner-a');
    const b = await createProjectWithKey(server, 'owner-b');
    const mine = await budget({ projectId: a.id, name: 'A', amount: '5' });
    const listed = dataOf(await server.gql('{ budgets { id } }', {}, withKey(a.secret))).budgets;
    expect(listed).toEqual([{ id: mine.id }]);
    expect(dataOf(await server.gql('{ budgets { id } }', {}, withKey(b.secret))).budgets).toEqual([]);
    const foreign = await server.gql(
      'query($id: UUID!) { budget(id: $id) { id } }',
      { id: mine.id },
      withKey(b.secret),
    );
    expect(dataOf(foreign).budget).toBeNull();
    const status = await server.gql(
      'query($id: UUID!) { budgetStatus(id: $id) { spent } }',
      { id: mine.id },
      withKey(b.secret),
    );
    expect(errorCodes(status)).toEqual(['NOT_FOUND']);
    const create = await server.gql(
      'mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }',
      { i: { projectId: a.id, name: 'x', amount: '1' } },
      withKey(a.secret),
    );
    expect(errorCodes(create)).toEqual(['FORBIDDEN']);
    expect(errorCodes(await server.gql('{ webhooks { id } }', {}, withKey(a.secret)))).toEqual(['FORBIDDEN']);
  });

  test.each([
    [{ amount: '0' }, 'input.amount'],
    [{ amount: '1.123456789' }, 'input.amount'],
    [{ thresholds: [0] }, 'input.thresholds'],
    [{ thresholds: [] }, 'input.thresholds'],
    [{ timeZone: 'Mars/Olympus_Mons' }, 'input.timeZone'],
    [{ metadata: [{ key: 'customer', values: ['acme'] }] }, 'filter.metadata'],
  ])('refused with the field named: %j', async (change, field) => {
    const project = await createProjectWithKey(
      server,
      `bad-${Object.keys(change)[0].toLowerCase()}-${Math.random().toString(36).slice(2, 7)}`,
    );
    const res = await server.gql(
      'mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }',
      { i: { projectId: project.id, name: 'x', amount: '1', ...change } },
      asAdmin,
    );
    expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0].extensions?.field).toMatch(new RegExp(`^${field.replace('.', '\\.')}`));
  });
});

describe('deliveries', () => {
  test('a receiver that fails three times gets the same message a fourth time, and it is delivered', async () => {
    const r = await receiver((n) => (n <= 3 ? 500 : 204));
    const id = await webhook(null, r, ['WEBHOOK_TEST']);
    const queued = dataOf(
      await server.gql('mutation($id: UUID!) { testWebhook(id: $id) { id status } }', { id }, asAdmin),
    ).testWebhook;
    await r.until((got) => got.length >= 4);
    await settle();
    expect(r.received).toHaveLength(4);
    expect(new Set(r.received.map((x) => x.id))).toEqual(new Set([queued.id]));
    expect(new Set(r.received.map((x) => x.body)).size).toBe(1);
    expect(r.received.every((x) => x.payload?.type === 'webhook.test')).toBe(true);
    const [delivery] = dataOf(
      await server.gql(
        `query($id: UUID!) { webhookDeliveries(webhookId: $id) { id status attempts lastStatusCode attemptHistory { statusCode error } } }`,
        { id },
        asAdmin,
      ),
    ).webhookDeliveries;
    expect(delivery).toMatchObject({ id: queued.id, status: 'DELIVERED', attempts: 4, lastStatusCode: 204 });
    expect(delivery.attemptHistory.map((a: { statusCode: number }) => a.statusCode)).toEqual([
      500, 500, 500, 204,
    ]);
  });

  test('a receiver that hangs is timed out and tried again', async () => {
    const r = await receiver((n) => (n === 1 ? 'hang' : 204));
    const id = await webhook(null, r, ['WEBHOOK_TEST']);
    await server.gql('mutation($id: UUID!) { testWebhook(id: $id) { id } }', { id }, asAdmin);
    await r.until((got) => got.length >= 2);
    await settle();
    const [delivery] = dataOf(
      await server.gql(
        `query($id: UUID!) { webhookDeliveries(webhookId: $id) { status attemptHistory { statusCode error } } }`,
        { id },
        asAdmin,
      ),
    ).webhookDeliveries;
    expect(delivery.status).toBe('DELIVERED');
    expect(delivery.attemptHistory[0]).toEqual({ statusCode: null, error: 'no answer within 500 ms' });
    expect(delivery.attemptHistory[1]).toEqual({ statusCode: 204, error: null });
    expect(r.received[0].id).toBe(r.received[1].id);
  });

  test.each([
    ['ftp://127.0.0.1/hooks', /http or https/],
    ['http://user:pw@127.0.0.1/hooks', /credentials/],
    ['https://example.com/hooks', /not in LLMRING_WEBHOOK_ALLOWED_HOSTS/],
    ['not a url', /absolute http/],
  ])('refused: %s', async (url, message) => {
    const res = await server.gql(
      'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret } }',
      { i: { url, events: ['WEBHOOK_TEST'] } },
      asAdmin,
    );
    expect(errorCodes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.body.errors![0].message).toMatch(message);
  });
});

describe('spike alerts', () => {
  test("today's hours against the same hours of the week before: one event that day", async () => {
    const project = await createProjectWithKey(server, 'spiky');
    const r = await receiver();
    await webhook(project, r, ['USAGE_SPIKE']);
    const created = dataOf(
      await server.gql(
        'mutation($i: CreateSpikeAlertInput!) { createSpikeAlert(input: $i) { id factor minimumCost } }',
        { i: { projectId: project.id, factor: 2, minimumCost: '1' } },
        asAdmin,
      ),
    ).createSpikeAlert;
    // $1 between midnight and noon on each of the 7 days before, and $100 each evening (not the
    // same hours); $5 this morning: 5 > 2 x (7 / 7).
    const days = Array.from({ length: 7 }, (_, i) => `2026-06-${String(8 + i).padStart(2, '0')}`);
    await spend(project, [
      ...days.map((d) => ({ cost: 1, at: `${d}T06:00:00Z` })),
      ...days.map((d) => ({ cost: 100, at: `${d}T18:00:00Z` })),
      { cost: 1.5, at: '2026-06-15T05:00:00Z' },
    ]);
    await round('2026-06-15T12:00:00Z');
    await settle();
    expect(r.received).toHaveLength(0); // 1.5 is not more than twice 1
    await spend(project, [{ cost: 3.5, at: '2026-06-15T06:00:00Z' }]);
    await round('2026-06-15T12:00:00Z');
    await round('2026-06-15T13:00:00Z');
    await r.until((got) => got.length >= 1);
    await settle();
    expect(r.verified().map((e) => [e.type, e.data.today, e.data.baseline])).toEqual([
      ['usage.spike', '5.00000000', '1.00000000'],
    ]);
    expect(r.verified()[0].data.spike_alert).toMatchObject({ id: created.id, factor: 2 });
  });

  test("the trailing days' partial hours count: no spike when they hold the baseline", async () => {
    const project = await createProjectWithKey(server, 'spiky-edges');
    const r = await receiver();
    await webhook(project, r, ['USAGE_SPIKE']);
    await server.gql(
      'mutation($i: CreateSpikeAlertInput!) { createSpikeAlert(input: $i) { id } }',
      { i: { projectId: project.id, factor: 2, minimumCost: '1' } },
      asAdmin,
    );
    // Each of the 7 days before: $1 at 12:10, inside the window up to 12:30 but outside its
    // whole hours. Today $1.50, less than twice that; $3 more makes it a spike.
    const days = Array.from({ length: 7 }, (_, i) => `2026-07-${String(8 + i).padStart(2, '0')}`);
    await spend(project, [
      ...days.map((d) => ({ cost: 1, at: `${d}T12:10:00Z` })),
      { cost: 1.5, at: '2026-07-15T06:00:00Z' },
    ]);
    await round('2026-07-15T12:30:00Z');
    await settle();
    expect(r.received).toHaveLength(0);
    await spend(project, [{ cost: 3, at: '2026-07-15T07:00:00Z' }]);
    await round('2026-07-15T12:30:00Z');
    await r.until((got) => got.length >= 1);
    expect(r.verified().map((e) => [e.type, e.data.today, e.data.baseline])).toEqual([
      ['usage.spike', '4.50000000', '1.00000000'],
    ]);
  });
});

describe('who may change budgets and webhooks, and the audit log', () => {
  async function operator(name: string, role: 'VIEWER' | 'BILLING') {
    const { createOperator } = dataOf(
      await server.gql(
        'mutation($n: String!, $r: OperatorRole!) { createOperator(name: $n, role: $r) { token } }',
        { n: name, r: role },
        asAdmin,
      ),
    );
    return { Authorization: `Bearer ${createOperator.token}` };
  }
  const CREATE = 'mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }';
  const HOOK = `mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } secret } }`;

  test('BILLING manages budgets, not webhooks; VIEWER reads budgets and changes nothing; each change is audited', async () => {
    const project = await createProjectWithKey(server, 'budget-roles');
    const billing = await operator('finance', 'BILLING');
    const viewer = await operator('auditor', 'VIEWER');
    const input = { projectId: project.id, name: 'Finance cap', amount: '100', period: 'MONTH' };

    const made = dataOf(await server.gql(CREATE, { i: input }, billing)).createBudget.id as string;
    expect(errorCodes(await server.gql(CREATE, { i: input }, viewer))).toEqual(['FORBIDDEN']);
    const hook = { projectId: project.id, url: 'http://127.0.0.1:9/h', events: ['BUDGET_THRESHOLD_CROSSED'] };
    expect(errorCodes(await server.gql(HOOK, { i: hook }, billing))).toEqual(['FORBIDDEN']);
    const { createWebhook } = dataOf(await server.gql(HOOK, { i: hook }, asAdmin));
    const seen = dataOf(
      await server.gql('query($p: UUID) { budgets(projectId: $p) { id } }', { p: project.id }, viewer),
    );
    expect(seen.budgets).toEqual([{ id: made }]);

    const { auditLog } = dataOf(
      await server.gql('{ auditLog(first: 20) { actor action targetType targetId details } }', {}, asAdmin),
    );
    const mine = auditLog.filter((e: { targetId: string }) =>
      [made, createWebhook.webhook.id].includes(e.targetId),
    );
    expect(mine.map((e: { actor: string; action: string }) => [e.actor, e.action]).sort()).toEqual([
      ['admin token', 'createWebhook'],
      ['finance', 'createBudget'],
    ]);
    // No secret is ever recorded.
    expect(JSON.stringify(auditLog)).not.toContain(createWebhook.secret);
  });
});
