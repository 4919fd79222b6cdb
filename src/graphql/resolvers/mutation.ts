/** Root mutations: read the arguments, call one service, return. */
import type { MutationResolvers } from '../generated';
import { requireAdmin, requireProjectCaller } from '../../services/authz';

export const Mutation: MutationResolvers = {
  logUsage: (_root, { input }, { principal, services }) =>
    services.usage.record(requireProjectCaller(principal), input),

  logUsageBatch: async (_root, { inputs }, { principal, services }) => ({
    results: await services.usage.recordBatch(requireProjectCaller(principal), inputs),
  }),

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

  createApiKey: (_root, { projectId, name }, { principal, services }) => {
    requireAdmin(principal);
    return services.apiKeys.create(projectId, name);
  },

  revokeApiKey: (_root, { id }, { principal, services }) => {
    requireAdmin(principal);
    return services.apiKeys.revoke(id);
  },
};
