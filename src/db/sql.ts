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

/** Runs a statement and returns its rows. */
export async function rows<T = Record<string, unknown>>(
  db: Knex | Knex.Transaction,
  statement: Sql,
): Promise<T[]> {
  const result = await db.raw(statement.text, statement.values as Knex.RawBinding[]);
  return result.rows as T[];
}
