/**
 * SQL text with its bound values, for statements too shaped for Knex's query builder (the
 * statistics statement): fragments compose, values always travel as parameters.
 *
 *   sql`SELECT * FROM usage_logs WHERE project_id = ${id} AND ${raw('1 = 1')}`
 *
 * An interpolated Sql fragment is inlined with its own values; anything else is bound as a
 * parameter (`?` for knex.raw). Identifiers and keywords only ever come from `raw`, which is
 * for constant text of this codebase, never for client input.
 */
import type { Knex } from 'knex';

export class Sql {
  constructor(
    readonly text: string,
    readonly values: readonly unknown[],
  ) {
    if (text.includes('??')) throw new Error('Sql text must not contain ?? (knex identifier placeholder)');
  }
}

export function sql(strings: TemplateStringsArray, ...parts: unknown[]): Sql {
  let text = strings[0];
  const values: unknown[] = [];
  parts.forEach((part, i) => {
    if (part instanceof Sql) {
      text += part.text;
      values.push(...part.values);
    } else {
      text += '?';
      values.push(part);
    }
    text += strings[i + 1];
  });
  return new Sql(text, values);
}

/** Constant SQL text (never client input). */
export function raw(text: string): Sql {
  if (text.includes('?')) throw new Error(`raw SQL must not contain '?': ${text.slice(0, 60)}`);
  return new Sql(text, []);
}

export function join(parts: readonly Sql[], separator: string): Sql {
  return new Sql(
    parts.map((p) => p.text).join(separator),
    parts.flatMap((p) => p.values),
  );
}

/**
 * Runs `work` in a transaction (a savepoint inside one) whose statements are never JIT-compiled.
 * For the statements planned with bounds unknown until they run (a watermark, a snapshot's
 * xmax): the planner prices their parts as a share of the table, so on a large table their
 * cost passes jit_above_cost and Postgres spends a second compiling a statement that reads a
 * few thousand rows in milliseconds (1.45 s of 1.55 s for usageStats over 10M logs, and 0.85 s
 * of every idle rollup round). Only this transaction is affected; PGlite has no JIT and
 * accepts the setting.
 */
export function withoutJit<T>(
  db: Knex | Knex.Transaction,
  work: (trx: Knex.Transaction) => Promise<T>,
): Promise<T> {
  return db.transaction(async (trx) => {
    await trx.raw('SET LOCAL jit = off');
    return work(trx);
  });
}

/** Runs a statement and returns its rows. */
export async function rows<T = Record<string, unknown>>(
  db: Knex | Knex.Transaction,
  statement: Sql,
): Promise<T[]> {
  const result = await db.raw(statement.text, statement.values as Knex.RawBinding[]);
  return result.rows as T[];
}

/**
 * A Postgres array literal of `values`, to bind as one parameter cast to an array type
 * (`?::uuid[]`, `?::bigint[]`): both drivers take it as text, where a JavaScript array would
 * need each driver's own array support. Every element is quoted, so commas, braces, quotes
 * and backslashes in a value stay inside it; null is the element NULL.
 */
export function arrayLiteral(values: ReadonlyArray<string | number | Date | null>): string {
  const elements = values.map((v) => {
    if (v === null) return 'NULL';
    const text = v instanceof Date ? v.toISOString() : String(v);
    return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  });
  return `{${elements.join(',')}}`;
}
