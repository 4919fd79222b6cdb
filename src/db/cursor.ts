/**
 * Opaque keyset cursors over (timestamp DESC, id DESC). The timestamp travels as integer
 * microseconds since the epoch, so rows stored with Postgres' microsecond precision page
 * exactly.
 */
import type { Knex } from 'knex';
import { badInput } from '../services/errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CursorPosition {
  micros: string;
  id: string;
}

export function encodeCursor(pos: CursorPosition): string {
  return Buffer.from(`${pos.micros}:${pos.id}`, 'utf8').toString('base64url');
}

/** 9999-12-31T23:59:59.999999Z in microseconds since the epoch. */
const MAX_MICROS = 253_402_300_799_999_999n;

export function decodeCursor(cursor: string, field = 'after'): CursorPosition {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const match = /^(\d{1,19}):(.+)$/.exec(text);
  // Past MAX_MICROS the timestamp would overflow in SQL: no cursor of this API holds one.
  if (!match || !UUID.test(match[2]) || BigInt(match[1]) > MAX_MICROS) {
    throw badInput(field, 'is not a cursor returned by this API');
  }
  return { micros: match[1], id: match[2] };
}

/** SQL for a timestamp column as integer microseconds (select it to build cursors). */
export function microsExpr(db: Knex, column: string): Knex.Raw {
  return db.raw(`(extract(epoch from ??) * 1000000)::bigint::text`, [column]);
}

/** Rows strictly after the cursor in (timestamp DESC, id DESC) order. */
export function whereBefore(qb: Knex.QueryBuilder, column: string, idColumn: string, pos: CursorPosition) {
  return qb.whereRaw(`(??, ??) < (timestamptz 'epoch' + ?::bigint * interval '1 microsecond', ?::uuid)`, [
    column,
    idColumn,
    pos.micros,
    pos.id,
  ]);
}

export interface Page<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/**
 * One page of `qb`'s rows, newest first by (`table`.`timeColumn`, `table`.id), after the
 * cursor `after`; `first` is checked against `maxFirst` (BAD_USER_INPUT naming 'first').
 */
export async function keysetPage<Row extends { id: string }, T>(
  db: Knex,
  qb: Knex.QueryBuilder,
  opts: {
    table: string;
    timeColumn: string;
    first?: number | null;
    after?: string | null;
    maxFirst: number;
    map: (row: Row) => T;
  },
): Promise<Page<T>> {
  const first = opts.first ?? 50;
  if (!Number.isInteger(first) || first < 0 || first > opts.maxFirst) {
    throw badInput('first', `must be from 0 to ${opts.maxFirst}`);
  }
  const time = `${opts.table}.${opts.timeColumn}`;
  const id = `${opts.table}.id`;
  qb.select(`${opts.table}.*`, microsExpr(db, time).wrap('', ' AS cursor_micros'))
    .orderBy([
      { column: time, order: 'desc' },
      { column: id, order: 'desc' },
    ])
    .limit(first + 1);
  if (opts.after) whereBefore(qb, time, id, decodeCursor(opts.after));
  const rows = (await qb) as Array<Row & { cursor_micros: string }>;
  const edges = rows.slice(0, first).map((r) => ({
    cursor: encodeCursor({ micros: String(r.cursor_micros), id: r.id }),
    node: opts.map(r),
  }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > first,
      endCursor: edges.length ? edges[edges.length - 1].cursor : null,
    },
  };
}
