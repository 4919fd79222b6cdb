/**
 * Key scopes, expiry and rotation in ApiKeyService and AuthService, on a real database, with
 * a clock the test moves: the second before and the second after an expiry or an overlap's end,
 * on a cached lookup and on a fresh one.
 */
import { ApiKeyService } from '../../src/services/apiKeys';
import { AuthService } from '../../src/services/auth';
import { ServiceError } from '../../src/services/errors';
import {
  createServiceHarness,
  expectServiceError,
  seedProject,
  type ServiceHarness,
} from '../helpers/fixtures';

let h: ServiceHarness;
let clock: number;
/** Cache long enough that every lookup after the first is a cached one, unless forgotten. */
let cached: ApiKeyService;
/** No cache: every lookup reads the database. */
let uncached: ApiKeyService;

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

beforeAll(async () => {
  h = await createServiceHarness();
  cached = new ApiKeyService({ db: h.db, cacheTtlMs: 3_600_000, now: () => clock });
  uncached = new ApiKeyService({ db: h.db, cacheTtlMs: 0, now: () => clock });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  clock = T0;
});

/** 'ok', 'unknown', or the UNAUTHENTICATED message of an expired key. */
async function use(keys: ApiKeyService, secret: string): Promise<string> {
  try {
    return (await keys.authenticate(secret)) ? 'ok' : 'unknown';
  } catch (err) {
    if (err instanceof ServiceError && err.code === 'UNAUTHENTICATED') return err.message;
    throw err;
  }
}

describe('expiry', () => {
  it('works until the second before expiresAt and is refused, saying it expired, from expiresAt on', async () => {
    const { project } = await seedProject(h.services);
    const expiresAt = new Date(T0 + 3_600_000);
    const { secret, apiKey } = await cached.create(project.id, 'short-lived', { expiresAt });
    expect(apiKey.expiresAt).toEqual(expiresAt);
    for (const keys of [cached, uncached]) {
      clock = expiresAt.getTime() - 1_000;
      expect(await use(keys, secret)).toBe('ok');
      clock = expiresAt.getTime();
      const refused = await use(keys, secret);
      expect(refused).toBe(`the API key expired at ${expiresAt.toISOString()}; ask an admin for a new one`);
      expect(refused).not.toContain(secret);
      expect(refused).not.toContain(apiKey.prefix);
      clock = expiresAt.getTime() + 1_000;
      expect(await use(keys, secret)).toMatch(/^the API key expired at/);
    }
  });

  it('reaches callers through AuthService as UNAUTHENTICATED', async () => {
    const { project } = await seedProject(h.services);
    const { secret } = await uncached.create(project.id, 'k', { expiresAt: new Date(T0 + 1_000) });
    const auth = new AuthService({ apiKeys: uncached });
    await expect(auth.authenticate({ 'x-api-key': secret })).resolves.toMatchObject({ kind: 'project' });
    clock = T0 + 1_000;
    await expectServiceError(auth.authenticate({ 'x-api-key': secret }), 'UNAUTHENTICATED');
  });

  it('refuses an expiry that is not in the future, naming expiresAt', async () => {
    const { project } = await seedProject(h.services);
    await expectServiceError(
      cached.create(project.id, 'k', { expiresAt: new Date(T0) }),
      'BAD_USER_INPUT',
      'expiresAt',
    );
    await expectServiceError(
      cached.create(project.id, 'k', { expiresAt: new Date(Number.NaN) }),
      'BAD_USER_INPUT',
      'expiresAt',
    );
  });
});

describe('scopes', () => {
  it('defaults to INGEST and READ, keeps what is asked for without repeats, and refuses none', async () => {
    const { project } = await seedProject(h.services);
    expect((await cached.create(project.id, 'both')).apiKey.scopes).toEqual(['ingest', 'read']);
    expect((await cached.create(project.id, 'r', { scopes: ['read', 'read'] })).apiKey.scopes).toEqual([
      'read',
    ]);
    const ingest = await cached.create(project.id, 'i', { scopes: ['ingest'] });
    expect((await cached.authenticate(ingest.secret))?.apiKey.scopes).toEqual(['ingest']);
    await expectServiceError(cached.create(project.id, 'none', { scopes: [] }), 'BAD_USER_INPUT', 'scopes');
  });

  it('refuses an unknown scope at the database too', async () => {
    const { project } = await seedProject(h.services);
    await expect(
      h.db('api_keys').insert({
        project_id: project.id,
        name: 'x',
        key_hash: 'h'.repeat(64),
        key_prefix: 'x',
        scopes: ['admin'],
      }),
    ).rejects.toThrow(/api_keys_scopes_known/);
  });
});

