/**
 * `budget create|list|status|delete` and `webhook create|list|deliveries|test|delete`, over
 * BudgetService and WebhookService, as an admin (docs/budgets.md); changes go to the audit log
 * as the CLI's.
 */
import type { Command } from 'commander';
import type { Budget, BudgetPeriod, BudgetStatus, Webhook, WebhookDelivery } from '../../domain/alerts';
import { WEBHOOK_EVENTS, type WebhookEventType } from '../../domain/alerts';
import { CLI_ACTOR } from '../../domain/access';
import { ServiceError } from '../../services/errors';
import { CliError, type CliContext } from '../context';
import { collect, metadataFilters } from '../filters';
import { json, table, usd, when } from '../format';
import type { Act } from '../program';

/** Service field names -> the options the operator typed. */
const BUDGET_OPTIONS: Record<string, string> = {
  'input.name': '--name',
  'input.amount': '--amount',
  'input.period': '--period',
  'input.timeZone': '--time-zone',
  'input.thresholds': '--thresholds',
  'filter.aliasNames': '--alias',
  'filter.models': '--model',
  'filter.origins': '--origin',
  'filter.metadata': '--metadata',
  'input.url': '--url',
  'input.events': '--event',
  'input.secret': '--secret',
  'input.description': '--description',
};

function inOptionTerms(err: unknown): unknown {
  if (!(err instanceof ServiceError) || err.field === undefined || err.problem === undefined) return err;
  const option = BUDGET_OPTIONS[err.field] ?? BUDGET_OPTIONS[err.field.replace(/\[\d+\].*$/, '')];
  return option ? new ServiceError(err.code, `${option}: ${err.problem}`, option, err.problem) : err;
}

const PERIODS = ['day', 'week', 'month', 'total'];

function thresholds(text: string | undefined): number[] | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^[0-9]{1,4}$/.test(p)))
    throw new CliError(`--thresholds: expected whole percentages separated by commas, e.g. 50,80,100`, 2);
  return parts.map(Number);
}

function budgetJson(b: Budget, projectKey: string) {
  return {
    ...b,
    project: projectKey,
    createdAt: b.createdAt.toISOString(),
    updatedAt: b.updatedAt.toISOString(),
  };
}

function statusJson(s: BudgetStatus, projectKey: string) {
  return {
    budget: budgetJson(s.budget, projectKey),
    periodStart: s.periodStart.toISOString(),
    periodEnd: s.periodEnd?.toISOString() ?? null,
    spent: s.spent,
    remaining: s.remaining,
    percent: s.percent,
    thresholdsCrossed: s.thresholdsCrossed,
    forecast: s.forecast,
    asOf: s.asOf.toISOString(),
  };
}

