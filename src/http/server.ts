/**
 * The HTTP server: Fastify with Apollo Server at /graphql, liveness and readiness probes,
 * and the REST routes (./rest). Nothing here decides anything; it wires requests to services.
 */
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify';
import type { Config } from '../config';
import type { Logger } from '../logger';
import type { Services } from '../services';
import { buildSchema } from '../graphql/schema';
import { buildContext, type GraphQLContext } from '../graphql/context';
import { formatError, httpStatusPlugin } from '../graphql/errors';
import { loggingPlugin, requestInfoOf } from '../graphql/logging';
import { operationLimits } from '../graphql/limits';
import { migrationStatus } from '../db/migrations';
import { registerRestCompat } from './rest';
import { registerMetrics } from './metrics';
import { registerDashboard } from './dashboard';
import { registerHealth } from './health';
import { registerOtlp } from './otlp';
import { registerExportRoutes } from './exports';
import { connectionOptions } from './connections';
import { JsonInputError, parseJsonInput } from '../domain/json';

export interface ServerOptions {
  config: Config;
  logger: Logger;
  services: Services;
}

/** /ready answers 503 when the database has not answered within this time. */
const READY_TIMEOUT_MS = 2_000;

/** Rejects after `ms` unless `promise` settles first. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Where Apollo answers. */
const GRAPHQL_PATH = '/graphql';

/**
 * A JSON request body (or JSON query parameter) that cannot be read: 400, with Fastify's code
 * and a message saying why.
 */
class BodyError extends Error {
  readonly statusCode = 400;

  constructor(
    readonly code: 'FST_ERR_CTP_EMPTY_JSON_BODY' | 'FST_ERR_CTP_INVALID_JSON_BODY' | 'FST_ERR_VALIDATION',
    message: string,
  ) {
    super(message);
  }
}

/**
 * A GET to /graphql carries JSON in its `variables` and `extensions` parameters, which Apollo
 * parses itself: they are held to the same rules as bodies (src/domain/json.ts). Read as Apollo
 * reads them (URLSearchParams), every occurrence.
 */
async function checkJsonParameters(request: FastifyRequest): Promise<void> {
  if (request.method !== 'GET') return;
  const params = new URLSearchParams(request.url.slice(request.url.indexOf('?') + 1));
  for (const name of ['variables', 'extensions']) {
    for (const text of params.getAll(name)) {
      try {
        parseJsonInput(text, `The ${name} parameter`);
      } catch (err) {
        throw err instanceof JsonInputError ? new BodyError('FST_ERR_VALIDATION', err.message) : err;
      }
    }
  }
}

export async function buildServer({ config, logger, services }: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.limits.bodyBytes,
    // Requests are logged once, with their operation and project, by registerMetrics' hook.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    // Slow or silent clients: LLMRING_REQUEST_TIMEOUT_MS and LLMRING_KEEPALIVE_TIMEOUT_MS.
    ...connectionOptions(config),
  });

  // JSON bodies, held to the rules every JSON input follows (src/domain/json.ts: no prototype
  // keys anywhere), with an error that says what is wrong and where.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (body.length === 0) {
      done(
        new BodyError('FST_ERR_CTP_EMPTY_JSON_BODY', 'The request body is empty: send a JSON object'),
        undefined,
      );
      return;
    }
    let value: unknown;
    try {
      value = parseJsonInput(body as string, 'The request body');
    } catch (err) {
      const refused = err instanceof JsonInputError;
      done(refused ? new BodyError('FST_ERR_CTP_INVALID_JSON_BODY', err.message) : (err as Error), undefined);
      return;
    }
    done(null, value);
  });

  const defaultErrorHandler = app.errorHandler;
  app.setErrorHandler((error, request, reply) => {
    // A GraphQL client reads errors[], as Apollo answers any other request it cannot read.
    if (error instanceof BodyError && request.routeOptions.url === GRAPHQL_PATH) {
      return reply
        .code(400)
        .send({ errors: [{ message: error.message, extensions: { code: 'BAD_REQUEST' } }] });
    }
    // A body over the limit is the client's mistake: 413 with a message naming the limit.
    if ((error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send({
        statusCode: 413,
        code: 'FST_ERR_CTP_BODY_TOO_LARGE',
        error: 'Payload Too Large',
        message: `The request body is larger than the server's limit of ${config.limits.bodyBytes} bytes (LLMRING_MAX_BODY_BYTES)`,
      });
    }
    return defaultErrorHandler(error, request, reply);
  });

  // JSON bodies are read as UTF-8 whatever they declare: refuse another charset rather than
  // store what the client never meant.
  app.addHook('onRequest', async (request, reply) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1];
    if (charset && charset.toLowerCase() !== 'utf-8' && charset.toLowerCase() !== 'utf8') {
      return reply.code(415).send({
        statusCode: 415,
        code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
        error: 'Unsupported Media Type',
        message: `Unsupported charset '${charset.slice(0, 40)}': request bodies must be UTF-8`,
      });
    }
  });

  // Shutting down: requests in flight are answered, then their connections close, or keep-alive
  // would hold close() open until each client hangs up.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  const limits = operationLimits(config);
  const plugins: ApolloServerPlugin<GraphQLContext>[] = [
    fastifyApolloDrainPlugin(app),
    httpStatusPlugin(),
    // No cache hints here (every answer depends on the caller); Apollo's default cache-control
    // plugin would wrap every field resolver of every request for nothing.
    ApolloServerPluginCacheControlDisabled(),
  ];
  plugins.push(...(limits.plugins as ApolloServerPlugin<GraphQLContext>[]));
  plugins.push(loggingPlugin());
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
    // No automatic persisted queries: no client of this server sends them, and with them on, any
    // anonymous caller could write documents into the server's cache, while a wrong hash or version
    // was answered by Apollo with errors that have no code (reported as internal errors here).
    // Now every request that carries the extension gets PERSISTED_QUERY_NOT_SUPPORTED, which
    // Apollo's clients understand: they send the full query instead.
    persistedQueries: false,
    // Signals are main.ts's to handle: it closes the HTTP server, the workers and the pool in order.
    stopOnTerminationSignals: false,
    formatError: formatError(logger, { hideSuggestions: !config.http.introspection }),
    validationRules: limits.validationRules,
    parseOptions: { maxTokens: config.limits.tokens },
    plugins,
  });
  await apollo.start();

  app.route({
    url: GRAPHQL_PATH,
    method: ['GET', 'POST', 'OPTIONS'],
    preValidation: checkJsonParameters,
    handler: fastifyApolloHandler(apollo, {
      context: async (request) =>
        buildContext({
          headers: request.headers,
          services,
          requestInfo: requestInfoOf(request),
        }),
    }),
  });

  await registerMetrics(app, { services });
  await registerRestCompat(app, { services });
  await registerOtlp(app, { services, bodyBytes: config.limits.bodyBytes });
  registerExportRoutes(app, services);
  await registerDashboard(app);

  await registerHealth(app, { db: services.db });

  app.get('/ready', async (_request, reply) => {
    try {
      const { pending } = await within(migrationStatus(services.db), READY_TIMEOUT_MS);
      if (pending.length > 0) {
        return reply.code(503).send({ status: 'not ready', reason: `${pending.length} migrations pending` });
      }
      const ledger = services.ledger.health();
      if (!ledger.ok) {
        return reply
          .code(503)
          .send({ status: 'not ready', reason: 'ledger check failed', problems: ledger.problems });
      }
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'not ready', reason: 'database unreachable' });
    }
  });

  return app;
}
