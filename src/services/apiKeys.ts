/**
 * API keys: a project's credentials. The secret is shown once at creation; only its
 * lowercase hex SHA-256 and a short prefix are stored, as the legacy table does, so keys
 * issued by the original server keep working.
 *
 * A key has scopes (what it may do: src/domain/access.ts), may expire, and may be rotated:
 * rotation makes a new key of the same name and scopes and sets the old key's expiry to the
 * end of an overlap, during which both work. Expiry is checked on every use against the
 * key's stored expiresAt, cached or not, so a cached lookup never outlives it; a rotation
 * forgets the old key's cached lookup here, and other instances re-read it within the cache
 * TTL (an overlap shorter than the TTL ends on them up to a TTL late, as a revocation does).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { end as durationEnd, parse as parseDuration } from 'iso8601-duration';
import type { ApiKeyRow, ProjectRow } from '../db/tables';
import { toApiKey, toProject } from '../db/rows';
import { DEFAULT_API_KEY_SCOPES, normalizeScopes, type ApiKeyScope } from '../domain/access';
import { isUuid, LATEST_FILTER_DATE } from '../domain/limits';
import type { ApiKey, Project } from '../domain/types';
import { badInput, notFound, unauthenticated } from './errors';
import { checkString } from './validate';

const UNIQUE_VIOLATION = '23505';

const SECRET_PREFIX = 'lrs_';
const PREFIX_LENGTH = 12;
/** Writing last_used_at at most this often per key keeps authentication read-only. */
const LAST_USED_RESOLUTION_MS = 60_000;
const MAX_CACHED_KEYS = 10_000;

export interface Authenticated {
  project: Project;
  apiKey: ApiKey;
}

export interface KeyOptions {
  /** Default: DEFAULT_API_KEY_SCOPES (ingest and read). */
  scopes?: readonly ApiKeyScope[] | null;
  /** When the key stops working; must be in the future. Default: never. */
  expiresAt?: Date | null;
}

export interface RotatedKey {
  apiKey: ApiKey;
  secret: string;
  /** The old key, now expiring at the end of the overlap (or earlier if it already did). */
  previous: ApiKey;
}

