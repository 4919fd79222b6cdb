/** ProjectService on a real database (PGlite, or Postgres with TEST_DATABASE_URL). */
import type { ProjectRow } from '../../src/db/tables';
import type { Project } from '../../src/domain/types';
import { createServiceHarness, expectServiceError, type ServiceHarness } from '../helpers/fixtures';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MISSING_ID = '00000000-0000-4000-8000-000000000000';

let h: ServiceHarness;

beforeAll(async () => {
  h = await createServiceHarness();
});

afterAll(async () => {
  await h?.close();
});

describe('ProjectService.create', () => {
  it('stores the key, name and description and returns the project', async () => {
    const before = Date.now();
    const p = await h.services.projects.create({
      key: 'client-a',
      name: 'Client A (EU) – ünïcødé 🚀',
      description: 'first',
    });
    expect(p).toMatchObject({
      key: 'client-a',
      name: 'Client A (EU) – ünïcødé 🚀',
      description: 'first',
      archivedAt: null,
    });
    expect(p.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(p.createdAt.getTime()).toBeGreaterThanOrEqual(before - 5_000);
    const row = await h.db<ProjectRow>('projects').where({ id: p.id }).first();
    expect(row).toMatchObject({ key: 'client-a', name: p.name, description: 'first', archived_at: null });
    expect(await h.services.projects.getById(p.id)).toEqual(p);
  });

  it('defaults the description to null', async () => {
    const p = await h.services.projects.create({ key: 'no-description', name: 'No description' });
    expect(p.description).toBeNull();
  });

  it.each(['a', '0', 'a-b', 'client-a-2', 'x'.repeat(64), '9-lives'])('accepts the key %p', async (key) => {
    const p = await h.services.projects.create({ key, name: `ok ${key}` });
    expect(p.key).toBe(key);
  });

  it.each([
    ['empty', ''],
    ['uppercase', 'Client-A'],
    ['leading dash', '-client'],
    ['trailing dash', 'client-'],
    ['underscore', 'client_a'],
    ['space', 'client a'],
    ['dot', 'client.a'],
    ['slash', 'client/a'],
    ['non-ASCII letter', 'clïent'],
    ['65 characters', 'x'.repeat(65)],
    ['NUL', 'client\u0000'],
  ])('rejects a key with %s, naming the field key', async (_why, key) => {
    const count = await h.services.projects.count();
    await expectServiceError(h.services.projects.create({ key, name: 'Bad key' }), 'BAD_USER_INPUT', 'key');
    expect(await h.services.projects.count()).toBe(count);
  });

  it('rejects a duplicate key with BAD_USER_INPUT naming key, and keeps the first project', async () => {
    const first = await h.services.projects.create({ key: 'duplicate', name: 'First' });
    const err = await expectServiceError(
      h.services.projects.create({ key: 'duplicate', name: 'Second' }),
      'BAD_USER_INPUT',
      'key',
    );
    expect(err.message).toContain('duplicate');
    expect(await h.services.projects.getByKey('duplicate')).toEqual(first);
    expect(await h.db('projects').where({ key: 'duplicate' })).toHaveLength(1);
  });

  it('allows two projects with the same name (only the key is unique)', async () => {
    const a = await h.services.projects.create({ key: 'same-name-1', name: 'Same name' });
    const b = await h.services.projects.create({ key: 'same-name-2', name: 'Same name' });
    expect(a.id).not.toBe(b.id);
  });

  it.each([
    ['empty', '', 'name'],
    ['blank', '   ', 'name'],
    ['256 characters', 'n'.repeat(256), 'name'],
    ['a NUL', 'a\u0000b', 'name'],
    ['a lone surrogate', 'a\ud800b', 'name'],
  ])('rejects a name that is %s', async (_why, name, field) => {
    await expectServiceError(h.services.projects.create({ key: 'bad-name', name }), 'BAD_USER_INPUT', field);
    expect(await h.services.projects.getByKey('bad-name')).toBeNull();
  });

  it('accepts a 255-character name and an empty description', async () => {
    const p = await h.services.projects.create({ key: 'long-name', name: 'é'.repeat(255), description: '' });
    expect(p.name).toBe('é'.repeat(255));
    expect(p.description).toBe('');
  });
});

describe('ProjectService.update', () => {
  let p: Project;
  beforeAll(async () => {
    p = await h.services.projects.create({ key: 'to-update', name: 'Before', description: 'old' });
  });

  it('changes the name and keeps the description when it is omitted', async () => {
    const updated = await h.services.projects.update(p.id, { name: 'After' });
    expect(updated).toEqual({ ...p, name: 'After' });
  });

  it('changes the description and keeps the name when the name is null', async () => {
    const updated = await h.services.projects.update(p.id, { name: null, description: 'new' });
    expect(updated).toMatchObject({ name: 'After', description: 'new', key: 'to-update' });
  });

  it('clears the description with null', async () => {
    const updated = await h.services.projects.update(p.id, { description: null });
    expect(updated.description).toBeNull();
    expect((await h.services.projects.getById(p.id))!.description).toBeNull();
  });

  it('returns the project unchanged for an empty update', async () => {
    const current = await h.services.projects.getById(p.id);
    expect(await h.services.projects.update(p.id, {})).toEqual(current);
  });

  it('validates the new name', async () => {
    await expectServiceError(h.services.projects.update(p.id, { name: '' }), 'BAD_USER_INPUT', 'name');
    await expectServiceError(
      h.services.projects.update(p.id, { name: 'x'.repeat(256) }),
      'BAD_USER_INPUT',
      'name',
    );
    expect((await h.services.projects.getById(p.id))!.name).toBe('After');
  });

  it('fails with NOT_FOUND for an unknown project, for a change and for an empty update', async () => {
    await expectServiceError(h.services.projects.update(MISSING_ID, { name: 'x' }), 'NOT_FOUND');
    await expectServiceError(h.services.projects.update(MISSING_ID, {}), 'NOT_FOUND');
  });
});

describe('ProjectService.archive', () => {
  it('sets archivedAt once: archiving again keeps the first time', async () => {
    const p = await h.services.projects.create({ key: 'to-archive', name: 'To archive' });
    const first = await h.services.projects.archive(p.id);
    expect(first.archivedAt).toBeInstanceOf(Date);
    expect(first).toEqual({ ...p, archivedAt: first.archivedAt });
    await sleep(20);
    const second = await h.services.projects.archive(p.id);
    expect(second.archivedAt!.getTime()).toBe(first.archivedAt!.getTime());
    expect((await h.services.projects.getById(p.id))!.archivedAt!.getTime()).toBe(
      first.archivedAt!.getTime(),
    );
  });

  it('keeps the project readable by id and key', async () => {
    const p = await h.services.projects.create({ key: 'archived-readable', name: 'Archived' });
    await h.services.projects.archive(p.id);
    expect((await h.services.projects.getByKey('archived-readable'))!.id).toBe(p.id);
    expect((await h.services.projects.getById(p.id))!.archivedAt).not.toBeNull();
  });

  it('fails with NOT_FOUND for an unknown project', async () => {
    await expectServiceError(h.services.projects.archive(MISSING_ID), 'NOT_FOUND');
  });
});

describe('ProjectService.list, getByKey and getByIds', () => {
  let live: Project[];
  let archived: Project;

  beforeAll(async () => {
    // A database of its own contents: everything listed here was created in this block.
    await h.db('api_keys').del();
    await h.db('projects').del();
    live = [];
    for (const key of ['list-b', 'list-a', 'list-c']) {
      live.push(await h.services.projects.create({ key, name: key }));
      await sleep(5); // distinct created_at, so the order is by creation time
    }
    archived = await h.services.projects.create({ key: 'list-archived', name: 'Archived' });
    archived = await h.services.projects.archive(archived.id);
  });

  it('lists live projects oldest first, without archived ones', async () => {
    const listed = await h.services.projects.list();
    expect(listed.map((p) => p.key)).toEqual(['list-b', 'list-a', 'list-c']);
    expect(listed).toEqual(live);
    expect(await h.services.projects.list({ includeArchived: false })).toEqual(live);
  });

  it('lists archived projects too when asked', async () => {
    const listed = await h.services.projects.list({ includeArchived: true });
    expect(listed.map((p) => p.key)).toEqual(['list-b', 'list-a', 'list-c', 'list-archived']);
    expect(listed[3]).toEqual(archived);
  });

  it('counts every project, archived ones included', async () => {
    expect(await h.services.projects.count()).toBe(4);
  });

  it('finds a project by key, and null for an unknown key', async () => {
    expect(await h.services.projects.getByKey('list-a')).toEqual(live[1]);
    expect(await h.services.projects.getByKey('list-archived')).toEqual(archived);
    expect(await h.services.projects.getByKey('no-such-project')).toBeNull();
    expect(await h.services.projects.getByKey('LIST-A')).toBeNull();
  });

  it('returns getByIds results in the order asked, with null where missing and repeats repeated', async () => {
    const [b, a, c] = live;
    const found = await h.services.projects.getByIds([c.id, MISSING_ID, a.id, archived.id, c.id, b.id]);
    expect(found).toEqual([c, null, a, archived, c, b]);
    expect(await h.services.projects.getByIds([])).toEqual([]);
  });

  it('returns null from getById for an unknown id, and require throws NOT_FOUND', async () => {
    expect(await h.services.projects.getById(MISSING_ID)).toBeNull();
    await expectServiceError(h.services.projects.require(MISSING_ID), 'NOT_FOUND');
    expect(await h.services.projects.require(live[0].id)).toEqual(live[0]);
  });

  it('treats an id that is not a UUID as unknown (callers other than GraphQL pass raw strings)', async () => {
    for (const id of ['not-a-uuid', '', "1' OR '1'='1", '11111111-1111-4111-8111-11111111111']) {
      expect(await h.services.projects.getById(id)).toBeNull();
      await expectServiceError(h.services.projects.update(id, { name: 'x' }), 'NOT_FOUND');
      await expectServiceError(h.services.projects.archive(id), 'NOT_FOUND');
    }
    expect(await h.services.projects.getByIds(['not-a-uuid', live[0].id])).toEqual([null, live[0]]);
  });
});
