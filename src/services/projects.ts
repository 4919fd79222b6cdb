/** Projects: usage contexts and cost-allocation units that hold API keys (never aliases). */
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { ProjectRow } from '../db/tables';
import { toProject } from '../db/rows';
import type { Project } from '../domain/types';
import { PROJECT_KEY_PATTERN } from '../domain/slug';
import { toInt } from '../db/normalize';
import { isUuid } from '../domain/limits';
import type { ApiKeyService, Authenticated } from './apiKeys';
import { badInput, notFound } from './errors';
import { checkOptionalString, checkString } from './validate';

export interface CreateProjectInput {
  key: string;
  name: string;
  description?: string | null;
}

export interface UpdateProjectInput {
  name?: string | null;
  description?: string | null;
}

const UNIQUE_VIOLATION = '23505';

/** 8 characters of a lowercase base32 alphabet (40 random bits): a project key's suffix. */
function randomSuffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return [...randomBytes(8)].map((b) => alphabet[b & 31]).join('');
}
/** pg advisory lock id: one instance creates the first project. */
const FIRST_PROJECT_LOCK = 7_345_021;

export class ProjectService {
  constructor(private readonly deps: { db: Knex; apiKeys: ApiKeyService }) {}

  /**
   * On a database with no project: creates 'default' with one API key, once across instances,
   * and returns the key's secret (to be shown once). Undefined when a project exists.
   */
  async ensureFirstProject(): Promise<{ projectKey: string; secret: string } | undefined> {
    return this.deps.db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [FIRST_PROJECT_LOCK]);
      const [{ n }] = await trx('projects').count({ n: '*' });
      if (toInt(n) > 0) return undefined;
      const project = await this.create(
        { key: 'default', name: 'Default', description: 'Created on first start' },
        trx,
      );
      const { secret } = await this.deps.apiKeys.create(project.id, 'first key', {}, trx);
      return { projectKey: project.key, secret };
    });
  }

  /**
   * A client-made key (LLMRING_ACCEPT_CLIENT_KEYS) on its first use: a new project, named after
   * the key's prefix (never more of the secret), that the key reads and logs to, like any
   * project's key; the admin may rename, archive or revoke it later. A key the server has
   * stored before is never adopted again: its hash is unique, so the insert fails and the
   * stored key decides (null when revoked or archived, as for any key); that way two first uses
   * at once also create one project, and the second reads the first's.
   */
  async adoptClientKey(secret: string): Promise<Authenticated | null> {
    try {
      await this.deps.db.transaction(async (trx) => {
        const project = await this.create(
          {
            key: `client-${randomSuffix()}`,
            name: `Client key ${secret.slice(0, 12)}…`,
            description:
              'Created on the first use of a key made by the llmring client (LLMRING_ACCEPT_CLIENT_KEYS)',
          },
          trx,
        );
        await this.deps.apiKeys.adopt(project.id, 'made by the llmring client', secret, trx);
      });
    } catch (err) {
      if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
    }
    return this.deps.apiKeys.authenticate(secret);
  }

  async create(input: CreateProjectInput, db: Knex | Knex.Transaction = this.deps.db): Promise<Project> {
    const key = input.key;
    if (!PROJECT_KEY_PATTERN.test(key)) {
      throw badInput(
        'key',
        'must be 1-64 lowercase letters, digits or dashes, starting and ending with a letter or digit',
      );
    }
    const row = {
      key,
      name: checkString('name', input.name, { max: 255 }),
      description: checkOptionalString('description', input.description, { max: 10_000, allowEmpty: true }),
    };
    try {
      const [created] = await db<ProjectRow>('projects').insert(row).returning('*');
      return toProject(created);
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) {
        throw badInput('key', `a project with key '${key}' already exists`);
      }
      throw err;
    }
  }

  async update(
    id: string,
    input: UpdateProjectInput,
    db: Knex | Knex.Transaction = this.deps.db,
  ): Promise<Project> {
    if (!isUuid(id)) throw notFound('project');
    const changes: Partial<ProjectRow> = {};
    if (input.name !== undefined && input.name !== null)
      changes.name = checkString('name', input.name, { max: 255 });
    if (input.description !== undefined) {
      changes.description = checkOptionalString('description', input.description, {
        max: 10_000,
        allowEmpty: true,
      });
    }
    if (Object.keys(changes).length === 0) {
      const current = await db<ProjectRow>('projects').where({ id }).first();
      if (!current) throw notFound('project');
      return toProject(current);
    }
    const [row] = await db<ProjectRow>('projects').where({ id }).update(changes).returning('*');
    if (!row) throw notFound('project');
    return toProject(row);
  }

  /**
   * Archived projects keep their data; their keys stop working. Archiving twice keeps the first
   * time. Inside a caller's transaction, the caller forgets the keys' cached lookups again after
   * it commits (AdminService does).
   */
  async archive(id: string, db: Knex | Knex.Transaction = this.deps.db): Promise<Project> {
    if (!isUuid(id)) throw notFound('project');
    const [row] = await db<ProjectRow>('projects')
      .where({ id })
      .update({ archived_at: db.raw('COALESCE(archived_at, now())') as unknown as Date })
      .returning('*');
    if (!row) throw notFound('project');
    // Its keys stop working at once on this instance (within the lookup cache's TTL elsewhere).
    this.deps.apiKeys.forgetProject(row.id);
    return toProject(row);
  }

  async list(opts: { includeArchived?: boolean } = {}): Promise<Project[]> {
    const q = this.deps
      .db<ProjectRow>('projects')
      .select('*')
      .orderBy([{ column: 'created_at' }, { column: 'id' }]);
    if (!opts.includeArchived) q.whereNull('archived_at');
    return (await q).map(toProject);
  }

  async getById(id: string): Promise<Project | null> {
    if (!isUuid(id)) return null;
    const row = await this.deps.db<ProjectRow>('projects').where({ id }).first();
    return row ? toProject(row) : null;
  }

  async getByKey(key: string): Promise<Project | null> {
    const row = await this.deps.db<ProjectRow>('projects').where({ key }).first();
    return row ? toProject(row) : null;
  }

  /** For DataLoader: one query, results in the order of `ids` (null where missing). */
  async getByIds(ids: readonly string[]): Promise<Array<Project | null>> {
    const rows = await this.deps.db<ProjectRow>('projects').whereIn('id', ids.filter(isUuid));
    const byId = new Map(rows.map((r) => [r.id, toProject(r)]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  async require(id: string): Promise<Project> {
    const project = await this.getById(id);
    if (!project) throw notFound('project');
    return project;
  }

  async count(): Promise<number> {
    const [{ n }] = await this.deps.db('projects').count({ n: '*' });
    return toInt(n);
  }
}
