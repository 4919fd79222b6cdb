/**
 * Prometheus metrics at GET /metrics, and one structured log line per request.
 *
 * Each server gets its own prom-client Registry (never the global one), so several servers
 * in one process (tests) keep separate counts. Labels are bounded: routes are Fastify's
 * route templates, GraphQL operations are labelled by operation type and root field names
 * (which the schema bounds), never by the client-chosen operation name.
 *
 * The Fastify hooks here open a RequestInfo per request (src/graphql/logging.ts) that the
 * Apollo logging plugin and the REST routes fill in; on response it is logged and counted.
 */
import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { requestInfoOf, type RequestInfo } from '../graphql/logging';
import type { Services } from '../services';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Probes and scrapes are logged at debug level only: they would drown everything else. */
const QUIET_ROUTES = new Set(['/health', '/ready', '/metrics']);

interface ConnectionPool {
  max: number;
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  numPendingCreates(): number;
}

function poolOf(db: Knex): ConnectionPool | undefined {
  return (db.client as { pool?: ConnectionPool }).pool ?? undefined;
}

/**
 * A call to log usage refused before it reached the service: a body of the wrong shape
 * (REST), or variables the schema rejects (GraphQL). Unauthenticated calls are not counted.
 */
function rejectedBeforeService(route: string, status: number, info: RequestInfo): boolean {
  if (route === '/api/v1/log') return status === 400 && !info.usageCounted;
  if (!info.operation?.startsWith('mutation ') || !info.operation.includes('logUsage')) return false;
  return Boolean(
    info.requestErrorCodes?.some((c) => c === 'BAD_USER_INPUT' || c === 'GRAPHQL_VALIDATION_FAILED'),
  );
}

