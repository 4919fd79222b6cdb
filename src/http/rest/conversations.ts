/**
 * POST /api/v1/conversations/log, and what this server does not offer of the original's API.
 *
 * The llmring client posts a call's conversation there when `log_conversations=True` (and
 * its decorators do so *instead of* /api/v1/log); when that fails it does not report the
 * call at all. So the route records the call's usage, with a receipt, exactly as /api/v1/log
 * would, and answers with the `conversation_id` the client reads. The messages are not
 * stored, and the answer says so (`messages_stored: false`): this server records usage, not
 * content. The client then posts /api/v1/log for the same call with that conversation id,
 * which ./usage.ts answers with this stored call instead of counting it twice.
 *
 * Conversation, message, MCP, template and registration routes answer 404 with a JSON body
 * naming what the server offers instead (NOT_OFFERED), so a client shows a reason, not a
 * stack trace.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { requestInfoOf } from '../../graphql/logging';
import type { Services } from '../../services';
import { requireProjectCaller } from '../../services/authz';
import { restCaller, sendError } from './common';
import { conversationInput } from './reported';
import { loggedAnswer } from './usage';

const NOT_OFFERED = {
  code: 'NOT_OFFERED',
  detail:
    'This server records LLM usage and signs receipts; it does not store conversations, messages, ' +
    'MCP servers, tools, resources, prompts or templates, and does not register accounts; every ' +
    'call gets its own signed receipt when it is logged (no batch receipts). ' +
    'POST /api/v1/conversations/log records the usage of a call (not its messages).',
  offered: [
    'POST /api/v1/log',
    'POST /api/v1/conversations/log',
    'GET /api/v1/stats',
    'GET /api/v1/logs',
    'GET /api/v1/receipts/{receipt_id}',
    'POST /api/v1/receipts/verify',
    'GET /api/v1/receipts/public-key.pem',
    'GET /api/v1/receipts/public-keys.json',
    'POST /graphql',
  ],
};

/** Paths of the original server (and of llmring's clients) that this server does not offer. */
const NOT_OFFERED_PATHS = [
  '/api/v1/conversations',
  '/api/v1/conversations/*',
  '/conversations',
  '/conversations/*',
  '/api/v1/mcp',
  '/api/v1/mcp/*',
  '/api/v1/templates',
  '/api/v1/templates/*',
  '/api/v1/cli/register',
  '/api/v1/receipts',
  '/api/v1/receipts/',
  '/api/v1/receipts/*',
];

export function registerConversationRoutes(app: FastifyInstance, services: Services): void {
  app.post('/api/v1/conversations/log', async (request, reply) => {
    try {
      const project = requireProjectCaller(await restCaller(services, request));
      const conversationId = randomUUID();
      const input = conversationInput(request.body, conversationId);
      requestInfoOf(request).usageCounted = true;
      const logged = loggedAnswer(await services.usage.record(project, input));
      return { conversation_id: conversationId, message_id: null, messages_stored: false, ...logged };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  for (const url of NOT_OFFERED_PATHS) {
    app.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      url,
      handler: async (_request, reply) => reply.code(404).send(NOT_OFFERED),
    });
  }
}
