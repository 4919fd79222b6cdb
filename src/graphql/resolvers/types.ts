/**
 * Field resolvers of object types: mostly the API's view of domain objects (decimal strings
 * to Floats, stored receipt documents to fields) and batched lookups through the loaders.
 */
import type { Resolvers } from '../generated';
import type { Receipt, UsageTotals } from '../../domain/types';
import type { Services } from '../../services';
import type { UsageStatsParent } from '../mappers';
import type { StatsRequest, StatsResult } from '../../services/stats';
import { badInput } from '../../services/errors';
import { requireReadable } from '../../services/authz';
import { tokenCounts } from '../../services/receipts';
import { toDecimalString } from '../../db/normalize';

const DAY_MS = 24 * 3600 * 1000;
const cost = (parent: UsageTotals) => Number(parent.cost);
const costDecimal = (parent: UsageTotals) => parent.cost;

/** A receipt's cost as its document states it (legacy documents: a number, or the row). */
function receiptCost(r: Receipt): string | number {
  return doc<string | number>(r, 'cost', 'amount') ?? doc<string | number>(r, 'cost') ?? 0;
}

/** A member of the stored document (legacy documents may lack some: fall back to the row). */
function doc<T>(receipt: Receipt, ...path: string[]): T | undefined {
  let value: unknown = receipt.document;
  for (const key of path)
    value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return value as T | undefined;
}

/**
 * Asks for a part of a usageStats field's statement. GraphQL calls the resolvers of sibling
 * fields one after another before any of their promises settles, so waiting one tick collects
 * every part the request selects (aliased breakdowns included); the statement then runs once
 * for all of them. `add` puts what a field needs into the request and returns how to read it
 * from the result.
 */
function ask<T>(
  parent: UsageStatsParent,
  services: Services,
  add: (request: StatsRequest) => (result: StatsResult) => T,
): Promise<T> {
  if (!parent.batch) {
    const request: StatsRequest = {};
    const batch: NonNullable<UsageStatsParent['batch']> = {
      request,
      started: false,
      result: new Promise<void>((resolve) => process.nextTick(resolve)).then(() => {
        batch.started = true;
        return services.stats.query(parent.query, request);
      }),
    };
    parent.batch = batch;
  }
  const { batch } = parent;
  if (batch.started) {
    // Asked for after the statement started (not something GraphQL does): a statement of its own.
    const request: StatsRequest = {};
    const read = add(request);
    return services.stats.query(parent.query, request).then(read);
  }
  const read = add(batch.request);
  return batch.result.then(read);
}

const overview = (request: StatsRequest) => {
  request.overview = true;
  return (result: StatsResult) => result.overview!;
};

export const typeResolvers: Resolvers = {
  Project: {
    apiKeys: (project, _args, { principal, loaders }) => {
      requireReadable(principal, project.id);
      return loaders.apiKeysByProject.load(project.id);
    },
    usage: (project, { startDate, endDate }, { principal, loaders, now }) => {
      requireReadable(principal, project.id);
      const end = endDate ?? now;
      const start = startDate ?? new Date(end.getTime() - 30 * DAY_MS);
      if (start.getTime() >= end.getTime())
        throw badInput('startDate', 'must be before the end of the range');
      return loaders.usageSummaryByProject.load({ projectId: project.id, start, end });
    },
  },

  UsageLog: {
    project: async (log, _args, { loaders }) => (await loaders.projectById.load(log.projectId))!,
    receipt: (log, _args, { loaders }) => loaders.receiptByUsageLog.load(log.id),
    cost: (log) => Number(log.cost),
    costDecimal: (log) => log.cost,
    pricing: (log) => (log.pricing ? { ...log.pricing, tokens: tokenCounts(log) } : null),
    adjustments: (log, _args, { loaders }) => loaders.adjustmentsByUsageLog.load(log.id),
  },

  Receipt: {
    project: async (r, _args, { loaders }) => (await loaders.projectById.load(r.projectId))!,
    usageLog: (r, _args, { loaders }) => (r.usageLogId ? loaders.usageLogById.load(r.usageLogId) : null),
    projectKey: async (r, _args, { loaders }) =>
      doc<string>(r, 'project_key') ?? (await loaders.projectById.load(r.projectId))!.key,
    aliasName: (r) => r.aliasName,
    modelUsed: (r) => doc<string>(r, 'model_used') ?? doc<string>(r, 'model') ?? '',
    provider: (r) => doc<string>(r, 'provider') ?? '',
    inputTokens: (r) => doc<number>(r, 'tokens', 'input') ?? 0,
    outputTokens: (r) => doc<number>(r, 'tokens', 'output') ?? 0,
    cachedInputTokens: (r) => doc<number>(r, 'tokens', 'cached_input') ?? 0,
    cacheWriteTokens: (r) => doc<number>(r, 'tokens', 'cache_write_5m') ?? 0,
    cacheWrite1hTokens: (r) => doc<number>(r, 'tokens', 'cache_write_1h') ?? 0,
    reasoningTokens: (r) => doc<number>(r, 'tokens', 'reasoning') ?? 0,
    cost: (r) => Number(receiptCost(r)),
    costDecimal: (r) => toDecimalString(receiptCost(r)),
    issuedAt: (r) => {
      const issued = doc<string>(r, 'issued_at');
      return issued ? new Date(issued) : r.issuedAt;
    },
  },

  UsageSummary: { cost, costDecimal },
  PeriodUsage: { cost, costDecimal },
  AliasUsage: { cost, costDecimal },
  ModelUsage: { cost, costDecimal },
  OriginUsage: { cost, costDecimal },
  UsageGroup: {
    cost,
    costDecimal,
    project: (g, _args, { loaders }) => (g.projectId ? loaders.projectById.load(g.projectId) : null),
    metadata: (g) => g.metadata ?? [],
  },

  UsageStats: {
    summary: async (parent, _args, { services }) => (await ask(parent, services, overview)).summary,
    byAlias: async (parent, _args, { services }) => (await ask(parent, services, overview)).byAlias,
    byModel: async (parent, _args, { services }) => (await ask(parent, services, overview)).byModel,
    byOrigin: async (parent, _args, { services }) => (await ask(parent, services, overview)).byOrigin,
    byPeriod: (parent, _args, { services }) =>
      ask(parent, services, (request) => {
        request.byPeriod = { bucket: parent.bucket, timeZone: parent.timeZone };
        return (result) => result.byPeriod!;
      }),
    breakdown: (parent, { by, limit, metadataKeys }, { services }) =>
      ask(parent, services, (request) => {
        const breakdowns = (request.breakdowns ??= []);
        const i = breakdowns.push({ by, limit: limit ?? 100, metadataKeys: metadataKeys ?? [] }) - 1;
        return (result) => result.breakdowns[i];
      }),
    asOf: (parent, _args, { services }) => ask(parent, services, () => (result) => result.asOf),
    fromReplica: (parent, _args, { services }) => ask(parent, services, () => (result) => result.fromReplica),
  },
};
