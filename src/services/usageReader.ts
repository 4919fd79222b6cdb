/**
 * Bulk and offset reads of usage logs: the exports' reads (every matching log, a page at a
 * time, so ten million rows never sit in memory) and the REST compatibility route's
 * limit/offset pages. Like retention, this is storage-specific and kept apart so it can be
 * swapped.
 *
 * Exports read by keyset, one project at a time, oldest first, over the
 * (project_id, occurred_at, id) index: each page is a short indexed query, so no long
 * transaction holds back vacuum, and it works the same on Postgres and embedded PGlite (which
 * has no server-side cursor and hands over each result whole).
 */
import type { Knex } from 'knex';
import type { ProjectRow, UsageLogRow } from '../db/tables';
import { toUsageLog } from '../db/rows';
import { applyUsageQuery } from '../db/usageFilter';
import { microsExpr, type CursorPosition } from '../db/cursor';
import { toInt } from '../db/normalize';
import { EXPORT_PAGE_ROWS, MAX_EXPORT_PAGE_ROWS, MAX_PAGE_SIZE } from '../domain/limits';
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
   * Every matching log, one at a time: project by project (in order of project key), oldest
   * first within a project, read in pages of at most `pageSize` rows. A page is read only when
   * the previous one has been consumed, and each log is made from its row only when asked for,
   * so memory holds one page of rows and the log in hand, however slowly the caller writes.
   */
  async *logs(q: UsageQuery, opts: { pageSize?: number } = {}): AsyncGenerator<ExportedUsageLog> {
    const pageSize = opts.pageSize ?? EXPORT_PAGE_ROWS;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_EXPORT_PAGE_ROWS) {
      throw badInput('pageSize', `must be from 1 to ${MAX_EXPORT_PAGE_ROWS}`);
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
          .limit(pageSize);
        if (after) whereAfter(qb, 'usage_logs.occurred_at', 'usage_logs.id', after);
        const rows = (await qb) as Array<UsageLogRow & { cursor_micros: string }>;
        if (rows.length === 0) break;
        const last = rows[rows.length - 1];
        after = { micros: String(last.cursor_micros), id: last.id };
        const full = rows.length === pageSize;
        // A log is made when it is asked for and its row let go as it is handed over, so a
        // log dies young (in a scavenge) once written, and a caller that works between rows
        // (a Parquet row group written after a page's last row) holds none of the page. Not a
        // spread (`{ ...toUsageLog(row), projectKey }`): V8 builds that object three times
        // the size (1.2 KB against 370 bytes), and a heap profile of the export showed those
        // outliving the young generation (150 MB per 100,000 logs).
        for (let row = rows.shift(); row; row = rows.shift()) {
          yield Object.assign(toUsageLog(row), { projectKey: project.key, projectName: project.name });
        }
        if (!full) break;
      }
    }
  }
}
