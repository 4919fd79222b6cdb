/**
 * The REST routes of the original Python server, for clients written for it (llmring's
 * logging service posts to /api/v1/log today). Thin: read the request, call the same
 * services as the GraphQL API, answer in the original shapes.
 *
 * - POST /api/v1/log   {model, provider, input_tokens, output_tokens, cached_input_tokens,
 *                       cache_write_tokens, cache_write_1h_tokens, reasoning_tokens,
 *                       alias, profile, cost, latency_ms, origin, id_at_origin, metadata}
 *                       -> {log_id, cost, timestamp} plus receipt_id and the signed receipt
 * - GET /api/v1/stats  ?start_date&end_date&group_by=day|week|month
 *                       -> {summary, by_day, by_model, by_origin, by_alias}
 * - GET /api/v1/logs   ?limit&offset&alias&model&origin&start_date&end_date -> [log, ...]
 *
 * Credentials as for GraphQL (src/services/auth.ts). Errors answer {detail, code, field?}: 401
 * without or with a bad key, 400 naming the field (by its REST name) for bad input, 403, 404,
 * and 500 with no detail for anything unexpected. Dates alone (start_date, end_date) are local
 * days in time_zone (UTC by default), as the periods of by_day are.
 * Money keeps the original's JSON types: Decimal fields (summary.total_cost, by_day, by_model
 * and by_alias costs) are decimal strings, the others (log cost, by_origin cost) numbers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../domain/principal';
import type { UsageLog, UsageTotals } from '../domain/types';
import { parseIsoDate } from '../domain/dates';
import { noteCaller, requestInfoOf } from '../graphql/logging';
import { toMoney } from '../db/normalize';
import type { Services } from '../services';
import { requireProjectCaller } from '../services/authz';
import { ServiceError, badInput, unauthenticated } from '../services/errors';
import type { LogUsageInput } from '../services/usage';
import { resolveUsageQuery, type UsageFilterInput } from '../services/scope';
import { MAX_BREAKDOWN_GROUPS } from '../services/stats';
import { MAX_PAGE_SIZE } from '../domain/limits';

const STATUS: Record<ServiceError['code'], number> = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
};

/** Service field names (GraphQL's) -> the names REST clients send. */
const REST_FIELDS: Record<string, string> = {
  'input.inputTokens': 'input_tokens',
  'input.outputTokens': 'output_tokens',
  'input.cachedInputTokens': 'cached_input_tokens',
  'input.cacheWriteTokens': 'cache_write_tokens',
  'input.cacheWrite1hTokens': 'cache_write_1h_tokens',
  'input.reasoningTokens': 'reasoning_tokens',
  'input.aliasName': 'alias',
  'input.latencyMs': 'latency_ms',
  'input.idAtOrigin': 'id_at_origin',
  'input.idempotencyKey': 'Idempotency-Key',
  'input.occurredAt': 'occurred_at',
  'filter.startDate': 'start_date',
  'filter.endDate': 'end_date',
  'filter.aliasNames': 'alias',
  'filter.models': 'model',
  'filter.origins': 'origin',
  timeZone: 'time_zone',
};

function restField(field: string): string {
  return REST_FIELDS[field] ?? field.replace(/^input\./, '');
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof ServiceError) {
    const field = err.field === undefined ? undefined : restField(err.field);
    const detail =
      field !== undefined && err.problem !== undefined ? `${field}: ${err.problem}` : err.message;
    return reply.code(STATUS[err.code]).send({ detail, code: err.code, ...(field ? { field } : {}) });
  }
  reply.log.error({ err }, 'unexpected error in a REST compatibility route');
  return reply.code(500).send({ detail: 'Internal server error', code: 'INTERNAL_SERVER_ERROR' });
}

type Query = Record<string, string | string[] | undefined>;

function one(query: Query, name: string): string | undefined {
  const value = query[name];
  const v = Array.isArray(value) ? value[value.length - 1] : value;
  return v === undefined || v === '' ? undefined : v;
}

function intParam(query: Query, name: string, fallback: number): number {
  const raw = one(query, name);
  if (raw === undefined) return fallback;
  if (!/^-?\d{1,9}$/.test(raw)) throw badInput(name, 'must be an integer');
  return Number(raw);
}

