/** The WHERE clause of a UsageQuery, shared by stats, log listing and export. */
import type { Knex } from 'knex';
import type { UsageQuery } from '../domain/types';

export function applyUsageQuery<T extends Knex.QueryBuilder>(qb: T, q: UsageQuery, table = 'usage_logs'): T {
  const col = (c: string) => `${table}.${c}`;
  qb.where(col('occurred_at'), '>=', q.start).andWhere(col('occurred_at'), '<', q.end);
  if (q.projectIds) qb.whereIn(col('project_id'), q.projectIds);
  if (q.aliasNames) {
    const names = q.aliasNames.filter((n): n is string => n !== null);
    const withNull = names.length < q.aliasNames.length;
    qb.where((w) => {
      if (names.length) w.orWhereIn(col('alias_name'), names);
      if (withNull) w.orWhereNull(col('alias_name'));
      if (!names.length && !withNull) w.whereRaw('false');
    });
  }
  if (q.models) qb.whereIn(col('model'), q.models);
  if (q.providers) qb.whereIn(col('provider'), q.providers);
  if (q.origins) qb.whereIn(col('origin'), q.origins);
  if (q.profiles) qb.whereIn(col('profile'), q.profiles);
  return qb;
}
