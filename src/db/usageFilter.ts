/** The WHERE clause of a UsageQuery over raw usage logs, shared by log listing, receipts and export. */
import type { Knex } from 'knex';
import type { UsageQuery } from '../domain/types';

/** `column IN (values)`, where a null among the values also selects NULL. */
function whereAnyOf(
  qb: Knex.QueryBuilder,
  column: string | Knex.Raw,
  values: ReadonlyArray<string | null>,
): void {
  const named = values.filter((v): v is string => v !== null);
  const withNull = named.length < values.length;
  qb.where((w) => {
    if (named.length) w.orWhereIn(column as string, named);
    if (withNull) w.orWhereNull(column as string);
    if (!named.length && !withNull) w.whereRaw('false');
  });
}

/** The filters of a UsageQuery, time included, on `table`'s columns. */
export function applyUsageQuery<T extends Knex.QueryBuilder>(qb: T, q: UsageQuery, table = 'usage_logs'): T {
  const col = (c: string) => `${table}.${c}`;
  qb.where(col('occurred_at'), '>=', q.start).andWhere(col('occurred_at'), '<', q.end);
  if (q.projectIds) qb.whereIn(col('project_id'), q.projectIds);
  if (q.aliasNames) whereAnyOf(qb, col('alias_name'), q.aliasNames);
  if (q.models) qb.whereIn(col('model'), q.models);
  if (q.providers) qb.whereIn(col('provider'), q.providers);
  if (q.origins) qb.whereIn(col('origin'), q.origins);
  if (q.profiles) qb.whereIn(col('profile'), q.profiles);
  for (const f of q.metadata ?? []) {
    whereAnyOf(qb, qb.client.raw('(??.dimensions ->> ?)', [table, f.key]), f.values);
  }
  return qb;
}
