/**
 * Operators, the audit log and rate limits (issue 21): read the arguments, check the caller,
 * call one service.
 */
import type { MutationResolvers, QueryResolvers, Resolvers } from '../generated';
import { actorOf, requireAdmin, requireReadable } from '../../services/authz';

const Query: QueryResolvers = {
  operators: (_root, _args, { principal, services }) => {
    requireAdmin(principal);
    return services.operators.list();
  },

  auditLog: (_root, { first, before }, { principal, services }) => {
    requireAdmin(principal);
    return services.audit.list({ first, before });
  },

  // Public, as the ledger's checkpoints are: a size and a root, signed.
  auditCheckpoint: (_root, _args, { services }) => services.audit.checkpoint(),

  auditVerifierKey: (_root, _args, { services }) => services.audit.verifierKeys()[0],
};

const Mutation: MutationResolvers = {
  createOperator: (_root, { name, role }, { principal, services }) => {
    requireAdmin(principal);
    return services.operators.create(name, role, actorOf(principal));
  },

  revokeOperator: (_root, { id }, { principal, services }) => {
    requireAdmin(principal);
    return services.operators.revoke(id, actorOf(principal));
  },

  setProjectRateLimits: async (_root, { projectId, input }, { principal, services, loaders }) => {
    requireAdmin(principal);
    await services.rateLimits.setProjectLimits(actorOf(principal), projectId, input);
    return (await loaders.projectById.load(projectId))!;
  },
};

export const operatorResolvers: Resolvers = {
  Query,
  Mutation,
  AuditEntry: {
    actor: (entry) => entry.actorName,
  },
  Project: {
    rateLimits: (project, _args, { principal, services }) => {
      requireReadable(principal, project.id);
      return services.rateLimits.limitsOf(project.id);
    },
  },
};
