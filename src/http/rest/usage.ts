/**
 * The usage routes of the original Python server, for clients written for it (llmring's
 * logging service posts to /api/v1/log). Thin: read the request, call the same services as
 * the GraphQL API, answer in the original shapes.
 *
 * - POST /api/v1/log   (body: ./reported.ts) -> {log_id, cost, timestamp, receipt_id, receipt,
 *                       replayed, warnings}
 * - GET /api/v1/stats  ?start_date&end_date&group_by=day|week|month&time_zone
 *                       -> {summary, by_day, by_model, by_origin, by_alias}
 * - GET /api/v1/logs   ?limit&offset&alias&model&origin&start_date&end_date -> [log, ...]
 *
 * Credentials as for GraphQL (src/services/auth.ts); errors as ./common.ts says. Dates alone
 * (start_date, end_date) are local days in time_zone (UTC by default), as the periods of by_day
 * are. Money keeps the original's JSON types: Decimal fields (summary.total_cost, by_day,
 * by_model and by_alias costs) are decimal strings, the others (log cost, by_origin cost) numbers.
 *
 * A /api/v1/log that names, as id_at_origin or metadata.conversation_id, a conversation that
 * POST /api/v1/conversations/log recorded is the same call reported again (llmring with
 * log_conversations=True sends both): it is answered with the stored call, replayed, and
 * counted once.
 */
import type { FastifyInstance } from 'fastify';
import type { UsageLog, UsageTotals } from '../../domain/types';
import { requestInfoOf } from '../../graphql/logging';
import { toMoney } from '../../db/normalize';
import type { Services } from '../../services';
import { requireProjectCaller, requireReader } from '../../services/authz';
import { badInput } from '../../services/errors';
import type { LogUsageResult } from '../../services/usage';
import { resolveUsageQuery } from '../../services/scope';
import { MAX_BREAKDOWN_GROUPS } from '../../services/stats';
import { MAX_PAGE_SIZE } from '../../domain/limits';
import { dateRange, intParam, one, restCaller, sendError, type Query } from './common';
import { conversationIdOf, conversationKey, logInput } from './reported';

/** The answer to a logged call, on /api/v1/log and /api/v1/conversations/log. */
export function loggedAnswer({ usageLog, receipt, replayed }: LogUsageResult) {
  return {
    log_id: usageLog.id,
    cost: toMoney(usageLog.cost),
    timestamp: usageLog.receivedAt.toISOString(),
    receipt_id: receipt.receiptId,
    receipt: receipt.document,
    replayed,
    warnings: usageLog.warnings,
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
    conversation_id: typeof log.metadata.conversation_id === 'string' ? log.metadata.conversation_id : null,
    id_at_origin: log.idAtOrigin,
    warnings: log.warnings,
  };
}

const GROUP_BY = new Set(['day', 'week', 'month']);

export function registerUsageRoutes(app: FastifyInstance, services: Services): void {
  app.post('/api/v1/log', async (request, reply) => {
    try {
      const project = requireProjectCaller(await restCaller(services, request));
      const header = request.headers['idempotency-key'];
      const input = logInput(request.body, Array.isArray(header) ? header[0] : header);
      const conversationId = input.idempotencyKey === null ? conversationIdOf(request.body) : undefined;
      if (conversationId !== undefined) {
        const key = conversationKey(conversationId);
        if (await services.usage.hasIdempotencyKey(project, key)) input.idempotencyKey = key;
      }
      requestInfoOf(request).usageCounted = true; // the service counts this call's outcome
      return loggedAnswer(await services.usage.record(project, input));
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get('/api/v1/stats', async (request, reply) => {
    try {
      const principal = await restCaller(services, request);
      requireReader(principal); // before reading the query: a key without READ learns nothing
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
      const principal = await restCaller(services, request);
      requireReader(principal); // before reading the query: a key without READ learns nothing
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
