/** Root mutations: read the arguments, call one service, return. */
import type { MutationResolvers } from '../generated';
import { actorOf, requireAdmin, requireBilling, requireProjectCaller } from '../../services/authz';
import { resolveUsageQuery } from '../../services/scope';

export const Mutation: MutationResolvers = {
  logUsage: (_root, { input }, { principal, services }) =>
    services.usage.record(requireProjectCaller(principal), input),

  logUsageBatch: async (_root, { inputs }, { principal, services }) => ({
    results: await services.usage.recordBatch(requireProjectCaller(principal), inputs),
  }),

  setModelPrice: (_root, { input }, { principal, services }) => {
    requireBilling(principal);
    return services.admin.setModelPrice(actorOf(principal), input);
  },

  repriceUsage: (_root, { filter, dryRun }, { principal, services }) => {
    requireBilling(principal);
    return services.admin.repriceUsage(actorOf(principal), resolveUsageQuery(principal, filter), {
      dryRun: dryRun ?? true,
    });
  },

  createProject: (_root, { input }, { principal, services }) => {
    requireAdmin(principal);
    return services.admin.createProject(actorOf(principal), input);
  },

  updateProject: (_root, { id, input }, { principal, services }) => {
    requireAdmin(principal);
    return services.admin.updateProject(actorOf(principal), id, input);
  },

  archiveProject: (_root, { id }, { principal, services }) => {
    requireAdmin(principal);
    return services.admin.archiveProject(actorOf(principal), id);
  },

  createApiKey: (_root, { projectId, name, scopes, expiresAt }, { principal, services }) => {
    requireAdmin(principal);
    return services.admin.createApiKey(actorOf(principal), projectId, name, { scopes, expiresAt });
  },

  rotateApiKey: (_root, { id, overlap, expiresAt }, { principal, services }) => {
    requireAdmin(principal);
    return services.admin.rotateApiKey(actorOf(principal), id, overlap, { expiresAt });
  },

  revokeApiKey: (_root, { id }, { principal, services }) => {
    requireAdmin(principal);
    return services.admin.revokeApiKey(actorOf(principal), id);
  },
};
