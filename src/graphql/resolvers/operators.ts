/** Operators and the audit log (issue 21): read the arguments, check the caller, call one service. */
import type { MutationResolvers, QueryResolvers, Resolvers } from '../generated';
import { actorOf, requireAdmin } from '../../services/authz';

const Query: QueryResolvers = {
  operators: (_root, _args, { principal, services }) => {
    requireAdmin(principal);
    return services.operators.list();
  },

  auditLog: (_root, { first, before }, { principal, services }) => {
    requireAdmin(principal);
    return services.audit.list({ first, before });
  },
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
};

export const operatorResolvers: Resolvers = {
  Query,
  Mutation,
  AuditEntry: {
    actor: (entry) => entry.actorName,
  },
};
