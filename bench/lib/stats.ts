/**
 * The statistics side: the usageStats call a dashboard makes (summary, byPeriod DAY, byAlias,
 * byModel, byOrigin) and the same aggregation as the five raw GROUP BY scans over usage_logs
 * that the original server ran one after another (and this server's StatsService runs today),
 * plus a comparison of the two answers.
 */
import type { Client } from 'pg';
import type { GraphQLClient } from './http';
import { median, percentile } from './stats-math';

export const USAGE_STATS = `query BenchUsageStats($filter: UsageFilter, $timeZone: String!) {
  usageStats(filter: $filter, groupBy: DAY, timeZone: $timeZone) {
    summary { requests inputTokens outputTokens cachedInputTokens totalTokens cost uniqueModels uniqueAliases uniqueOrigins }
    byPeriod { periodStart requests inputTokens outputTokens cachedInputTokens cost topModel }
    byAlias { aliasName requests inputTokens outputTokens cachedInputTokens cost models }
    byModel { provider model requests inputTokens outputTokens cachedInputTokens cost }
    byOrigin { origin requests inputTokens outputTokens cachedInputTokens cost }
  }
}`;

interface Totals {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cost: number;
}

export interface StatsAnswer {
  summary: Totals & { uniqueModels: number; uniqueAliases: number; uniqueOrigins: number };
  byPeriod: Array<Totals & { periodStart: string; topModel: string | null }>;
  byAlias: Array<Totals & { aliasName: string | null; models: string[] }>;
  byModel: Array<Totals & { provider: string; model: string }>;
  byOrigin: Array<Totals & { origin: string | null }>;
}

export interface Window {
  projectId: string;
  start: Date;
  end: Date;
}

const filterOf = (w: Window) => ({
  projectId: w.projectId,
  startDate: w.start.toISOString(),
  endDate: w.end.toISOString(),
});

export async function apiStats(client: GraphQLClient, w: Window, timeZone = 'UTC'): Promise<StatsAnswer> {
  const data = await client.request<{ usageStats: StatsAnswer }>(USAGE_STATS, {
    filter: filterOf(w),
    timeZone,
  });
  return data.usageStats;
}

export interface Group {
  key: string | null;
  requests: number;
  cost: number;
}

/** One breakdown over HTTP: by alias name, or by a promoted metadata key. */
export async function apiBreakdown(
  client: GraphQLClient,
  w: Window,
  by: 'alias' | { metadata: string },
): Promise<Group[]> {
  const args = by === 'alias' ? 'by: [ALIAS]' : `by: [], metadataKeys: ["${by.metadata}"]`;
  const data = await client.request<{
    usageStats: {
      breakdown: Array<{
        aliasName: string | null;
        metadata: Array<{ value: string | null }>;
        requests: number;
        cost: number;
      }>;
    };
  }>(
    `query BenchBreakdown($filter: UsageFilter) {
    usageStats(filter: $filter) { breakdown(${args}, limit: 1000) { aliasName metadata { value } requests cost } }
  }`,
    { filter: filterOf(w) },
  );
  return data.usageStats.breakdown.map((g) => ({
    key: by === 'alias' ? g.aliasName : (g.metadata[0]?.value ?? null),
    requests: g.requests,
    cost: g.cost,
  }));
}

/** The same groups as a raw scan of the promoted values (usage_logs.dimensions). */
export async function rawMetadataGroups(db: Client, w: Window, key: string): Promise<Group[]> {
  const { rows } = await db.query<{ key: string | null; requests: string; cost: string }>(
    `SELECT dimensions ->> $4 AS key, count(*) AS requests, sum(cost) AS cost
     FROM usage_logs WHERE ${WHERE} GROUP BY 1`,
    [w.projectId, w.start.toISOString(), w.end.toISOString(), key],
  );
  return rows.map((r) => ({ key: r.key, requests: Number(r.requests), cost: Number(r.cost) }));
}

