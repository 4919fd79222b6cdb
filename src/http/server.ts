/**
 * The HTTP server: Fastify with Apollo Server at /graphql, liveness and readiness probes,
 * and the receipt public keys. Nothing here decides anything; it wires requests to services.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Services } from '../services';
import { buildSchema } from '../graphql/schema';
import { buildContext, type GraphQLContext } from '../graphql/context';
import { formatError, httpStatusPlugin } from '../graphql/errors';
import { migrationStatus } from '../db/migrations';
import { registerRestCompat } from './restCompat';
import { registerMetrics } from './metrics';
import { registerDashboard } from './dashboard';

export interface ServerOptions {
  config: Config;
  logger: Logger;
  services: Services;
}

const BODY_LIMIT = 4 * 1024 * 1024;

export async function buildServer({ config, logger, services }: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    disableRequestLogging: true,
    requestIdHeader: 'x-request-id',
  });

  const plugins: ApolloServerPlugin<GraphQLContext>[] = [fastifyApolloDrainPlugin(app), httpStatusPlugin()];
  plugins.push(
    config.http.landingPage
      ? ApolloServerPluginLandingPageLocalDefault({
          embed: {
            endpointIsEditable: false,
            initialState: { sharedHeaders: { 'X-API-Key': '<your API key>' } },
          },
          document:
            'query Usage {\n  usageStats {\n    summary { requests cost }\n    byAlias { aliasName requests cost }\n  }\n}\n',
          includeCookies: false,
        })
      : ApolloServerPluginLandingPageDisabled(),
  );

  const apollo = new ApolloServer<GraphQLContext>({
    schema: buildSchema(),
    introspection: config.http.introspection,
    csrfPrevention: true,
    formatError: formatError(logger),
    plugins,
  });
  await apollo.start();

  app.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    handler: fastifyApolloHandler(apollo, {
      context: async (request) =>
        buildContext({ headers: request.headers, services, adminToken: config.adminToken }),
    }),
  });

  await registerMetrics(app, { services });
  await registerRestCompat(app, { services, config });
  await registerDashboard(app);

  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/ready', async (_request, reply) => {
    try {
      const { pending } = await migrationStatus(services.db);
      if (pending.length > 0) {
        return reply.code(503).send({ status: 'not ready', reason: `${pending.length} migrations pending` });
      }
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'not ready', reason: 'database unreachable' });
    }
  });

  app.get('/receipts/public-key.pem', async (_request, reply) =>
    reply
      .type('application/x-pem-file')
      .send(services.receipts.publicKeys().find((k) => k.active)!.publicKeyPem),
  );
  app.get('/receipts/public-keys.json', async (_request, reply) =>
    reply.type('application/jwk-set+json').send({ keys: services.receipts.publicKeys().map((k) => k.jwk) }),
  );

  return app;
}
