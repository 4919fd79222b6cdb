/**
 * What a statistics statement computes (a StatsSpec), and which rollups each part reads (its
 * plan): see ./index.ts for the design.
 */
import type { TimeBucket, UsageQuery } from '../../domain/types';

/** Columns a group set can name; m0, m1, … are the metadata keys in play (StatsSpec.keys). */
export type GroupColumn =
  'alias_name' | 'provider' | 'model' | 'origin' | 'profile' | 'project_id' | `m${number}`;

/** One breakdown (or overview part): the columns it groups by, and how many groups it keeps. */
export interface GroupSet {
  columns: GroupColumn[];
  /** The most expensive groups kept; null keeps all. */
  limit: number | null;
  /** Its groups need distinct counts of alias names and origins (summaries): full rollups. */
  counts?: boolean;
}

export interface StatsSpec {
  query: UsageQuery;
  /** Metadata keys the filter or the sets use, in order: m0 is keys[0]. */
  keys: string[];
  /** Read rollups where they answer; false reads raw logs only. Rollups hold one key at most. */
  rollups: boolean;
  /** The group sets to aggregate. */
  sets: GroupSet[];
  /** Time buckets in a zone (a name Postgres knows: see TimeZoneService). */
  period?: { bucket: TimeBucket; timeZone: string };
}

/** Token and cost totals every source row carries and every part sums. */
export const TOTAL_COLUMNS = [
  'requests',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cache_write_tokens',
  'cache_write_1h_tokens',
  'reasoning_tokens',
  'cost',
] as const;
export type TotalColumn = (typeof TOTAL_COLUMNS)[number];

/** Full rollups have every dimension; narrow ones only these (and the metadata value). */
export type Grain = 'full' | 'narrow';
export const NARROW_COLUMNS: GroupColumn[] = ['provider', 'model', 'project_id'];
/** Group columns always present in a full grouping: summaries count their distinct values. */
export const BASE_COLUMNS: GroupColumn[] = ['alias_name', 'provider', 'model', 'origin'];
const ORDER: GroupColumn[] = ['alias_name', 'provider', 'model', 'origin', 'profile', 'project_id'];

export interface StatsRow {
  /** 0: a group of a set; 1: a time bucket; 2: the statement's metadata. */
  part: number;
  /** Which grouping a part-0 row comes from, and which set of it (see StatsPlan). */
  grain: Grain | null;
  gid: number | null;
  alias_name: string | null;
  provider: string | null;
  model: string | null;
  origin: string | null;
  profile: string | null;
  project_id: string | null;
  [metadata: `m${number}`]: string | null;
  requests: unknown;
  input_tokens: unknown;
  output_tokens: unknown;
  cached_input_tokens: unknown;
  cache_write_tokens: unknown;
  cache_write_1h_tokens: unknown;
  reasoning_tokens: unknown;
  cost: unknown;
  unique_models: unknown;
  unique_aliases: unknown;
  unique_origins: unknown;
  models: string[] | null;
  period_start: Date | string | null;
  /** The bucket's local start in the period's zone, 'YYYY-MM-DDTHH:MI'. */
  period_label: string | null;
  top_model: string | null;
  as_of: Date | string | null;
  from_replica: boolean | null;
}

/** Columns in their fixed order (dimensions, then m0, m1, …), each once. */
export function inGroupOrder(columns: readonly GroupColumn[]): GroupColumn[] {
  const rank = (c: GroupColumn) => (c.startsWith('m') ? ORDER.length + Number(c.slice(1)) : ORDER.indexOf(c));
  return [...new Set(columns)].sort((a, b) => rank(a) - rank(b));
}

/**
 * The GROUPING() bitmask of a set over `all` columns: a bit is 1 for a column the set does
 * not group by (highest bit first), as Postgres computes GROUPING(a, b, …).
 */
export function setId(columns: readonly GroupColumn[], all: readonly GroupColumn[]): number {
  return all.reduce((mask, c) => (mask << 1) | (columns.includes(c) ? 0 : 1), 0);
}

/** One grouping of the statement: the rows of one grain, and the sets computed from them. */
export interface Grouping {
  grain: Grain;
  /** The columns of its first aggregation. */
  columns: GroupColumn[];
  /** Its distinct sets, in the order asked for. */
  sets: GroupSet[];
  /** The columns its sets group by (the arguments of GROUPING()). */
  setColumns: GroupColumn[];
  /** Whether the period part reads it. */
  period: boolean;
}

/** Which grouping every set and the period part read: the statement and its reader share it. */
export interface StatsPlan {
  groupings: Grouping[];
  /** For each set of the spec, in order: the grouping it is in, and its id there. */
  sets: Array<{ grain: Grain; gid: number }>;
}

/** True when the filter names only what narrow rollups hold. */
function narrowFilter(q: UsageQuery): boolean {
  return !q.aliasNames && !q.origins && !q.profiles;
}

const narrowSet = (s: GroupSet) =>
  !s.counts && s.columns.every((c) => NARROW_COLUMNS.includes(c) || c.startsWith('m'));

export function plan(spec: Pick<StatsSpec, 'query' | 'sets' | 'period' | 'rollups'>): StatsPlan {
  const narrowOk = spec.rollups && narrowFilter(spec.query);
  // Sets share one grouping: the narrow one when all of them can, else the full one.
  const setGrain: Grain = narrowOk && spec.sets.every(narrowSet) ? 'narrow' : 'full';
  const periodGrain: Grain = narrowOk ? 'narrow' : 'full';
  const groupings: Grouping[] = [];
  for (const grain of ['full', 'narrow'] as const) {
    const sets = setGrain === grain ? dedupe(spec.sets) : [];
    const period = Boolean(spec.period) && periodGrain === grain;
    if (!sets.length && !period) continue;
    const base = grain === 'full' ? BASE_COLUMNS : (['provider', 'model'] as GroupColumn[]);
    groupings.push({
      grain,
      columns: inGroupOrder([...base, ...sets.flatMap((s) => s.columns)]),
      sets,
      setColumns: inGroupOrder(sets.flatMap((s) => s.columns)),
      period,
    });
  }
  const sets = spec.sets.map((s) => {
    const g = groupings.find((x) => x.grain === setGrain)!;
    return { grain: setGrain, gid: setId(s.columns, g.setColumns) };
  });
  return { groupings, sets };
}

/** One set per distinct column list; a limited set keeps the largest limit asked for, none if any asks for all. */
function dedupe(sets: readonly GroupSet[]): GroupSet[] {
  const byColumns = new Map<string, GroupSet>();
  for (const s of sets) {
    const key = inGroupOrder(s.columns).join(',');
    const seen = byColumns.get(key);
    if (!seen) byColumns.set(key, { ...s, columns: inGroupOrder(s.columns) });
    else seen.limit = seen.limit === null || s.limit === null ? null : Math.max(seen.limit, s.limit);
  }
  return [...byColumns.values()];
}
