/**
 * The ledger's public routes (docs/ledger.md), no credentials needed (they reveal nothing a
 * checkpoint does not):
 *
 * - GET /ledger/{projectKey}/checkpoint   the newest signed checkpoint, a C2SP signed note (text)
 * - GET /ledger/{projectKey}/vkey         the notes' verifier keys (text, one a line, the active
 *                                         key's first; then retired receipt keys')
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services';
import { notFound } from '../../services/errors';
import { sendCheckpoint, sendError, sendVerifierKeys } from './common';

export function registerLedgerRoutes(app: FastifyInstance, services: Services): void {
  app.get<{ Params: { projectKey: string } }>('/ledger/:projectKey/checkpoint', async (request, reply) => {
    try {
      const checkpoint = await services.ledger.checkpointByKey(request.params.projectKey);
      if (!checkpoint) throw notFound('project');
      return sendCheckpoint(reply, checkpoint.note);
    } catch (err) {
      return sendError(reply, err);
    }
  });
  app.get<{ Params: { projectKey: string } }>('/ledger/:projectKey/vkey', async (request, reply) => {
    try {
      const vkeys = await services.ledger.verifierKeysByKey(request.params.projectKey);
      if (!vkeys) throw notFound('project');
      return sendVerifierKeys(reply, vkeys);
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
