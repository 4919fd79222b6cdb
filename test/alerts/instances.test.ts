/**
 * Two instances on one Postgres database, each running its alert worker and webhook sender, and
 * one receiver verifying with the Standard Webhooks library: a budget crossing 50%, 80% and 100%
 * sends exactly three events, whichever instance decides and delivers them.
 * (The embedded database belongs to one process, so this runs on Postgres only.)
 */
import type { App } from '../../src/app';
import { onPostgres } from '../helpers/db';
import { startInstances, type Instances } from '../helpers/instances';
import { ADMIN_TOKEN } from '../helpers/server';
import { startReceiver, type Receiver } from '../helpers/webhookReceiver';

const maybe = onPostgres ? describe : describe.skip;
const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };

async function gql(base: string, headers: Record<string, string>, query: string, variables?: object) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

maybe('budgets on two instances', () => {
  let instances: Instances;
  let receiver: Receiver;
  let apps: App[];
  let bases: string[];

  beforeAll(async () => {
    receiver = await startReceiver();
    instances = await startInstances(2, {
      LLMRING_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      LLMRING_ALERT_INTERVAL_MS: '100',
      LLMRING_WEBHOOK_POLL_MS: '50',
    });
    ({ apps, bases } = instances);
  });

  afterAll(async () => {
    await instances?.close();
    await receiver?.close();
  });

  test('50%, 80% and 100%: three signed events, no more, across both instances', async () => {
    const project = (
      await gql(bases[0], admin, 'mutation { createProject(input: {key: "two", name: "Two"}) { id } }')
    ).createProject.id as string;
    const key = (
      await gql(
        bases[1],
        admin,
        'mutation($p: UUID!) { createApiKey(projectId: $p, name: "k") { secret } }',
        { p: project },
      )
    ).createApiKey.secret as string;
    const hook = await gql(
      bases[1],
      admin,
      'mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret } }',
      { i: { projectId: project, url: receiver.url, events: ['BUDGET_THRESHOLD_CROSSED'] } },
    );
    receiver.useSecret(hook.createWebhook.secret);
    await gql(bases[0], admin, 'mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }', {
      i: { projectId: project, name: 'Both', amount: '10', period: 'TOTAL', thresholds: [50, 80, 100] },
    });
    const spend = (cost: number, base: string) =>
      gql(
        base,
        { 'X-API-Key': key },
        'mutation($i: LogUsageInput!) { logUsage(input: $i) { usageLog { id } } }',
        {
          i: { provider: 'openai', model: 'gpt-4o', inputTokens: 1, outputTokens: 1, cost },
        },
      );

    await spend(5.5, bases[0]);
    // Both instances' workers also race on purpose: rounds run at once on each.
    await Promise.all(apps.map((a) => a.services.alerts.runOnce()));
    await receiver.until((got) => got.length >= 1);
    await spend(3, bases[1]);
    await Promise.all(apps.map((a) => a.services.alerts.runOnce()));
    await receiver.until((got) => got.length >= 2);
    await spend(2, bases[0]);
    await receiver.until((got) => got.length >= 3);
    // Several more rounds on both (their own timers too) change nothing.
    await Promise.all(apps.flatMap((a) => [a.services.alerts.runOnce(), a.services.alerts.runOnce()]));
    await new Promise((r) => setTimeout(r, 800));

    expect(receiver.received.map((r) => r.error)).toEqual([null, null, null]);
    expect(receiver.verified().map((e) => e.data.threshold)).toEqual([50, 80, 100]);
    expect(new Set(receiver.received.map((r) => r.id)).size).toBe(3);
  });
});
