/**
 * Bulk and offset reads of usage logs: the CLI's export (every matching log, in batches, so
 * ten million rows never sit in memory) and the REST compatibility route's limit/offset
 * pages. Like retention, this is storage-specific and kept apart so it can be swapped.
 *
 * Export reads by keyset, one project at a time, oldest first, over the
 * (project_id, occurred_at, id) index: each batch is a short indexed query, so no long
 * transaction holds back vacuum, and it works the same on Postgres and embedded PGlite.
 */
import type { Knex } from 'knex';
import type { ProjectRow, UsageLogRow } from '../db/tables';
import { toUsageLog } from '../db/rows';
import { applyUsageQuery } from '../db/usageFilter';
import { microsExpr, type CursorPosition } from '../db/cursor';
import { toInt } from '../db/normalize';
import { MAX_PAGE_SIZE } from '../domain/limits';
import type { UsageLog, UsageQuery } from '../domain/types';
import type { DimensionService } from './dimensions';
import { badInput } from './errors';

export interface ExportedUsageLog extends UsageLog {
  projectKey: string;
  projectName: string;
}

/** Rows strictly after `pos` in (timestamp ASC, id ASC) order: the keyset step of a forward walk. */
export function whereAfter(qb: Knex.QueryBuilder, column: string, idColumn: string, pos: CursorPosition) {
  return qb.whereRaw(`(??, ??) > (timestamptz 'epoch' + ?::bigint * interval '1 microsecond', ?::uuid)`, [
    column,
    idColumn,
    pos.micros,
    pos.id,
  ]);
}

const DEFAULT_BATCH = 5000;

export class UsageLogReader {
  constructor(private readonly deps: { db: Knex; dimensions: DimensionService }) {}

  private check(q: UsageQuery): void {
    this.deps.dimensions.checkFilter(q);
  }

  /** How many logs match (export progress). */
  async count(q: UsageQuery): Promise<number> {
    this.check(q);
    const [{ n }] = await applyUsageQuery(this.deps.db('usage_logs'), q).count({ n: '*' });
    return toInt(n);
  }

  /** Newest first, skipping `offset` logs: the paging of the original server's /api/v1/logs. */
  async page(q: UsageQuery, opts: { limit: number; offset: number }): Promise<UsageLog[]> {
    const { limit, offset } = opts;
    this.check(q);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw badInput('limit', `must be from 1 to ${MAX_PAGE_SIZE}`);
    }
    if (!Number.isInteger(offset) || offset < 0) throw badInput('offset', 'must be a non-negative integer');
    const rows: UsageLogRow[] = await applyUsageQuery(this.deps.db<UsageLogRow>('usage_logs'), q)
      .select('usage_logs.*')
      .orderBy([
        { column: 'usage_logs.occurred_at', order: 'desc' },
        { column: 'usage_logs.id', order: 'desc' },
      ])
      .limit(limit)
      .offset(offset);
    return rows.map(toUsageLog);
  }

  /**
   * Every matching log in batches of at most `batchSize`: project by project (in order of
   * project key), oldest first within a project. Only one batch is in memory at a time.
   */
  async *batches(q: UsageQuery, batchSize = DEFAULT_BATCH): AsyncGenerator<ExportedUsageLog[]> {
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
      throw badInput('batchSize', 'must be from 1 to 100000');
    }
    this.check(q);
    const db = this.deps.db;
    const projectQuery = db<ProjectRow>('projects').select('id', 'key', 'name').orderBy('key');
    if (q.projectIds) projectQuery.whereIn('id', q.projectIds);
    const projects: Array<Pick<ProjectRow, 'id' | 'key' | 'name'>> = await projectQuery;

    for (const project of projects) {
      let after: CursorPosition | null = null;
      for (;;) {
        const qb = applyUsageQuery(db<UsageLogRow>('usage_logs'), { ...q, projectIds: [project.id] })
          .select('usage_logs.*', microsExpr(db, 'usage_logs.occurred_at').wrap('', ' AS cursor_micros'))
          .orderBy([
            { column: 'usage_logs.occurred_at', order: 'asc' },
            { column: 'usage_logs.id', order: 'asc' },
          ])
          .limit(batchSize);
        if (after) whereAfter(qb, 'usage_logs.occurred_at', 'usage_logs.id', after);
        const rows = (await qb) as Array<UsageLogRow & { cursor_micros: string }>;
        if (rows.length === 0) break;
        yield rows.map((r) => ({ ...toUsageLog(r), projectKey: project.key, projectName: project.name }));
        if (rows.length < batchSize) break;
        const last = rows[rows.length - 1];
        after = { micros: String(last.cursor_micros), id: last.id };
      }
    }
  }
}