export async function registerMetrics(app: FastifyInstance, deps: { services: Services }): Promise<void> {
  const { services } = deps;
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const httpLabels = ['method', 'route', 'status_code'] as const;
  const httpRequests = new Counter({
    name: 'llmring_http_requests_total',
    help: 'HTTP requests served, by method, route template and status code',
    labelNames: httpLabels,
    registers,
  });
  const httpDuration = new Histogram({
    name: 'llmring_http_request_duration_seconds',
    help: 'HTTP request latency, by method, route template and status code',
    labelNames: httpLabels,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const operations = new Counter({
    name: 'llmring_graphql_operations_total',
    help: "GraphQL operations, by operation ('<type> <root fields>') and outcome (success, error)",
    labelNames: ['operation', 'outcome'] as const,
    registers,
  });
  const operationDuration = new Histogram({
    name: 'llmring_graphql_operation_duration_seconds',
    help: 'GraphQL operation latency (the whole HTTP request), by operation',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const usageLogs = new Counter({
    name: 'llmring_usage_logs_total',
    help: 'Logged calls (logUsage, logUsageBatch, POST /api/v1/log) by outcome: stored, replayed (idempotency key seen before), rejected (invalid input), failed',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const outcome of ['stored', 'replayed', 'rejected', 'failed'] as const) usageLogs.inc({ outcome }, 0);
  // Whichever way a call came in (GraphQL, REST), the usage service reports its outcome.
  services.usage.onOutcome((outcome, n) => usageLogs.inc({ outcome }, n));
  const otlpSpans = new Counter({
    name: 'llmring_otlp_spans_total',
    help: 'Spans received at POST /v1/traces by outcome: stored, replayed (trace and span id seen before), ignored (no GenAI usage), rejected',
    labelNames: ['outcome'] as const,
    registers,
  });
  for (const outcome of ['stored', 'replayed', 'ignored', 'rejected'] as const) otlpSpans.inc({ outcome }, 0);
  services.otlp.onSpans((outcome, n) => otlpSpans.inc({ outcome }, n));
  const rateLimited = new Counter({
    name: 'llmring_rate_limited_total',
    help: 'Calls refused with 429 for a rate limit, by limit (key_requests, project_requests, key_logs, project_logs)',
    labelNames: ['limit'] as const,
    registers,
  });
  for (const limit of ['key_requests', 'project_requests', 'key_logs', 'project_logs'])
    rateLimited.inc({ limit }, 0);
  services.rateLimits.onRefused((limit) => rateLimited.inc({ limit }));

  const db = services.db;
  new Gauge({
    name: 'llmring_database_info',
    help: 'The database in use (kind: postgres or pglite); always 1',
    labelNames: ['kind'] as const,
    registers,
  }).set({ kind: services.dbKind }, 1);
  const poolGauge = (name: string, help: string, read: (pool: ConnectionPool) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const pool = poolOf(db);
        if (pool) this.set(read(pool));
      },
    });
  poolGauge(
    'llmring_db_pool_max_connections',
    'Connection pool size limit (1 for embedded PGlite)',
    (p) => p.max,
  );
  poolGauge('llmring_db_pool_used_connections', 'Connections checked out of the pool', (p) => p.numUsed());
  poolGauge('llmring_db_pool_free_connections', 'Idle connections in the pool', (p) => p.numFree());
  poolGauge(
    'llmring_db_pool_pending_acquires',
    'Queries waiting for a connection (a sustained non-zero value: raise DATABASE_POOL_MAX)',
    (p) => p.numPendingAcquires(),
  );
  poolGauge('llmring_db_pool_pending_creates', 'Connections being opened', (p) => p.numPendingCreates());

  new Gauge({
    name: 'llmring_ingest_calls_pending',
    help: 'Calls to log usage waiting for their INSERT to commit (queued for a statement, or in one)',
    registers,
    collect() {
      this.set(services.usage.callsPending);
    },
  });
  new Gauge({
    name: 'llmring_ledger_check_failed',
    help: 'Whether the last ledger self-check found a stored tree its leaves do not give (1) or not (0)',
    registers,
    collect() {
      this.set(services.ledger.health().ok ? 0 : 1);
    },
  });
  new Gauge({
    name: 'llmring_ledger_lag_seconds',
    help: 'Age of the oldest receipt not yet appended to its ledger (0 when caught up)',
    registers,
    async collect() {
      try {
        this.set(await services.ledger.lagSeconds());
      } catch {
        // As for the rollup lag: the gauge keeps its last value.
      }
    },
  });
  new Gauge({
    name: 'llmring_rollup_lag_seconds',
    help: 'Age of the oldest stored log not yet folded into the hourly rollups (0 when caught up)',
    registers,
    async collect() {
      try {
        this.set(await services.rollups.lagSeconds());
      } catch {
        // An unreachable database must not fail the whole scrape; the gauge keeps its last value.
      }
    },
  });

  app.addHook('onRequest', (request, reply, done) => {
    requestInfoOf(request);
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', async (request, reply) => {
    const info = requestInfoOf(request);
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    const labels = { method: request.method, route, status_code: String(reply.statusCode) };
    httpRequests.inc(labels);
    httpDuration.observe(labels, seconds);
    if (rejectedBeforeService(route, reply.statusCode, info)) {
      usageLogs.inc({ outcome: 'rejected' });
    }
    if (info.operation) {
      const failed = Boolean(info.errorCodes?.length) || reply.statusCode >= 400;
      operations.inc({ operation: info.operation, outcome: failed ? 'error' : 'success' });
      operationDuration.observe({ operation: info.operation }, seconds);
    }
    const line = {
      method: request.method,
      path: request.url.split('?')[0].slice(0, 200),
      route,
      statusCode: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      operation: info.operation,
      operationName: info.operationName,
      projectKey: info.projectKey,
      admin: info.admin,
      operator: info.operator,
      errors: info.errorCodes,
    };
    if (QUIET_ROUTES.has(route)) request.log.debug(line, 'request completed');
    else request.log.info(line, 'request completed');
  });

  app.get('/metrics', async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );
}
