/**
 * Where migrations live and how Knex finds them. Names are recorded without their
 * extension, so the TypeScript sources (tsx, the knex CLI) and compiled JavaScript
 * (dist/) share one migration history.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';

const directory = path.resolve(__dirname, '..', '..', 'migrations');
const extension = path.extname(__filename); // '.ts' from source, '.js' from dist

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  config?: Knex.MigratorConfig;
}

class MigrationSource implements Knex.MigrationSource<string> {
  async getMigrations(): Promise<string[]> {
    return fs
      .readdirSync(directory)
      .filter((f) => f.endsWith(extension) && !f.endsWith('.d.ts'))
      .map((f) => f.slice(0, -extension.length))
      .sort();
  }
  getMigrationName(migration: string): string {
    return migration;
  }
  async getMigration(migration: string): Promise<Knex.Migration> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(path.join(directory, migration + extension)) as MigrationModule;
  }
}

export const migrationConfig: Knex.MigratorConfig = {
  migrationSource: new MigrationSource(),
  tableName: 'knex_migrations',
};

export interface MigrationStatus {
  applied: string[];
  pending: string[];
}

export async function migrationStatus(db: Knex): Promise<MigrationStatus> {
  const [applied, pending] = (await db.migrate.list(migrationConfig)) as [Array<{ name: string }>, string[]];
  return { applied: applied.map((m) => m.name), pending };
}
