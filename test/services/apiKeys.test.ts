/** ApiKeyService on a real database (PGlite, or Postgres with TEST_DATABASE_URL). */
import { createHash } from 'node:crypto';
import type { ApiKeyRow } from '../../src/db/tables';
import { ApiKeyService } from '../../src/services/apiKeys';
import { ProjectService } from '../../src/services/projects';
import {
  createServiceHarness,
  expectServiceError,
  seedProject,
  type ServiceHarness,
} from '../helpers/fixtures';

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MISSING_ID = '00000000-0000-4000-8000-000000000000';

/** Polls until `read` returns a non-null value (the last-used write happens off the request path). */
async function eventually<T>(read: () => Promise<T | null>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting for a value');
    await sleep(10);
  }
}

let h: ServiceHarness;

beforeAll(async () => {
  h = await createServiceHarness();
});

afterAll(async () => {
  await h?.close();
});

const keyRow = (id: string) => h.db<ApiKeyRow>('api_keys').where({ id }).first();

describe('ApiKeyService.create', () => {
  it('returns the secret once and stores only its lowercase hex SHA-256 and a prefix', async () => {
    const { project } = await seedProject(h.services);
    const { apiKey, secret } = await h.services.apiKeys.create(project.id, 'ci');
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(apiKey).toMatchObject({ projectId: project.id, name: 'ci', lastUsedAt: null, revokedAt: null });
    expect(secret.startsWith(apiKey.prefix)).toBe(true);
    expect(apiKey.prefix.length).toBeLessThanOrEqual(16);
    expect(apiKey.prefix.length).toBeLessThan(secret.length);
    // The key object carries no secret, so nothing that serialises it can leak it.
    expect(JSON.stringify(apiKey)).not.toContain(secret);

    const row = await keyRow(apiKey.id);
    expect(row).toBeDefined();
    expect(row!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.key_hash).toBe(sha256Hex(secret));
    expect(row!.key_prefix).toBe(apiKey.prefix);
    // The secret is in no column of the row, in any form a reader could use.
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(secret.slice(apiKey.prefix.length));
    expect(stored).not.toContain(Buffer.from(secret).toString('base64'));

    // Reading the key back never gives the secret either.
    expect(JSON.stringify(await h.services.apiKeys.getById(apiKey.id))).not.toContain(secret);
    expect(JSON.stringify(await h.services.apiKeys.listByProject(project.id))).not.toContain(secret);
  });

  it('makes a different secret each time', async () => {
    const { project } = await seedProject(h.services);
    const secrets = new Set<string>();
    for (let i = 0; i < 5; i++) secrets.add((await h.services.apiKeys.create(project.id, `k${i}`)).secret);
    expect(secrets.size).toBe(5);
  });

  it('validates the name', async () => {
    const { project } = await seedProject(h.services);
    await expectServiceError(h.services.apiKeys.create(project.id, ''), 'BAD_USER_INPUT', 'name');
    await expectServiceError(
      h.services.apiKeys.create(project.id, 'k'.repeat(256)),
      'BAD_USER_INPUT',
      'name',
    );
    await expectServiceError(h.services.apiKeys.create(project.id, 'a\u0000'), 'BAD_USER_INPUT', 'name');
    expect(await h.services.apiKeys.listByProject(project.id)).toHaveLength(1); // the seeded key only
  });

  it('fails with NOT_FOUND for an unknown project and BAD_USER_INPUT for an archived one', async () => {
    await expectServiceError(h.services.apiKeys.create(MISSING_ID, 'x'), 'NOT_FOUND');
    const { project } = await seedProject(h.services);
    await h.services.projects.archive(project.id);
    await expectServiceError(h.services.apiKeys.create(project.id, 'x'), 'BAD_USER_INPUT', 'projectId');
  });
});