/** Differences between two sets of groups (empty when they agree). */
export function compareGroups(name: string, api: Group[], raw: Group[]): string[] {
  const out: string[] = [];
  const rawByKey = new Map(raw.map((g) => [g.key, g]));
  if (api.length !== raw.length) out.push(`${name}: API ${api.length} groups vs raw ${raw.length}`);
  for (const g of api) {
    const r = rawByKey.get(g.key);
    if (!r) out.push(`${name}[${g.key}]: not in the raw answer`);
    else if (r.requests !== g.requests || !sameCost(r.cost, g.cost)) {
      out.push(`${name}[${g.key}]: API ${g.requests} / ${g.cost} vs raw ${r.requests} / ${r.cost}`);
    }
  }
  return out;
}

const WHERE = 'project_id = $1 AND occurred_at >= $2 AND occurred_at < $3';
const TOTALS = `count(*) AS requests, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
  sum(cached_input_tokens) AS cached_input_tokens, sum(cost) AS cost`;

/** The five scans, as src/services/stats.ts builds them (UTC day buckets). */
export const RAW_QUERIES: Record<keyof StatsAnswer, string> = {
  summary: `SELECT ${TOTALS}, count(DISTINCT model) AS unique_models, count(DISTINCT alias_name) AS unique_aliases,
      count(DISTINCT origin) AS unique_origins
    FROM usage_logs WHERE ${WHERE}`,
  byPeriod: `SELECT local_start AT TIME ZONE 'UTC' AS period_start, sum(requests) AS requests,
      sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
      sum(cached_input_tokens) AS cached_input_tokens, sum(cost) AS cost,
      (array_agg(model ORDER BY cost DESC, requests DESC, model))[1] AS top_model
    FROM (SELECT date_trunc('day', occurred_at AT TIME ZONE 'UTC') AS local_start, model, ${TOTALS}
          FROM usage_logs WHERE ${WHERE} GROUP BY 1, 2) g
    GROUP BY local_start ORDER BY local_start`,
  byAlias: `SELECT alias_name, ${TOTALS}, array_agg(DISTINCT model ORDER BY model) AS models
    FROM usage_logs WHERE ${WHERE}
    GROUP BY alias_name ORDER BY sum(cost) DESC, count(*) DESC, alias_name NULLS LAST`,
  byModel: `SELECT provider, model, ${TOTALS}
    FROM usage_logs WHERE ${WHERE}
    GROUP BY provider, model ORDER BY sum(cost) DESC, count(*) DESC, provider, model`,
  byOrigin: `SELECT origin, ${TOTALS}
    FROM usage_logs WHERE ${WHERE}
    GROUP BY origin ORDER BY sum(cost) DESC, count(*) DESC, origin NULLS LAST`,
};

type Row = Record<string, unknown>;

const totals = (r: Row): Totals => ({
  requests: Number(r.requests),
  inputTokens: Number(r.input_tokens),
  outputTokens: Number(r.output_tokens),
  cachedInputTokens: Number(r.cached_input_tokens),
  cost: Number(r.cost ?? 0),
});

/** Runs the five scans one after another; returns the answer in the API's shape. */
export async function rawStats(db: Client, w: Window): Promise<StatsAnswer> {
  const params = [w.projectId, w.start.toISOString(), w.end.toISOString()];
  const q = async (sql: string) => (await db.query(sql, params)).rows as Row[];
  const [s] = await q(RAW_QUERIES.summary);
  const byPeriod = await q(RAW_QUERIES.byPeriod);
  const byAlias = await q(RAW_QUERIES.byAlias);
  const byModel = await q(RAW_QUERIES.byModel);
  const byOrigin = await q(RAW_QUERIES.byOrigin);
  return {
    summary: {
      ...totals(s),
      uniqueModels: Number(s.unique_models),
      uniqueAliases: Number(s.unique_aliases),
      uniqueOrigins: Number(s.unique_origins),
    },
    byPeriod: byPeriod.map((r) => ({
      ...totals(r),
      periodStart: new Date(r.period_start as Date).toISOString(),
      topModel: (r.top_model as string | null) ?? null,
    })),
    byAlias: byAlias.map((r) => ({
      ...totals(r),
      aliasName: r.alias_name as string | null,
      models: r.models as string[],
    })),
    byModel: byModel.map((r) => ({ ...totals(r), provider: r.provider as string, model: r.model as string })),
    byOrigin: byOrigin.map((r) => ({ ...totals(r), origin: r.origin as string | null })),
  };
}

