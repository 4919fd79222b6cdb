/** Budgets, spike alerts and webhooks: root fields and their types (docs/budgets.md). */
import type { Resolvers } from '../generated';
import type { Budget, BudgetFilter } from '../../domain/alerts';
import type { Principal } from '../../domain/principal';
import { actorOf, requireAdmin, requireBilling } from '../../services/authz';
import { readableProjects } from '../../services/scope';
import { badInput, notFound } from '../../services/errors';
import type { BudgetInput } from '../../services/budgets';

const MAX_DELIVERIES = 200;

/** Whether the caller may read a project's budgets (another project's look like none). */
function readable(principal: Principal, projectId: string): boolean {
  const projects = readableProjects(principal);
  return projects === null || projects.includes(projectId);
}

/** The filter lists of a budget input; undefined when the input sets none. */
function filterOf(input: {
  aliasNames?: Array<string | null> | null;
  models?: string[] | null;
  origins?: string[] | null;
  metadata?: Array<{ key: string; values: Array<string | null> }> | null;
}): BudgetFilter | undefined {
  const f: BudgetFilter = {};
  if (input.aliasNames?.length) f.aliasNames = input.aliasNames;
  if (input.models?.length) f.models = input.models;
  if (input.origins?.length) f.origins = input.origins;
  if (input.metadata?.length) f.metadata = input.metadata;
  const named = ['aliasNames', 'models', 'origins', 'metadata'].some(
    (k) => input[k as keyof typeof input] !== undefined && input[k as keyof typeof input] !== null,
  );
  return named ? f : undefined;
}

function deliveriesLimit(first: number | null | undefined): number {
  const n = first ?? 50;
  if (!Number.isInteger(n) || n < 1 || n > MAX_DELIVERIES)
    throw badInput('first', `must be from 1 to ${MAX_DELIVERIES}`);
  return n;
}

export const alertResolvers: Resolvers = {
  Query: {
    budgets: (_root, { projectId }, { principal, services }) =>
      services.budgets.list(readableProjects(principal, projectId)),

    budget: async (_root, { id }, { principal, services }) => {
      const budget = await services.budgets.find(id);
      return budget && readable(principal, budget.projectId) ? budget : null;
    },

    budgetStatus: async (_root, { id }, { principal, services }) => {
      const budget = await services.budgets.find(id);
      if (!budget || !readable(principal, budget.projectId)) throw notFound('budget');
      return services.budgets.status(budget);
    },

    spikeAlerts: (_root, { projectId }, { principal, services }) =>
      services.spikeAlerts.list(readableProjects(principal, projectId)),

    webhooks: (_root, { projectId }, { principal, services }) => {
      requireAdmin(principal);
      return services.webhooks.list(projectId ? [projectId] : null);
    },

    webhookDeliveries: async (_root, { webhookId, first }, { principal, services }) => {
      requireAdmin(principal);
      const webhook = await services.webhooks.require(webhookId);
      return services.webhooks.deliveries(webhook.id, deliveriesLimit(first));
    },
  },

  Mutation: {
    createBudget: (_root, { input }, { principal, services }) => {
      requireBilling(principal);
      const { projectId, ...rest } = input;
      return services.admin.audited(
        actorOf(principal),
        { action: 'createBudget', targetType: 'budget' },
        () => services.budgets.create(projectId, { ...budgetInput(rest) }),
        (b) => ({ targetId: b.id, details: budgetDetails(b) }),
      );
    },

    updateBudget: (_root, { id, input }, { principal, services }) => {
      requireBilling(principal);
      return services.admin.audited(
        actorOf(principal),
        { action: 'updateBudget', targetType: 'budget' },
        () => services.budgets.update(id, budgetInput(input)),
        (b) => ({ targetId: b.id, details: budgetDetails(b) }),
      );
    },

    deleteBudget: (_root, { id }, { principal, services }) => {
      requireBilling(principal);
      return services.admin.audited(
        actorOf(principal),
        { action: 'deleteBudget', targetType: 'budget' },
        () => services.budgets.delete(id),
        (b) => ({ targetId: b.id, details: budgetDetails(b) }),
      );
    },

    createSpikeAlert: (_root, { input }, { principal, services }) => {
      requireBilling(principal);
      const { projectId, ...rest } = input;
      return services.admin.audited(
        actorOf(principal),
        { action: 'createSpikeAlert', targetType: 'spike_alert' },
        () => services.spikeAlerts.create(projectId, rest),
        (a) => ({
          targetId: a.id,
          details: { projectId: a.projectId, aliasName: a.aliasName, factor: a.factor },
        }),
      );
    },

    deleteSpikeAlert: (_root, { id }, { principal, services }) => {
      requireBilling(principal);
      return services.admin.audited(
        actorOf(principal),
        { action: 'deleteSpikeAlert', targetType: 'spike_alert' },
        () => services.spikeAlerts.delete(id),
        (a) => ({ targetId: a.id, details: { projectId: a.projectId } }),
      );
    },

    createWebhook: (_root, { input }, { principal, services }) => {
      requireAdmin(principal);
      return services.admin.audited(
        actorOf(principal),
        { action: 'createWebhook', targetType: 'webhook' },
        () => services.webhooks.create({ ...input, projectId: input.projectId ?? null }),
        // The secret is never recorded.
        ({ webhook: w }) => ({
          targetId: w.id,
          details: { projectId: w.projectId, url: w.url, events: w.events },
        }),
      );
    },

    deleteWebhook: (_root, { id }, { principal, services }) => {
      requireAdmin(principal);
      return services.admin.audited(
        actorOf(principal),
        { action: 'deleteWebhook', targetType: 'webhook' },
        () => services.webhooks.delete(id),
        (w) => ({ targetId: w.id, details: { projectId: w.projectId, url: w.url } }),
      );
    },

    testWebhook: async (_root, { id }, { principal, services }) => {
      requireAdmin(principal);
      const delivery = await services.webhooks.test(id);
      services.webhookSender.poke();
      return delivery;
    },
  },

  Budget: {
    project: async (b, _args, { loaders }) => (await loaders.projectById.load(b.projectId))!,
    status: (b, _args, { services }) => services.budgets.status(b),
  },

  SpikeAlert: {
    project: async (a, _args, { loaders }) => (await loaders.projectById.load(a.projectId))!,
  },

  Webhook: {
    project: (w, _args, { loaders }) => (w.projectId ? loaders.projectById.load(w.projectId) : null),
    deliveries: (w, { first }, { services }) => services.webhooks.deliveries(w.id, deliveriesLimit(first)),
  },

  WebhookDelivery: {
    webhook: async (d, _args, { services }) => services.webhooks.require(d.webhookId),
    attemptHistory: (d, _args, { loaders }) => loaders.webhookAttempts.load(d.id),
  },
};

/** What a budget change records in the audit log. */
function budgetDetails(b: Budget) {
  return { projectId: b.projectId, name: b.name, amount: b.amount, period: b.period, timeZone: b.timeZone };
}

/** A GraphQL budget input as the service takes it. */
function budgetInput(input: {
  name?: string | null;
  amount?: string | null;
  period?: BudgetInput['period'];
  timeZone?: string | null;
  thresholds?: number[] | null;
  aliasNames?: Array<string | null> | null;
  models?: string[] | null;
  origins?: string[] | null;
  metadata?: Array<{ key: string; values: Array<string | null> }> | null;
}): BudgetInput {
  return {
    name: input.name,
    amount: input.amount,
    period: input.period,
    timeZone: input.timeZone,
    thresholds: input.thresholds,
    filter: filterOf(input),
  };
}