/**
 * start_date and end_date: a date alone is a local day in `timeZone` (end_date includes it),
 * a date-time an instant (UTC unless it has an offset).
 */
async function dateRange(services: Services, query: Query, timeZone: string): Promise<UsageFilterInput> {
  const date = async (name: 'start_date' | 'end_date') => {
    const value = one(query, name);
    if (value === undefined) return undefined;
    const instant = parseIsoDate(name, value);
    return /^\d{4}-\d{2}-\d{2}$/.test(value)
      ? services.timeZones.startOfLocalDay(value, timeZone, { nextDay: name === 'end_date' })
      : instant;
  };
  return { startDate: await date('start_date'), endDate: await date('end_date') };
}

type FieldType = 'string' | 'integer' | 'number' | 'object';

function checkType(body: Record<string, unknown>, name: string, type: FieldType, required: boolean): unknown {
  const value = body[name];
  if (value === undefined || value === null) {
    if (required) throw badInput(name, 'is required');
    return undefined;
  }
  const ok =
    type === 'string'
      ? typeof value === 'string'
      : type === 'integer'
        ? Number.isInteger(value)
        : type === 'number'
          ? typeof value === 'number' && Number.isFinite(value)
          : typeof value === 'object' && !Array.isArray(value);
  if (!ok) throw badInput(name, `must be ${type === 'integer' || type === 'object' ? 'an' : 'a'} ${type}`);
  return value;
}

/** The original request body -> the service's input, checking each field's JSON type. */
function logInput(body: unknown, idempotencyKey: string | undefined): LogUsageInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badInput('body', 'must be a JSON object');
  }
  const b = body as Record<string, unknown>;
  const str = (name: string, required = false) =>
    checkType(b, name, 'string', required) as string | undefined;
  const int = (name: string, required = false) =>
    checkType(b, name, 'integer', required) as number | undefined;
  return {
    model: str('model', true)!,
    provider: str('provider', true)!,
    inputTokens: int('input_tokens', true)!,
    outputTokens: int('output_tokens', true)!,
    cachedInputTokens: int('cached_input_tokens') ?? 0,
    cacheWriteTokens: int('cache_write_tokens') ?? 0,
    cacheWrite1hTokens: int('cache_write_1h_tokens') ?? 0,
    reasoningTokens: int('reasoning_tokens') ?? 0,
    aliasName: str('alias') ?? null,
    profile: str('profile') ?? null,
    cost: (checkType(b, 'cost', 'number', false) as number | undefined) ?? null,
    latencyMs: int('latency_ms') ?? null,
    origin: str('origin') ?? null,
    idAtOrigin: str('id_at_origin') ?? null,
    metadata: (checkType(b, 'metadata', 'object', false) as Record<string, unknown> | undefined) ?? {},
    idempotencyKey: idempotencyKey ?? null,
  };
}

function logEntry(log: UsageLog) {
  return {
    id: log.id,
    logged_at: log.receivedAt.toISOString(),
    occurred_at: log.occurredAt.toISOString(),
    provider: log.provider,
    model: log.model,
    alias: log.aliasName,
    profile: log.profile,
    origin: log.origin,
    input_tokens: log.inputTokens,
    output_tokens: log.outputTokens,
    cached_input_tokens: log.cachedInputTokens,
    cache_write_tokens: log.cacheWriteTokens,
    cache_write_1h_tokens: log.cacheWrite1hTokens,
    reasoning_tokens: log.reasoningTokens,
    cost: toMoney(log.cost),
    // The cost first charged, when a re-pricing changed it (see repriceUsage); else the cost.
    original_cost: toMoney(log.originalCost ?? log.cost),
    cost_source: log.costSource,
    latency_ms: log.latencyMs,
    metadata: log.metadata,
    conversation_id: null,
    id_at_origin: log.idAtOrigin,
  };
}

const GROUP_BY = new Set(['day', 'week', 'month']);

