/**
 * The audit log's public routes (docs/access.md), no credentials needed, as the ledger's: a
 * checkpoint shows only the log's size and root, and the point of saving one is that whoever
 * runs the server cannot later rewrite what it covers unnoticed.
 *
 * - GET /audit/checkpoint   the newest signed checkpoint of the audit log, a C2SP signed note (text)
 * - GET /audit/vkey         the notes' verifier keys (text, one a line, the active key's first;
 *                           then retired receipt keys')
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services';
import { sendCheckpoint, sendError, sendVerifierKeys } from './common';

export function registerAuditRoutes(app: FastifyInstance, services: Services): void {
  app.get('/audit/checkpoint', async (_request, reply) => {
    try {
      const checkpoint = await services.audit.checkpoint();
      return sendCheckpoint(reply, checkpoint.note);
    } catch (err) {
      return sendError(reply, err);
    }
  });
  app.get('/audit/vkey', async (_request, reply) => {
    try {
      const vkeys = services.audit.verifierKeys();
      return sendVerifierKeys(reply, vkeys);
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
