/** Root mutations: read the arguments, call one service, return. */
import type { MutationResolvers } from '../generated';
import { requireAdmin, requireProjectCaller } from '../../services/authz';
import { resolveUsageQuery } from '../../services/scope';

export const Mutation: MutationResolvers = {
  logUsage: (_root, { input }, { principal, services }) =>
    services.usage.record(requireProjectCaller(principal), input),

  logUsageBatch: async (_root, { inputs }, { principal, services }) => ({
    results: await services.usage.recordBatch(requireProjectCaller(principal), inputs),
  }),

  setModelPrice: (_root, { input }, { principal, services }) => {
    requireAdmin(principal);
    return services.priceBook.set(input);
  },

  repriceUsage: (_root, { filter, dryRun }, { principal, services }) => {
    requireAdmin(principal);
    return services.reprice.run(resolveUsageQuery(principal, filter), { dryRun: dryRun ?? true });
  },

  createProject: (_root, { input }, { principal, services }) => {
    requireAdmin(principal);
    return services.projects.create(input);
  },

  updateProject: (_root, { id, input }, { principal, services }) => {
    requireAdmin(principal);
    return services.projects.update(id, input);
  },

  archiveProject: (_root, { id }, { principal, services }) => {
    requireAdmin(principal);
    return services.projects.archive(id);
  },

  createApiKey: (_root, { projectId, name, scopes, expiresAt }, { principal, services }) => {
    requireAdmin(principal);
    return services.apiKeys.create(projectId, name, { scopes, expiresAt });
  },

  rotateApiKey: (_root, { id, overlap, expiresAt }, { principal, services }) => {
    requireAdmin(principal);
    return services.apiKeys.rotate(id, overlap, { expiresAt });
  },

  revokeApiKey: (_root, { id }, { principal, services }) => {
    requireAdmin(principal);
    return services.apiKeys.revoke(id);
  },
};
