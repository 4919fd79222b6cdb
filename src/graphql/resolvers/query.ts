/** Root queries: read the arguments, call one service, return. */
import type { QueryResolvers } from '../generated';
import { readableProjects, resolveUsageQuery } from '../../services/scope';
import { canRead, readsEveryProject, requireReadable, requireReader } from '../../services/authz';

export const Query: QueryResolvers = {
  // The principal's project comes from the API-key lookup cache and may be seconds old (a
  // rename would not show): the project itself is read through the request's loader.
  currentProject: (_root, _args, { principal, loaders }) => {
    requireReader(principal);
    return principal.kind === 'project' ? loaders.projectById.load(principal.project.id) : null;
  },

  projects: async (_root, { includeArchived }, { principal, services, loaders }) => {
    requireReader(principal);
    if (principal.kind === 'project') {
      const own = await loaders.projectById.load(principal.project.id);
      return own ? [own] : [];
    }
    return services.projects.list({ includeArchived: includeArchived ?? false });
  },

  project: async (_root, { id }, { principal, loaders }) => {
    requireReadable(principal, id);
    return loaders.projectById.load(id);
  },

  usageStats: async (_root, { filter, groupBy, timeZone }, { principal, services }) => ({
    query: resolveUsageQuery(principal, filter),
    bucket: groupBy ?? 'day',
    timeZone: await services.stats.timeZone(timeZone ?? 'UTC'),
  }),

  usageLogs: (_root, { filter, first, after }, { principal, services }) =>
    services.usage.list(resolveUsageQuery(principal, filter), { first, after }),

  receipts: (_root, { filter, first, after }, { principal, services }) =>
    services.receipts.list(resolveUsageQuery(principal, filter), { first, after }),

  receipt: (_root, { receiptId }, { principal, services }) =>
    services.receipts.find(receiptId, readableProjects(principal)),

  verifyReceipt: (_root, { document }, { services }) => services.receipts.verify(document),

  receiptPublicKeys: (_root, _args, { services }) => services.receipts.publicKeys(),

  metadataDimensions: (_root, _args, { principal, services }) => {
    requireReader(principal);
    return [...services.dimensions.keys];
  },

  // Without a credential (or with a key that may not read), the registry's prices only: the
  // price book's are the operator's.
  modelPricing: (_root, { provider, projectId }, { principal, services }) =>
    !canRead(principal) && !projectId
      ? services.pricing.modelPricing(provider ?? undefined)
      : services.pricing.modelPricing(provider ?? undefined, {
          book: true,
          projectId: readableProjects(principal, projectId)?.[0] ?? null,
        }),

  modelPrices: (_root, { provider, model, projectId }, { principal, services }) => {
    requireReader(principal);
    const projects =
      readsEveryProject(principal) && !projectId ? null : (readableProjects(principal, projectId) ?? []);
    return services.priceBook.history(provider, model, projects);
  },
};
