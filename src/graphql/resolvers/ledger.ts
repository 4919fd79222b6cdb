/** The usage ledger's queries and Receipt.ledger (docs/ledger.md). */
import type { Resolvers } from '../generated';
import { readableProjects } from '../../services/scope';

export const ledgerResolvers: Resolvers = {
  Query: {
    ledgerCheckpoint: (_root, { projectId }, { principal, services }) =>
      services.ledger.checkpoint(principal, projectId),
    ledgerVerifierKey: (_root, { projectId }, { principal, services }) =>
      services.ledger.verifierKey(principal, projectId),
    receiptInclusionProof: (_root, { receiptId, treeSize }, { principal, services }) =>
      services.ledger.inclusionProof(receiptId, treeSize, readableProjects(principal)),
    ledgerConsistencyProof: (_root, { projectId, fromSize, toSize }, { principal, services }) =>
      services.ledger.consistencyProof(principal, projectId, fromSize, toSize),
  },
  Receipt: {
    ledger: (r, _args, { loaders }) => loaders.ledgerPositionByReceipt.load(r.receiptId),
  },
};
