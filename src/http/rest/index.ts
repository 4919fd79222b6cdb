/**
 * The REST routes: the original Python server's API as the llmring client uses it (usage,
 * conversation logs, receipts), and JSON 404s for what this server does not offer. The
 * compatibility table is in the README; test/compat replays the client's requests.
 */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services';
import { registerConversationRoutes } from './conversations';
import { registerReceiptRoutes } from './receipts';
import { registerLedgerRoutes } from './ledger';
import { registerAuditRoutes } from './audit';
import { registerUsageRoutes } from './usage';

export async function registerRestCompat(app: FastifyInstance, deps: { services: Services }): Promise<void> {
  registerUsageRoutes(app, deps.services);
  registerConversationRoutes(app, deps.services);
  registerReceiptRoutes(app, deps.services);
  registerLedgerRoutes(app, deps.services);
  registerAuditRoutes(app, deps.services);
}