/** '[########------------] 41.2%': spending against the amount, for a terminal. */
function bar(percent: number, width = 20): string {
  const filled = Math.max(0, Math.min(width, Math.round((percent / 100) * width)));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent.toFixed(1)}%`;
}

function filterText(b: Budget): string {
  const f = b.filter;
  const parts = [
    ...(f.aliasNames ?? []).map((a) => `alias=${a ?? '(none)'}`),
    ...(f.models ?? []).map((m) => `model=${m}`),
    ...(f.origins ?? []).map((o) => `origin=${o}`),
    ...(f.metadata ?? []).flatMap((m) => m.values.map((v) => `${m.key}=${v ?? '(none)'}`)),
  ];
  return parts.length ? parts.join(' ') : '-';
}

async function keysOf(ctx: CliContext, projectIds: Array<string | null>): Promise<Map<string, string>> {
  const { projects } = await ctx.services();
  const ids = [...new Set(projectIds.filter((id): id is string => id !== null))];
  const found = await projects.getByIds(ids);
  return new Map(found.filter((p) => p !== null).map((p) => [p!.id, p!.key]));
}

function statusLines(s: BudgetStatus): string {
  const b = s.budget;
  const end = s.periodEnd ? ` to ${when(s.periodEnd)}` : '';
  return [
    `${b.name} (${b.period}, ${b.timeZone}): ${usd(s.spent)} of ${usd(b.amount)} ${bar(s.percent)}`,
    `  period ${when(s.periodStart)}${end}; remaining ${usd(s.remaining)}` +
      (s.forecast ? `; forecast at period end ${usd(s.forecast)}` : ''),
    `  thresholds ${b.thresholds.map((t) => (s.thresholdsCrossed.includes(t) ? `${t}% (crossed)` : `${t}%`)).join(', ')}`,
  ].join('\n');
}

function registerBudgetCommands(program: Command, act: Act): void {
  const budget = program
    .command('budget')
    .description('budgets: an amount per day, week, month or in total, with thresholds that send webhooks');

  budget
    .command('create')
    .description("hold a project's spending (or part of it) against an amount per period")
    .argument('<project>', 'the project, by key or id')
    .requiredOption('--amount <usd>', 'USD per period, e.g. 250')
    .option('--name <name>', 'a name for people (default: "<period> budget")')
    .option('--period <period>', `one of ${PERIODS.join(', ')}`, 'month')
    .option('--time-zone <zone>', 'IANA zone the periods start at local midnight in', 'UTC')
    .option('--thresholds <percents>', 'percentages that send an event, e.g. 50,80,100,120', '50,80,100')
    .option('--alias <name>', 'only calls under this alias name (repeatable)', collect)
    .option('--unaliased', 'only (or also, with --alias) calls without an alias')
    .option('--model <model>', 'only this model (repeatable)', collect)
    .option('--origin <origin>', 'only this origin (repeatable)', collect)
    .option('--metadata <key=value>', 'only calls with this promoted metadata value (repeatable)', collect)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ llmring-server budget create client-a --amount 500 --period month --time-zone America/Los_Angeles
  $ llmring-server budget create client-a --amount 20 --period day --alias summarizer --thresholds 80,100`,
    )
    .action(
      act(async (ctx, [ref], opts: Record<string, string | string[] | boolean | undefined>) => {
        const { budgets, admin } = await ctx.services();
        const project = await ctx.project(ref);
        const period = String(opts.period).toLowerCase();
        if (!PERIODS.includes(period)) throw new CliError(`--period: one of ${PERIODS.join(', ')}`, 2);
        const aliasNames: Array<string | null> = [...((opts.alias as string[] | undefined) ?? [])];
        if (opts.unaliased) aliasNames.push(null);
        const create = () =>
          budgets.create(project.id, {
            name: (opts.name as string | undefined) ?? `${period} budget`,
            amount: opts.amount as string,
            period: period as BudgetPeriod,
            timeZone: opts.timeZone as string,
            thresholds: thresholds(opts.thresholds as string),
            filter: {
              aliasNames: aliasNames.length ? aliasNames : undefined,
              models: opts.model as string[] | undefined,
              origins: opts.origin as string[] | undefined,
              metadata: metadataFilters(opts.metadata as string[] | undefined),
            },
          });
        const created = await admin
          .audited(CLI_ACTOR, { action: 'createBudget', targetType: 'budget' }, create, (b) => ({
            targetId: b.id,
            details: { projectId: b.projectId, name: b.name, amount: b.amount, period: b.period },
          }))
          .catch((err: unknown) => Promise.reject(inOptionTerms(err)));
        if (opts.json) return ctx.out(json(budgetJson(created, project.key)));
        ctx.out(`Budget ${created.id} created for project '${project.key}'.`);
        ctx.out(statusLines(await budgets.status(created)));
      }),
    );

  budget
    .command('list')
    .description('budgets with what each has spent in its current period')
    .option('--project <project>', "only this project's (default: every project's)")
    .option('--json', 'print JSON')
    .action(
      act(async (ctx, _args, opts: { project?: string; json?: boolean }) => {
        const { budgets } = await ctx.services();
        const list = await budgets.list(opts.project ? [(await ctx.project(opts.project)).id] : null);
        const keys = await keysOf(
          ctx,
          list.map((b) => b.projectId),
        );
        const statuses = await Promise.all(list.map((b) => budgets.status(b)));
        if (opts.json)
          return ctx.out(json(statuses.map((s) => statusJson(s, keys.get(s.budget.projectId) ?? ''))));
        if (list.length === 0) return ctx.out("No budgets yet: 'llmring-server budget create' makes one.");
        ctx.out(
          table(statuses, [
            { header: 'ID', value: (s) => s.budget.id },
            { header: 'PROJECT', value: (s) => keys.get(s.budget.projectId) ?? s.budget.projectId },
            { header: 'NAME', value: (s) => s.budget.name },
            { header: 'PERIOD', value: (s) => `${s.budget.period} ${s.budget.timeZone}` },
            { header: 'COUNTS', value: (s) => filterText(s.budget) },
            { header: 'SPENT', value: (s) => usd(s.spent), align: 'right' },
            { header: 'AMOUNT', value: (s) => usd(s.budget.amount), align: 'right' },
            { header: 'USED', value: (s) => bar(s.percent, 10) },
            { header: 'FORECAST', value: (s) => (s.forecast ? usd(s.forecast) : '-'), align: 'right' },
          ]),
        );
      }),
    );

  budget
    .command('status')
    .description("a budget's period, spending, thresholds crossed and forecast")
    .argument('<id>', 'the budget id (see budget list)')
    .option('--json', 'print JSON')
    .action(
      act(async (ctx, [id], opts: { json?: boolean }) => {
        const { budgets } = await ctx.services();
        const status = await budgets.status(await budgets.require(id));
        const keys = await keysOf(ctx, [status.budget.projectId]);
        if (opts.json) return ctx.out(json(statusJson(status, keys.get(status.budget.projectId) ?? '')));
        ctx.out(statusLines(status));
      }),
    );

  budget
    .command('delete')
    .description('delete a budget (events already queued are still delivered)')
    .argument('<id>', 'the budget id')
    .action(
      act(async (ctx, [id]) => {
        const { budgets, admin } = await ctx.services();
        const deleted = await admin.audited(
          CLI_ACTOR,
          { action: 'deleteBudget', targetType: 'budget' },
          () => budgets.delete(id),
          (b) => ({ targetId: b.id, details: { projectId: b.projectId, name: b.name } }),
        );
        ctx.out(`Budget ${deleted.id} (${deleted.name}) deleted.`);
      }),
    );
}

