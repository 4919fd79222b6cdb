/**
 * API keys: a project's credentials. The secret is shown once at creation; only its
 * lowercase hex SHA-256 and a short prefix are stored, as the legacy table does, so keys
 * issued by the original server keep working.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { ApiKeyRow, ProjectRow } from '../db/tables';
import { toApiKey, toProject } from '../db/rows';
import { isUuid } from '../domain/limits';
import type { ApiKey, Project } from '../domain/types';
import { badInput, notFound } from './errors';
import { checkString } from './validate';

const SECRET_PREFIX = 'lrs_';
const PREFIX_LENGTH = 12;
/** Writing last_used_at at most this often per key keeps authentication read-only. */
const LAST_USED_RESOLUTION_MS = 60_000;
const MAX_CACHED_KEYS = 10_000;

export interface Authenticated {
  project: Project;
  apiKey: ApiKey;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export class ApiKeyService {
  /** Successful lookups by hash, for `cacheTtlMs`: a revoked key stops working within that time everywhere. */
  private readonly cache = new Map<string, { value: Authenticated; expires: number }>();
  private readonly lastUsedWritten = new Map<string, number>();
  /**
   * Bumped by every revocation, archiving and forget on this instance. A lookup that started
   * before a bump may have read the key as it was before it, so it is not cached: a cache fill
   * never brings back a key revoked meanwhile.
   */
  private generation = 0;

  constructor(private readonly deps: { db: Knex; cacheTtlMs?: number }) {}

  private get ttl(): number {
    return this.deps.cacheTtlMs ?? 5_000;
  }

  async create(
    projectId: string,
    name: string,
    db: Knex | Knex.Transaction = this.deps.db,
  ): Promise<{ apiKey: ApiKey; secret: string }> {
    checkString('name', name, { max: 255 });
    const project = isUuid(projectId)
      ? await db<ProjectRow>('projects').where({ id: projectId }).first()
      : undefined;
    if (!project) throw notFound('project');
    if (project.archived_at) throw badInput('projectId', 'the project is archived; its keys cannot be used');
    const secret = SECRET_PREFIX + randomBytes(24).toString('base64url');
    const [row] = await db<ApiKeyRow>('api_keys')
      .insert({
        project_id: projectId,
        name,
        key_hash: hashSecret(secret),
        key_prefix: secret.slice(0, PREFIX_LENGTH),
      })
      .returning('*');
    return { apiKey: toApiKey(row), secret };
  }

  /**
   * Stores a key whose secret the client made itself (a client-made llmring key): as every key,
   * only its hash and prefix. A secret stored before fails on the unique hash (23505).
   */
  async adopt(projectId: string, name: string, secret: string, db: Knex | Knex.Transaction): Promise<void> {
    await db<ApiKeyRow>('api_keys').insert({
      project_id: projectId,
      name: checkString('name', name, { max: 255 }),
      key_hash: hashSecret(secret),
      key_prefix: secret.slice(0, PREFIX_LENGTH),
    });
  }

  /** The project and key for a secret, or null for an unknown or revoked key or an archived project. */
  async authenticate(secret: string): Promise<Authenticated | null> {
    if (!secret || secret.length > 512) return null;
    const hash = hashSecret(secret);
    const now = Date.now();
    const cached = this.cache.get(hash);
    let found: Authenticated | null;
    if (cached && cached.expires > now) {
      found = cached.value;
    } else {
      const generation = this.generation;
      found = await this.lookup(hash);
      if (generation === this.generation) {
        if (this.cache.size >= MAX_CACHED_KEYS) this.cache.clear();
        if (found) this.cache.set(hash, { value: found, expires: now + this.ttl });
        else this.cache.delete(hash);
      }
    }
    if (found) this.touch(found.apiKey.id, now);
    return found;
  }

  private async lookup(hash: string): Promise<Authenticated | null> {
    const row = await this.deps
      .db('api_keys as k')
      .join('projects as p', 'p.id', 'k.project_id')
      .where('k.key_hash', hash)
      .whereNull('k.revoked_at')
      .whereNull('p.archived_at')
      .first(
        'k.*',
        'p.key as p_key',
        'p.name as p_name',
        'p.description as p_description',
        'p.created_at as p_created_at',
        'p.archived_at as p_archived_at',
      );
    if (!row) return null;
    return {
      apiKey: toApiKey(row as ApiKeyRow),
      project: toProject({
        id: row.project_id,
        key: row.p_key,
        name: row.p_name,
        description: row.p_description,
        created_at: row.p_created_at,
        archived_at: row.p_archived_at,
      }),
    };
  }

  /** Records use at most once a minute per key, off the request path. */
  private touch(apiKeyId: string, now: number): void {
    const last = this.lastUsedWritten.get(apiKeyId) ?? 0;
    if (now - last < LAST_USED_RESOLUTION_MS) return;
    this.lastUsedWritten.set(apiKeyId, now);
    this.deps
      .db('api_keys')
      .where({ id: apiKeyId })
      .update({ last_used_at: new Date(now) })
      .catch(() => this.lastUsedWritten.delete(apiKeyId));
  }

  async revoke(id: string): Promise<ApiKey> {
    if (!isUuid(id)) throw notFound('API key');
    const [row] = await this.deps
      .db<ApiKeyRow>('api_keys')
      .where({ id })
      .update({ revoked_at: this.deps.db.raw('COALESCE(revoked_at, now())') as unknown as Date })
      .returning('*');
    if (!row) throw notFound('API key');
    this.forget((entry) => entry.apiKey.id === id);
    return toApiKey(row);
  }

  async getById(id: string): Promise<ApiKey | null> {
    if (!isUuid(id)) return null;
    const row = await this.deps.db<ApiKeyRow>('api_keys').where({ id }).first();
    return row ? toApiKey(row) : null;
  }

  async listByProject(projectId: string): Promise<ApiKey[]> {
    return (await this.listByProjects([projectId]))[0];
  }

  /** For DataLoader: every project's keys in one query, oldest first. */
  async listByProjects(projectIds: readonly string[]): Promise<ApiKey[][]> {
    const rows = await this.deps
      .db<ApiKeyRow>('api_keys')
      .whereIn('project_id', projectIds.filter(isUuid))
      .orderBy([{ column: 'created_at' }, { column: 'id' }]);
    const byProject = new Map<string, ApiKey[]>(projectIds.map((id) => [id, []]));
    for (const row of rows) byProject.get(row.project_id)?.push(toApiKey(row));
    return projectIds.map((id) => byProject.get(id) ?? []);
  }

  /** Forget the cached lookups of one project's keys (after archiving it: they stop working at once). */
  forgetProject(projectId: string): void {
    this.forget((entry) => entry.project.id === projectId);
  }

  /** Forget cached lookups (tests, and after revoking through another path such as the CLI). */
  clearCache(): void {
    this.forget(() => true);
  }

  private forget(matches: (entry: Authenticated) => boolean): void {
    this.generation++;
    for (const [hash, entry] of this.cache) if (matches(entry.value)) this.cache.delete(hash);
  }
}