/** Most overlap a rotation may give the old key: a year. */
const MAX_OVERLAP_MS = 366 * 24 * 3600 * 1000;

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

  constructor(
    private readonly deps: {
      db: Knex;
      cacheTtlMs?: number;
      /** The clock expiry is judged by (tests set it); default Date.now. */
      now?: () => number;
    },
  ) {}

  private get ttl(): number {
    return this.deps.cacheTtlMs ?? 5_000;
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  async create(
    projectId: string,
    name: string,
    options: KeyOptions = {},
    db: Knex | Knex.Transaction = this.deps.db,
  ): Promise<{ apiKey: ApiKey; secret: string }> {
    checkString('name', name, { max: 255 });
    const scopes = this.checkScopes(options.scopes);
    const expiresAt = this.checkExpiry('expiresAt', options.expiresAt);
    const project = isUuid(projectId)
      ? await db<ProjectRow>('projects').where({ id: projectId }).first()
      : undefined;
    if (!project) throw notFound('project');
    if (project.archived_at) throw badInput('projectId', 'the project is archived; its keys cannot be used');
    return this.insert(db, { projectId, name, scopes, expiresAt, rotatedFrom: null });
  }

  private async insert(
    db: Knex | Knex.Transaction,
    key: {
      projectId: string;
      name: string;
      scopes: ApiKeyScope[];
      expiresAt: Date | null;
      rotatedFrom: string | null;
    },
  ): Promise<{ apiKey: ApiKey; secret: string }> {
    const secret = SECRET_PREFIX + randomBytes(24).toString('base64url');
    const [row] = await db<ApiKeyRow>('api_keys')
      .insert({
        project_id: key.projectId,
        name: key.name,
        key_hash: hashSecret(secret),
        key_prefix: secret.slice(0, PREFIX_LENGTH),
        scopes: key.scopes,
        expires_at: key.expiresAt,
        rotated_from: key.rotatedFrom,
      })
      .returning('*');
    return { apiKey: toApiKey(row), secret };
  }

  private checkScopes(scopes: readonly ApiKeyScope[] | null | undefined): ApiKeyScope[] {
    if (scopes === null || scopes === undefined) return [...DEFAULT_API_KEY_SCOPES];
    const normalized = normalizeScopes(scopes);
    if (normalized.length === 0) {
      throw badInput(
        'scopes',
        'must name at least one scope (INGEST, READ); a key with none could do nothing',
      );
    }
    return normalized;
  }

  private checkExpiry(field: string, expiresAt: Date | null | undefined): Date | null {
    if (expiresAt === null || expiresAt === undefined) return null;
    if (Number.isNaN(expiresAt.getTime())) throw badInput(field, 'is not a valid date-time');
    if (expiresAt.getTime() <= this.now()) throw badInput(field, 'must be in the future');
    if (expiresAt > LATEST_FILTER_DATE) throw badInput(field, 'must be before the year 10000');
    return expiresAt;
  }

  /**
   * A new secret for the key `id`, with the same project, name and scopes (and the expiry of
   * `options.expiresAt`, default never); the old key keeps working until `overlap` (an ISO 8601
   * duration such as PT1H, P7D; PT0S ends it now) has passed, or until its own expiry if sooner.
   * A key is rotated once: rotate its successor next. Revoked or expired keys are not rotated.
   */
  async rotate(
    id: string,
    overlap: string,
    options: Pick<KeyOptions, 'expiresAt'> = {},
    db: Knex | Knex.Transaction = this.deps.db,
  ): Promise<RotatedKey> {
    const now = this.now();
    const overlapEnd = overlapEndOf(overlap, now);
    const expiresAt = this.checkExpiry('expiresAt', options.expiresAt);
    if (!isUuid(id)) throw notFound('API key');
    const rotated = await db
      .transaction(async (trx) => {
        const old = await trx<ApiKeyRow>('api_keys').where({ id }).forUpdate().first();
        if (!old) throw notFound('API key');
        const project = await trx<ProjectRow>('projects').where({ id: old.project_id }).first();
        if (project?.archived_at) throw badInput('id', 'the key belongs to an archived project');
        if (old.revoked_at) throw badInput('id', 'the key is revoked; create a new key instead');
        const oldExpiry = toApiKey(old).expiresAt;
        if (oldExpiry && oldExpiry.getTime() <= now) {
          throw badInput('id', 'the key has expired; create a new key instead');
        }
        const successor = await trx<ApiKeyRow>('api_keys').where({ rotated_from: id }).first('id');
        if (successor) throw alreadyRotated(successor.id);
        const previousEnd = oldExpiry && oldExpiry.getTime() < overlapEnd.getTime() ? oldExpiry : overlapEnd;
        const [previous] = await trx<ApiKeyRow>('api_keys')
          .where({ id })
          .update({ expires_at: previousEnd })
          .returning('*');
        const created = await this.insert(trx, {
          projectId: old.project_id,
          name: old.name,
          scopes: toApiKey(old).scopes,
          expiresAt,
          rotatedFrom: id,
        });
        return { ...created, previous: toApiKey(previous) };
      })
      .catch((err: unknown) => {
        if ((err as { code?: string }).code === UNIQUE_VIOLATION) throw alreadyRotated(null);
        throw err;
      });
    this.forget((entry) => entry.apiKey.id === id);
    return rotated;
  }

  /**
   * Stores a key whose secret the client made itself (a client-made llmring key): as every key,
   * only its hash and prefix. A secret stored before fails on the unique hash (23505).
   */
  async adopt(projectId: string, name: string, secret: string, db: Knex | Knex.Transaction): Promise<void> {
    // Default scopes (the column's default): the client that made the key logs and reads with it.
    await db<ApiKeyRow>('api_keys').insert({
      project_id: projectId,
      name: checkString('name', name, { max: 255 }),
      key_hash: hashSecret(secret),
      key_prefix: secret.slice(0, PREFIX_LENGTH),
    });
  }

  /**
   * The project and key for a secret, or null for an unknown or revoked key or an archived
   * project. An expired key throws UNAUTHENTICATED saying when it expired.
   */
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
    if (found?.apiKey.expiresAt && found.apiKey.expiresAt.getTime() <= this.now()) {
      throw unauthenticated(
        `the API key expired at ${found.apiKey.expiresAt.toISOString()}; ask an admin for a new one`,
      );
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

  /** Inside a caller's transaction, the caller calls forgetKey(id) again after it commits. */
  async revoke(id: string, db: Knex | Knex.Transaction = this.deps.db): Promise<ApiKey> {
    if (!isUuid(id)) throw notFound('API key');
    const [row] = await db<ApiKeyRow>('api_keys')
      .where({ id })
      .update({ revoked_at: db.raw('COALESCE(revoked_at, now())') as unknown as Date })
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

  /** Forget the cached lookup of one key (after a change to it commits). */
  forgetKey(id: string): void {
    this.forget((entry) => entry.apiKey.id === id);
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

/** When an overlap that starts at `now` ends: BAD_USER_INPUT (overlap) for a bad duration. */
function overlapEndOf(overlap: string, now: number): Date {
  let end: Date;
  // The parser reads '-PT1H' as PT1H; an overlap cannot end before it starts.
  if (overlap.trim().startsWith('-')) throw badInput('overlap', 'must not be negative');
  try {
    end = durationEnd(parseDuration(overlap), new Date(now));
  } catch {
    throw badInput('overlap', 'must be an ISO 8601 duration such as PT1H, P1D or PT0S');
  }
  if (Number.isNaN(end.getTime())) {
    throw badInput('overlap', 'must be an ISO 8601 duration such as PT1H, P1D or PT0S');
  }
  if (end.getTime() - now > MAX_OVERLAP_MS) throw badInput('overlap', 'must be at most a year (P1Y)');
  return end;
}

function alreadyRotated(successorId: string | null) {
  return badInput(
    'id',
    `the key was already rotated${successorId ? ` (its successor is ${successorId})` : ''}; rotate the newest key`,
  );
}
