/** The WHERE clause of a UsageQuery over raw usage logs, shared by log listing, receipts and export. */
import type { Knex } from 'knex';
import type { UsageQuery } from '../domain/types';
import { applyDimensions } from './usageSource';

export function applyUsageQuery<T extends Knex.QueryBuilder>(qb: T, q: UsageQuery, table = 'usage_logs'): T {
  qb.where(`${table}.occurred_at`, '>=', q.start).andWhere(`${table}.occurred_at`, '<', q.end);
  return applyDimensions(qb, q, table);
}