const sameCost = (a: number, b: number) => Math.abs(a - b) <= 1e-6 + 1e-9 * Math.abs(b);

function diffTotals(where: string, a: Totals, b: Totals, out: string[]): void {
  for (const k of ['requests', 'inputTokens', 'outputTokens', 'cachedInputTokens'] as const) {
    if (a[k] !== b[k]) out.push(`${where}.${k}: API ${a[k]} vs raw ${b[k]}`);
  }
  if (!sameCost(a.cost, b.cost)) out.push(`${where}.cost: API ${a.cost} vs raw ${b.cost}`);
}

function diffGroups<T extends Totals>(
  name: string,
  api: T[],
  raw: T[],
  key: (t: T) => string,
  out: string[],
): void {
  const rawByKey = new Map(raw.map((r) => [key(r), r]));
  if (api.length !== raw.length) out.push(`${name}: API ${api.length} groups vs raw ${raw.length}`);
  for (const a of api) {
    const r = rawByKey.get(key(a));
    if (!r) out.push(`${name}[${key(a)}]: not in the raw answer`);
    else diffTotals(`${name}[${key(a)}]`, a, r, out);
  }
}

/** Differences between the API's answer and the raw scans' (empty when they agree). */
export function compareStats(api: StatsAnswer, raw: StatsAnswer): string[] {
  const out: string[] = [];
  diffTotals('summary', api.summary, raw.summary, out);
  for (const k of ['uniqueModels', 'uniqueAliases', 'uniqueOrigins'] as const) {
    if (api.summary[k] !== raw.summary[k])
      out.push(`summary.${k}: API ${api.summary[k]} vs raw ${raw.summary[k]}`);
  }
  diffGroups('byPeriod', api.byPeriod, raw.byPeriod, (p) => new Date(p.periodStart).toISOString(), out);
  diffGroups('byAlias', api.byAlias, raw.byAlias, (a) => String(a.aliasName), out);
  diffGroups('byModel', api.byModel, raw.byModel, (m) => `${m.provider}/${m.model}`, out);
  diffGroups('byOrigin', api.byOrigin, raw.byOrigin, (o) => String(o.origin), out);
  return out;
}

export interface Timing {
  n: number;
  p50: number;
  p99: number;
  /** Set when the runs stopped early (time budget or failure). */
  note?: string;
}

/**
 * Times `fn` up to `runs` times, stopping early once `budgetMs` is spent (but not before
 * `minRuns`), so that quick mode stays quick while the server still scans raw logs.
 */
export async function timeRuns(
  fn: () => Promise<unknown>,
  opts: { runs: number; minRuns: number; budgetMs: number; warmup?: boolean },
): Promise<Timing & { samples: number[] }> {
  const samples: number[] = [];
  const start = performance.now();
  if (opts.warmup) {
    // One untimed call first (JIT, plans, caches), unless it is slow enough for that not to
    // matter: then it counts as the first sample rather than cost another slow call.
    const t = performance.now();
    await fn();
    const ms = performance.now() - t;
    if (ms > 1_000) samples.push(ms);
  }
  while (samples.length < opts.runs) {
    if (samples.length >= opts.minRuns && performance.now() - start > opts.budgetMs) break;
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return {
    n: samples.length,
    p50: median(samples),
    p99: percentile(samples, 99),
    samples,
    note: samples.length < opts.runs ? `time budget ${Math.round(opts.budgetMs / 1000)} s` : undefined,
  };
}