const EVENT_NAMES = WEBHOOK_EVENTS.join(', ');

function webhookJson(w: Webhook, keys: Map<string, string>) {
  return {
    ...w,
    project: w.projectId ? (keys.get(w.projectId) ?? w.projectId) : null,
    createdAt: w.createdAt.toISOString(),
    disabledAt: w.disabledAt?.toISOString() ?? null,
  };
}

function deliveriesTable(list: WebhookDelivery[]): string {
  return table(list, [
    { header: 'ID', value: (d) => d.id },
    { header: 'EVENT', value: (d) => d.eventType },
    { header: 'STATUS', value: (d) => d.status },
    { header: 'ATTEMPTS', value: (d) => String(d.attempts), align: 'right' },
    { header: 'CREATED', value: (d) => when(d.createdAt) },
    { header: 'NEXT', value: (d) => when(d.nextAttemptAt) },
    {
      header: 'LAST ANSWER',
      value: (d) => (d.lastStatusCode ? String(d.lastStatusCode) : (d.lastError ?? '-')),
    },
  ]);
}

function registerWebhookCommands(program: Command, act: Act): void {
  const webhook = program
    .command('webhook')
    .description('webhooks: budget and spike events, signed per the Standard Webhooks specification');

  webhook
    .command('create')
    .description("send events to a URL (one project's, or every project's)")
    .requiredOption('--url <url>', 'http(s) URL; its host must be allowed (LLMRING_WEBHOOK_ALLOWED_HOSTS)')
    .requiredOption('--event <event>', `an event to send (repeatable): ${EVENT_NAMES}`, collect)
    .option('--project <project>', "only this project's events, by key or id (default: every project's)")
    .option('--secret <whsec>', 'a Standard Webhooks secret (whsec_…); generated when absent')
    .option('--description <text>', 'a note for people')
    .option('--json', 'print JSON (the secret included)')
    .addHelpText(
      'after',
      `
The signing secret is printed once; receivers verify with it (any Standard Webhooks library).

Examples:
  $ llmring-server webhook create --url https://hooks.example.com/llm --event budget.threshold_crossed --project client-a
  $ llmring-server webhook create --url https://ops.example.com/alerts --event usage.spike --event budget.period_reset`,
    )
    .action(
      act(async (ctx, _args, opts: Record<string, string | string[] | boolean | undefined>) => {
        const { webhooks, admin } = await ctx.services();
        const events = opts.event as string[];
        const unknown = events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
        if (unknown.length) throw new CliError(`--event: '${unknown[0]}' is not one of ${EVENT_NAMES}`, 2);
        const project = opts.project ? await ctx.project(opts.project as string) : null;
        const create = () =>
          webhooks.create({
            projectId: project?.id ?? null,
            url: opts.url as string,
            events: events as WebhookEventType[],
            secret: (opts.secret as string | undefined) ?? null,
            description: (opts.description as string | undefined) ?? null,
          });
        const { webhook: created, secret } = await admin
          .audited(
            CLI_ACTOR,
            { action: 'createWebhook', targetType: 'webhook' },
            create,
            ({ webhook: w }) => ({
              // The secret is never recorded.
              targetId: w.id,
              details: { projectId: w.projectId, url: w.url, events: w.events },
            }),
          )
          .catch((err: unknown) => Promise.reject(inOptionTerms(err)));
        const keys = new Map(project ? [[project.id, project.key]] : []);
        if (opts.json) return ctx.out(json({ webhook: webhookJson(created, keys), secret }));
        ctx.out(
          `Webhook ${created.id} created for ${project ? `project '${project.key}'` : 'every project'}.`,
        );
        ctx.out(`Signing secret (shown only now): ${secret}`);
        ctx.err(`'llmring-server webhook test ${created.id}' sends it a webhook.test event.`);
      }),
    );

  webhook
    .command('list')
    .description('webhooks, global ones included')
    .option('--project <project>', "only this project's (and global ones)")
    .option('--json', 'print JSON')
    .action(
      act(async (ctx, _args, opts: { project?: string; json?: boolean }) => {
        const { webhooks } = await ctx.services();
        const list = await webhooks.list(opts.project ? [(await ctx.project(opts.project)).id] : null);
        const keys = await keysOf(
          ctx,
          list.map((w) => w.projectId),
        );
        if (opts.json) return ctx.out(json(list.map((w) => webhookJson(w, keys))));
        if (list.length === 0) return ctx.out("No webhooks yet: 'llmring-server webhook create' makes one.");
        ctx.out(
          table(list, [
            { header: 'ID', value: (w) => w.id },
            {
              header: 'PROJECT',
              value: (w) => (w.projectId ? (keys.get(w.projectId) ?? w.projectId) : '(all)'),
            },
            { header: 'URL', value: (w) => w.url },
            { header: 'EVENTS', value: (w) => w.events.join(' ') },
            {
              header: 'STATE',
              value: (w) => (w.disabledAt ? `disabled: ${w.disabledReason ?? ''}` : 'active'),
            },
          ]),
        );
      }),
    );

  webhook
    .command('deliveries')
    .description("a webhook's deliveries, newest first")
    .argument('<id>', 'the webhook id')
    .option('--limit <n>', 'at most this many (1 to 200)', '20')
    .option('--json', 'print JSON (bodies and attempts included)')
    .action(
      act(async (ctx, [id], opts: { limit: string; json?: boolean }) => {
        const { webhooks } = await ctx.services();
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 200)
          throw new CliError('--limit: a whole number from 1 to 200', 2);
        await webhooks.require(id);
        const list = await webhooks.deliveries(id, limit);
        if (opts.json) {
          const attempts = await webhooks.attemptsOf(list.map((d) => d.id));
          return ctx.out(json(list.map((d, i) => ({ ...d, attemptHistory: attempts[i] }))));
        }
        if (list.length === 0) return ctx.out('No deliveries yet.');
        ctx.out(deliveriesTable(list));
      }),
    );

  webhook
    .command('test')
    .description('queue a webhook.test event to a webhook (the running server delivers it)')
    .argument('<id>', 'the webhook id')
    .action(
      act(async (ctx, [id]) => {
        const { webhooks } = await ctx.services();
        const delivery = await webhooks.test(id);
        ctx.out(`Queued ${delivery.id}; 'llmring-server webhook deliveries ${id}' shows how it went.`);
      }),
    );

  webhook
    .command('delete')
    .description('delete a webhook and its deliveries')
    .argument('<id>', 'the webhook id')
    .action(
      act(async (ctx, [id]) => {
        const { webhooks, admin } = await ctx.services();
        const deleted = await admin.audited(
          CLI_ACTOR,
          { action: 'deleteWebhook', targetType: 'webhook' },
          () => webhooks.delete(id),
          (w) => ({ targetId: w.id, details: { projectId: w.projectId, url: w.url } }),
        );
        ctx.out(`Webhook ${deleted.id} (${deleted.url}) deleted.`);
      }),
    );
}

export function registerAlertCommands(program: Command, act: Act): void {
  registerBudgetCommands(program, act);
  registerWebhookCommands(program, act);
}