describe('rotation', () => {
  it('gives a new secret with the same name and scopes; the old one works until the overlap ends', async () => {
    const { project } = await seedProject(h.services);
    const old = await cached.create(project.id, 'web app', { scopes: ['read'] });
    expect(await use(cached, old.secret)).toBe('ok'); // now in the cache
    const rotated = await cached.rotate(old.apiKey.id, 'PT1H');
    expect(rotated.apiKey).toMatchObject({
      projectId: project.id,
      name: 'web app',
      scopes: ['read'],
      rotatedFrom: old.apiKey.id,
      expiresAt: null,
    });
    expect(rotated.secret).not.toBe(old.secret);
    const end = T0 + 3_600_000;
    expect(rotated.previous.expiresAt).toEqual(new Date(end));
    for (const keys of [cached, uncached]) {
      clock = end - 1_000;
      expect([await use(keys, old.secret), await use(keys, rotated.secret)]).toEqual(['ok', 'ok']);
      clock = end;
      expect(await use(keys, old.secret)).toMatch(/^the API key expired at/);
      expect(await use(keys, rotated.secret)).toBe('ok');
    }
  });

  it('with PT0S ends the old key at once, cached or not', async () => {
    const { project } = await seedProject(h.services);
    const old = await cached.create(project.id, 'k');
    expect(await use(cached, old.secret)).toBe('ok');
    const rotated = await cached.rotate(old.apiKey.id, 'PT0S');
    expect(await use(cached, old.secret)).toMatch(/^the API key expired at/);
    expect(await use(cached, rotated.secret)).toBe('ok');
  });

  it('never lengthens a key that expires before the overlap ends', async () => {
    const { project } = await seedProject(h.services);
    const expiresAt = new Date(T0 + 60_000);
    const old = await cached.create(project.id, 'k', { expiresAt });
    const rotated = await cached.rotate(old.apiKey.id, 'P1D', { expiresAt: new Date(T0 + 86_400_000 * 30) });
    expect(rotated.previous.expiresAt).toEqual(expiresAt);
    expect(rotated.apiKey.expiresAt).toEqual(new Date(T0 + 86_400_000 * 30));
  });

  it('rotates a key once, and not a revoked, expired or unknown one', async () => {
    const { project } = await seedProject(h.services);
    const old = await cached.create(project.id, 'k');
    const first = await cached.rotate(old.apiKey.id, 'PT1H');
    await expectServiceError(cached.rotate(old.apiKey.id, 'PT1H'), 'BAD_USER_INPUT', 'id');
    await cached.rotate(first.apiKey.id, 'PT1H'); // its successor can be

    const revoked = await cached.create(project.id, 'r');
    await cached.revoke(revoked.apiKey.id);
    await expectServiceError(cached.rotate(revoked.apiKey.id, 'PT1H'), 'BAD_USER_INPUT', 'id');

    const expiring = await cached.create(project.id, 'e', { expiresAt: new Date(T0 + 1_000) });
    clock = T0 + 1_000;
    await expectServiceError(cached.rotate(expiring.apiKey.id, 'PT1H'), 'BAD_USER_INPUT', 'id');

    await expectServiceError(cached.rotate('00000000-0000-4000-8000-000000000000', 'PT1H'), 'NOT_FOUND');
  });

  it('lets only one of two concurrent rotations of a key succeed', async () => {
    const { project } = await seedProject(h.services);
    const old = await cached.create(project.id, 'k');
    const results = await Promise.allSettled([
      cached.rotate(old.apiKey.id, 'PT1H'),
      uncached.rotate(old.apiKey.id, 'PT1H'),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect(
      Number((await h.db('api_keys').where({ rotated_from: old.apiKey.id }).count({ n: '*' }))[0].n),
    ).toBe(1);
  });

  it('refuses an overlap that is not an ISO 8601 duration, is negative or is over a year, naming overlap', async () => {
    const { project } = await seedProject(h.services);
    const old = await cached.create(project.id, 'k');
    for (const bad of ['1h', '', 'PT', '-PT1H', 'P2Y']) {
      await expectServiceError(cached.rotate(old.apiKey.id, bad), 'BAD_USER_INPUT', 'overlap');
    }
    expect((await cached.getById(old.apiKey.id))?.expiresAt).toBeNull();
  });
});