export async function registerRestCompat(app: FastifyInstance, deps: { services: Services }): Promise<void> {
  const { services } = deps;

  /** The caller, noted for the request log; 401 without credentials. */
  async function caller(request: FastifyRequest): Promise<Principal> {
    const principal = await services.auth.authenticate(request.headers);
    if (principal.kind === 'anonymous') {
      throw unauthenticated('an API key is required: send it in the X-API-Key header');
    }
    noteCaller(requestInfoOf(request), principal);
    return principal;
  }

  app.post('/api/v1/log', async (request, reply) => {
    try {
      const project = requireProjectCaller(await caller(request));
      const key = request.headers['idempotency-key'];
      const input = logInput(request.body, Array.isArray(key) ? key[0] : key);
      requestInfoOf(request).usageCounted = true; // the service counts this call's outcome
      const { usageLog, receipt, replayed } = await services.usage.record(project, input);
      return {
        log_id: usageLog.id,
        cost: toMoney(usageLog.cost),
        timestamp: usageLog.receivedAt.toISOString(),
        receipt_id: receipt.receiptId,
        receipt: receipt.document,
        replayed,
      };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/api/v1/stats', async (request, reply) => {
    try {
      const principal = await caller(request);
      const query = request.query as Query;
      const groupBy = one(query, 'group_by') ?? 'day';
      if (!GROUP_BY.has(groupBy)) throw badInput('group_by', "must be 'day', 'week' or 'month'");
      const timeZone = await services.stats.timeZone(one(query, 'time_zone') ?? 'UTC', 'time_zone');
      const q = resolveUsageQuery(principal, await dateRange(services, query, timeZone));
      // One statement: the parts agree with each other, also while logs arrive.
      const stats = await services.stats.query(q, {
        overview: true,
        byPeriod: { bucket: groupBy as 'day' | 'week' | 'month', timeZone },
        breakdowns: [{ by: ['model'], limit: MAX_BREAKDOWN_GROUPS }],
      });
      const { summary, byAlias, byOrigin } = stats.overview!;
      const tokens = (t: UsageTotals) => ({
        input_tokens: t.inputTokens,
        output_tokens: t.outputTokens,
        cached_input_tokens: t.cachedInputTokens,
        cache_write_tokens: t.cacheWriteTokens,
        cache_write_1h_tokens: t.cacheWrite1hTokens,
        reasoning_tokens: t.reasoningTokens,
      });
      return {
        summary: {
          total_requests: summary.requests,
          total_cost: summary.cost,
          total_tokens: summary.totalTokens,
          unique_models: summary.uniqueModels,
          unique_origins: summary.uniqueOrigins,
          unique_aliases: summary.uniqueAliases,
        },
        // Newest first, as the original listed them; totals over every model of the period.
        by_day: [...stats.byPeriod!].reverse().map((p) => ({
          date: p.localStart.slice(0, 10),
          requests: p.requests,
          cost: p.cost,
          top_model: p.topModel,
          tokens: p.inputTokens + p.outputTokens,
          ...tokens(p),
        })),
        by_model: Object.fromEntries(
          stats.breakdowns[0].map((m) => [m.model, { requests: m.requests, cost: m.cost, ...tokens(m) }]),
        ),
        by_origin: Object.fromEntries(
          byOrigin
            .filter((o) => o.origin !== null)
            .map((o) => [o.origin, { requests: o.requests, cost: toMoney(o.cost), ...tokens(o) }]),
        ),
        by_alias: Object.fromEntries(
          byAlias
            .filter((a) => a.aliasName !== null)
            .map((a) => [a.aliasName, { requests: a.requests, cost: a.cost, ...tokens(a) }]),
        ),
      };
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/api/v1/logs', async (request, reply) => {
    try {
      const principal = await caller(request);
      const query = request.query as Query;
      // The original clamped rather than refused: limit to 1..500, offset to >= 0.
      const limit = Math.min(Math.max(intParam(query, 'limit', 50), 1), MAX_PAGE_SIZE);
      const offset = Math.max(intParam(query, 'offset', 0), 0);
      const alias = one(query, 'alias');
      const model = one(query, 'model');
      const origin = one(query, 'origin');
      const q = resolveUsageQuery(principal, {
        ...(await dateRange(services, query, 'UTC')),
        aliasNames: alias === undefined ? undefined : [alias],
        models: model === undefined ? undefined : [model],
        origins: origin === undefined ? undefined : [origin],
      });
      return (await services.usageReader.page(q, { limit, offset })).map(logEntry);
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
