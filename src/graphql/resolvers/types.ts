/**
 * Field resolvers of object types: mostly the API's view of domain objects (decimal strings
 * to Floats, stored receipt documents to fields) and batched lookups through the loaders.
 */
import type { Resolvers } from '../generated';
import type { Receipt, UsageTotals } from '../../domain/types';
import type { Services } from '../../services';
import type { UsageStatsParent } from '../mappers';
import type { UsageStatsParts, UsageStatsRequest } from '../../services/stats';
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

/**
 * The parts of usageStats that one query answers together, computed once per usageStats
 * field. GraphQL calls the resolvers of sibling fields one after another before any of their
 * promises settles, so waiting one tick collects every part the request selects; the
 * query then runs once for all of them.
 */
function part<K extends 'overview' | 'byPeriod'>(
  parent: UsageStatsParent,
  services: Services,
  key: K,
): Promise<NonNullable<UsageStatsParts[K]>> {
  if (!parent.parts) {
    const want: UsageStatsRequest = {};
    parent.want = want;
    parent.parts = new Promise<void>((resolve) => process.nextTick(resolve)).then(() =>
      services.stats.parts(parent.query, want),
    );
  }
  const want: UsageStatsRequest =
    key === 'overview'
      ? { overview: true }
      : { byPeriod: { bucket: parent.bucket, timeZone: parent.timeZone } };
  Object.assign(parent.want!, want);
  // A part asked for after the query started (not something GraphQL does) gets its own.
  return parent.parts.then(
    async (parts) => parts[key] ?? (await services.stats.parts(parent.query, want))[key]!,
  );
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
    summary: async (parent, _args, { services }) => (await part(parent, services, 'overview')).summary,
    byPeriod: (parent, _args, { services }) => part(parent, services, 'byPeriod'),
    byAlias: async (parent, _args, { services }) => (await part(parent, services, 'overview')).byAlias,
    byModel: async (parent, _args, { services }) => (await part(parent, services, 'overview')).byModel,
    byOrigin: async (parent, _args, { services }) => (await part(parent, services, 'overview')).byOrigin,
    breakdown: ({ query }, { by, limit }, { services }) => services.stats.breakdown(query, by, limit ?? 100),
  },

  ModelPrice: {
    dollarsPerMillionInputTokens: (p) => money(p.inputPerMillion),
    dollarsPerMillionOutputTokens: (p) => money(p.outputPerMillion),
    dollarsPerMillionCachedInputTokens: (p) => money(p.cachedInputPerMillion),
  },
};
