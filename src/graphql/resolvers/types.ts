/**
 * Field resolvers of object types: mostly the API's view of domain objects (decimal strings
 * to Floats, stored receipt documents to fields) and batched lookups through the loaders.
 */
import type { Resolvers } from '../generated';
import type { Receipt, UsageTotals } from '../../domain/types';
import type { Services } from '../../services';
import type { UsageStatsParent } from '../mappers';
import { badInput } from '../../services/errors';
import { requireReadable } from '../../services/authz';

const DAY_MS = 24 * 3600 * 1000;
const money = (value: string | null | undefined) =>
  value === null || value === undefined ? null : Number(value);
const cost = (parent: UsageTotals) => Number(parent.cost);

/** A member of the stored document (legacy documents may lack some: fall back to the row). */
function doc<T>(receipt: Receipt, ...path: string[]): T | undefined {
  let value: unknown = receipt.document;
  for (const key of path)
    value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return value as T | undefined;
}

/** The parts of usageStats that one query answers together, computed once per usageStats field. */
function overview(parent: UsageStatsParent, services: Services) {
  parent.overview ??= services.stats.overview(parent.query);
  return parent.overview;
}

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
      if (start.getTime() >= end.getTime()) throw badInput('startDate', 'must be before endDate');
      return loaders.usageSummaryByProject.load({ projectId: project.id, start, end });
    },
  },

  UsageLog: {
    project: async (log, _args, { loaders }) => (await loaders.projectById.load(log.projectId))!,
    receipt: (log, _args, { loaders }) => loaders.receiptByUsageLog.load(log.id),
    cost: (log) => Number(log.cost),
  },

  UsagePricing: {
    inputPerMillion: (p) => Number(p.inputPerMillion),
    outputPerMillion: (p) => Number(p.outputPerMillion),
    cachedInputPerMillion: (p) => Number(p.cachedInputPerMillion),
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
    cost: (r) => Number(doc<string | number>(r, 'cost', 'amount') ?? doc<string | number>(r, 'cost') ?? 0),
    issuedAt: (r) => {
      const issued = doc<string>(r, 'issued_at');
      return issued ? new Date(issued) : r.issuedAt;
    },
  },

  UsageSummary: { cost },
  PeriodUsage: { cost },
  AliasUsage: { cost },
  ModelUsage: { cost },
  OriginUsage: { cost },
  UsageGroup: {
    cost,
    project: (g, _args, { loaders }) => (g.projectId ? loaders.projectById.load(g.projectId) : null),
  },

  UsageStats: {
    summary: async (parent, _args, { services }) => (await overview(parent, services)).summary,
    byPeriod: ({ query, bucket, timeZone }, _args, { services }) =>
      services.stats.byPeriod(query, bucket, timeZone),
    byAlias: async (parent, _args, { services }) => (await overview(parent, services)).byAlias,
    byModel: async (parent, _args, { services }) => (await overview(parent, services)).byModel,
    byOrigin: async (parent, _args, { services }) => (await overview(parent, services)).byOrigin,
    breakdown: ({ query }, { by, limit }, { services }) => services.stats.breakdown(query, by, limit ?? 100),
  },

  ModelPrice: {
    dollarsPerMillionInputTokens: (p) => money(p.inputPerMillion),
    dollarsPerMillionOutputTokens: (p) => money(p.outputPerMillion),
    dollarsPerMillionCachedInputTokens: (p) => money(p.cachedInputPerMillion),
  },
};