describe('ApiKeyService.authenticate', () => {
  it('gives the project and key for a secret', async () => {
    const seeded = await seedProject(h.services);
    const found = await h.services.apiKeys.authenticate(seeded.secret);
    expect(found).not.toBeNull();
    expect(found!.project).toEqual(seeded.project);
    expect(found!.apiKey).toMatchObject({ id: seeded.apiKey.id, projectId: seeded.project.id });
  });

  it('gives null for unknown, empty, altered and oversized secrets', async () => {
    const { secret } = await seedProject(h.services);
    expect(await h.services.apiKeys.authenticate('lrs_not-a-key')).toBeNull();
    expect(await h.services.apiKeys.authenticate('')).toBeNull();
    expect(await h.services.apiKeys.authenticate(secret + 'x')).toBeNull();
    expect(await h.services.apiKeys.authenticate(secret.slice(0, -1))).toBeNull();
    expect(await h.services.apiKeys.authenticate(secret.toUpperCase())).toBeNull();
    expect(await h.services.apiKeys.authenticate(sha256Hex(secret))).toBeNull(); // the stored hash is no credential
    expect(await h.services.apiKeys.authenticate('x'.repeat(10_000))).toBeNull();
  });

  it('authenticates a legacy key stored by the original server (lowercase hex SHA-256, no lrs_ prefix)', async () => {
    const { project } = await seedProject(h.services);
    const legacySecret = 'llmr_legacy_5f1d9c0a7b3e4d2f8a6c1b9e0d7f3a2c';
    const [row] = await h
      .db<ApiKeyRow>('api_keys')
      .insert({
        project_id: project.id,
        name: 'legacy',
        key_hash: sha256Hex(legacySecret),
        key_prefix: legacySecret.slice(0, 8),
      })
      .returning('*');
    const found = await h.services.apiKeys.authenticate(legacySecret);
    expect(found?.project.id).toBe(project.id);
    expect(found?.apiKey).toMatchObject({ id: row.id, name: 'legacy', prefix: 'llmr_leg' });
  });

  it('gives null for a revoked key immediately on this instance, even when the key was just cached', async () => {
    const seeded = await seedProject(h.services);
    expect(await h.services.apiKeys.authenticate(seeded.secret)).not.toBeNull(); // now cached
    const revoked = await h.services.apiKeys.revoke(seeded.apiKey.id);
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(await h.services.apiKeys.authenticate(seeded.secret)).toBeNull();
  });

  it('gives null for a key revoked by another instance once that lookup is not cached', async () => {
    const seeded = await seedProject(h.services);
    const uncached = new ApiKeyService({ db: h.db, cacheTtlMs: 0 });
    const caching = new ApiKeyService({ db: h.db, cacheTtlMs: 60_000 });
    expect(await uncached.authenticate(seeded.secret)).not.toBeNull();
    expect(await caching.authenticate(seeded.secret)).not.toBeNull();
    await h.services.apiKeys.revoke(seeded.apiKey.id);
    expect(await uncached.authenticate(seeded.secret)).toBeNull();
    // Another instance may serve its cached lookup until the TTL; forgetting it takes effect at once.
    caching.clearCache();
    expect(await caching.authenticate(seeded.secret)).toBeNull();
  });

  it('gives null for a key of an archived project', async () => {
    const seeded = await seedProject(h.services);
    const other = await seedProject(h.services);
    expect(await h.services.apiKeys.authenticate(seeded.secret)).not.toBeNull();
    await h.services.projects.archive(seeded.project.id);
    expect(await new ApiKeyService({ db: h.db, cacheTtlMs: 0 }).authenticate(seeded.secret)).toBeNull();
    h.services.apiKeys.clearCache();
    expect(await h.services.apiKeys.authenticate(seeded.secret)).toBeNull();
    // Only that project's keys stop working.
    expect((await h.services.apiKeys.authenticate(other.secret))?.project.id).toBe(other.project.id);
    // The key itself is not revoked: the project's data and keys are kept.
    expect((await h.services.apiKeys.getById(seeded.apiKey.id))!.revokedAt).toBeNull();
  });

  it('gives null at once on this instance after the project service archives the project', async () => {
    // The project service tells the key service which project it archived.
    const keys = new ApiKeyService({ db: h.db, cacheTtlMs: 60_000 });
    const projects = new ProjectService({ db: h.db, apiKeys: keys });
    const seeded = await seedProject(h.services);
    const other = await seedProject(h.services);
    expect(await keys.authenticate(seeded.secret)).not.toBeNull(); // cached for a minute
    expect(await keys.authenticate(other.secret)).not.toBeNull();
    await projects.archive(seeded.project.id);
    expect(await keys.authenticate(seeded.secret)).toBeNull();
    expect((await keys.authenticate(other.secret))?.project.id).toBe(other.project.id);
  });

  it('never caches a lookup that a revocation overtook: the revoked key does not come back', async () => {
    const keys = new ApiKeyService({ db: h.db, cacheTtlMs: 60_000 });
    const seeded = await seedProject(h.services);
    // Hold the lookup's answer (read before the revocation) until the revocation is done.
    const internals = keys as unknown as { lookup: (hash: string) => Promise<unknown> };
    const lookup = internals.lookup.bind(keys);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    internals.lookup = async (hash) => {
      const found = await lookup(hash);
      await held;
      return found;
    };
    const first = keys.authenticate(seeded.secret);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the lookup has read the key by now
    await keys.revoke(seeded.apiKey.id);
    release();
    expect(await first).not.toBeNull(); // it started before the revocation
    internals.lookup = lookup;
    expect(await keys.authenticate(seeded.secret)).toBeNull(); // and was not cached
  });

  it('sets last_used_at on use, but does not write it on every call', async () => {
    const seeded = await seedProject(h.services);
    const keys = new ApiKeyService({ db: h.db, cacheTtlMs: 0 }); // every call reads the database
    expect((await keyRow(seeded.apiKey.id))!.last_used_at).toBeNull();

    const before = Date.now();
    expect(await keys.authenticate(seeded.secret)).not.toBeNull();
    const firstUse = await eventually(async () => (await keyRow(seeded.apiKey.id))!.last_used_at);
    expect(firstUse.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(firstUse.getTime()).toBeLessThanOrEqual(Date.now());

    for (let i = 0; i < 20; i++) expect(await keys.authenticate(seeded.secret)).not.toBeNull();
    await sleep(100); // give any stray write time to land
    const row = await keyRow(seeded.apiKey.id);
    expect(row!.last_used_at!.getTime()).toBe(firstUse.getTime());
    expect((await keys.authenticate(seeded.secret))!.apiKey.lastUsedAt!.getTime()).toBe(firstUse.getTime());
  });

  it('does not write last_used_at for unknown or revoked keys', async () => {
    const seeded = await seedProject(h.services);
    await h.services.apiKeys.revoke(seeded.apiKey.id);
    expect(await h.services.apiKeys.authenticate(seeded.secret)).toBeNull();
    await sleep(50);
    expect((await keyRow(seeded.apiKey.id))!.last_used_at).toBeNull();
  });
});

describe('ApiKeyService.revoke, getById and listing', () => {
  it('keeps the first revokedAt when revoked twice', async () => {
    const seeded = await seedProject(h.services);
    const first = await h.services.apiKeys.revoke(seeded.apiKey.id);
    await sleep(20);
    const second = await h.services.apiKeys.revoke(seeded.apiKey.id);
    expect(second.revokedAt!.getTime()).toBe(first.revokedAt!.getTime());
    expect((await h.services.apiKeys.getById(seeded.apiKey.id))!.revokedAt!.getTime()).toBe(
      first.revokedAt!.getTime(),
    );
  });

  it('fails with NOT_FOUND for an unknown key', async () => {
    await expectServiceError(h.services.apiKeys.revoke(MISSING_ID), 'NOT_FOUND');
    expect(await h.services.apiKeys.getById(MISSING_ID)).toBeNull();
  });

  it('revoking one key leaves the project and its other keys working', async () => {
    const seeded = await seedProject(h.services);
    const second = await h.services.apiKeys.create(seeded.project.id, 'second');
    await h.services.apiKeys.revoke(seeded.apiKey.id);
    expect((await h.services.apiKeys.authenticate(second.secret))?.apiKey.id).toBe(second.apiKey.id);
  });

  it('lists each project its own keys, oldest first, revoked ones included', async () => {
    const a = await seedProject(h.services);
    const b = await seedProject(h.services);
    const empty = await h.services.projects.create({ key: 'no-keys', name: 'No keys' });
    await sleep(5);
    const a2 = (await h.services.apiKeys.create(a.project.id, 'a2')).apiKey;
    await h.services.apiKeys.revoke(a.apiKey.id);
    const lists = await h.services.apiKeys.listByProjects([b.project.id, empty.id, a.project.id]);
    expect(lists.map((l) => l.map((k) => k.id))).toEqual([[b.apiKey.id], [], [a.apiKey.id, a2.id]]);
    expect(lists[2][0].revokedAt).not.toBeNull();
    expect(await h.services.apiKeys.listByProject(empty.id)).toEqual([]);
  });

  it('treats an id that is not a UUID as unknown', async () => {
    const seeded = await seedProject(h.services);
    for (const id of ['not-a-uuid', '', "x' OR 'x'='x"]) {
      expect(await h.services.apiKeys.getById(id)).toBeNull();
      await expectServiceError(h.services.apiKeys.revoke(id), 'NOT_FOUND');
      await expectServiceError(h.services.apiKeys.create(id, 'k'), 'NOT_FOUND');
    }
    expect(await h.services.apiKeys.listByProjects(['not-a-uuid', seeded.project.id])).toEqual([
      [],
      [expect.objectContaining({ id: seeded.apiKey.id })],
    ]);
  });
});
