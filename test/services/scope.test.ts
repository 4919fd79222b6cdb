/** Who may read what: resolveUsageQuery and the authorization helpers (no database needed). */
import { ADMIN, ANONYMOUS, type Principal } from '../../src/domain/principal';
import type { Project } from '../../src/domain/types';
import { requireAdmin, requireProjectCaller, requireReadable } from '../../src/services/authz';
import { readableProjects, resolveUsageQuery } from '../../src/services/scope';
import { expectServiceError } from '../helpers/fixtures';

const project = (id: string, key: string): Project => ({
  id,
  key,
  name: key,
  description: null,
  createdAt: new Date('2026-01-01T00:00:00Z'),
  archivedAt: null,
});

const A = project('11111111-1111-4111-8111-111111111111', 'a');
const B = project('22222222-2222-4222-8222-222222222222', 'b');
const asA: Principal = {
  kind: 'project',
  project: A,
  apiKeyId: '33333333-3333-4333-8333-333333333333',
  scopes: ['ingest', 'read'],
};
const NOW = new Date('2026-11-26T12:00:00.000Z');
const DAY = 24 * 3600 * 1000;

describe('resolveUsageQuery: projects', () => {
  it('fails UNAUTHENTICATED for an anonymous caller, with or without a filter', async () => {
    await expectServiceError(() => resolveUsageQuery(ANONYMOUS, null, NOW), 'UNAUTHENTICATED');
    await expectServiceError(() => resolveUsageQuery(ANONYMOUS, { projectId: A.id }, NOW), 'UNAUTHENTICATED');
  });

  it('fails FORBIDDEN when a project caller names another project', async () => {
    const err = await expectServiceError(() => resolveUsageQuery(asA, { projectId: B.id }, NOW), 'FORBIDDEN');
    expect(err.message).not.toContain(B.id);
  });

  it('scopes a project caller to its own project, named or not', () => {
    expect(resolveUsageQuery(asA, {}, NOW).projectIds).toEqual([A.id]);
    expect(resolveUsageQuery(asA, null, NOW).projectIds).toEqual([A.id]);
    expect(resolveUsageQuery(asA, { projectId: null }, NOW).projectIds).toEqual([A.id]);
    expect(resolveUsageQuery(asA, { projectId: A.id }, NOW).projectIds).toEqual([A.id]);
  });

  it('rejects a project id that is not a UUID, naming filter.projectId', async () => {
    await expectServiceError(
      () => resolveUsageQuery(ADMIN, { projectId: 'not-a-uuid' }, NOW),
      'BAD_USER_INPUT',
      'filter.projectId',
    );
  });

  it('gives an admin every project (null) or the one named', () => {
    expect(resolveUsageQuery(ADMIN, {}, NOW).projectIds).toBeNull();
    expect(resolveUsageQuery(ADMIN, { projectId: B.id }, NOW).projectIds).toEqual([B.id]);
    expect(readableProjects(ADMIN)).toBeNull();
    expect(readableProjects(asA)).toEqual([A.id]);
  });
});

describe('resolveUsageQuery: the time range', () => {
  it('defaults to the 30 days before now', () => {
    const q = resolveUsageQuery(ADMIN, {}, NOW);
    expect(q.end).toEqual(NOW);
    expect(q.start).toEqual(new Date(NOW.getTime() - 30 * DAY));
  });

  it('defaults the start to 30 days before a given end', () => {
    const end = new Date('2025-06-01T00:00:00Z');
    const q = resolveUsageQuery(ADMIN, { endDate: end }, NOW);
    expect(q).toMatchObject({ start: new Date('2025-05-02T00:00:00Z'), end });
  });

  it('defaults the end to now for a given start', () => {
    const start = new Date('2025-06-01T00:00:00Z');
    expect(resolveUsageQuery(ADMIN, { startDate: start }, NOW)).toMatchObject({ start, end: NOW });
  });

  it('keeps a given range as is', () => {
    const start = new Date('2025-01-01T00:00:00Z');
    const end = new Date('2025-01-01T00:00:00.001Z');
    expect(resolveUsageQuery(ADMIN, { startDate: start, endDate: end }, NOW)).toMatchObject({ start, end });
  });

  it('rejects start >= end with BAD_USER_INPUT naming filter.startDate', async () => {
    const t = new Date('2025-01-01T00:00:00Z');
    await expectServiceError(
      () => resolveUsageQuery(ADMIN, { startDate: t, endDate: t }, NOW),
      'BAD_USER_INPUT',
      'filter.startDate',
    );
    await expectServiceError(
      () => resolveUsageQuery(ADMIN, { startDate: new Date(t.getTime() + 1), endDate: t }, NOW),
      'BAD_USER_INPUT',
      'filter.startDate',
    );
    // A start after the default end (now) is out of order too.
    await expectServiceError(
      () => resolveUsageQuery(ADMIN, { startDate: new Date(NOW.getTime() + DAY) }, NOW),
      'BAD_USER_INPUT',
      'filter.startDate',
    );
  });

  it('rejects an invalid date, naming it', async () => {
    await expectServiceError(
      () => resolveUsageQuery(ADMIN, { startDate: new Date('nope') }, NOW),
      'BAD_USER_INPUT',
      'filter.startDate',
    );
    await expectServiceError(
      () => resolveUsageQuery(ADMIN, { endDate: new Date(Number.NaN) }, NOW),
      'BAD_USER_INPUT',
      'filter.endDate',
    );
  });
});

describe('resolveUsageQuery: the lists', () => {
  it('passes lists through, null alias names included, and drops absent ones', () => {
    const q = resolveUsageQuery(
      asA,
      {
        aliasNames: ['summarizer', null],
        models: ['gpt-4o'],
        providers: ['openai'],
        origins: ['web'],
        profiles: ['prod'],
      },
      NOW,
    );
    expect(q).toMatchObject({
      aliasNames: ['summarizer', null],
      models: ['gpt-4o'],
      providers: ['openai'],
      origins: ['web'],
      profiles: ['prod'],
    });
    const bare = resolveUsageQuery(asA, { aliasNames: null, models: null }, NOW);
    expect(bare.aliasNames).toBeUndefined();
    expect(bare.models).toBeUndefined();
    expect(resolveUsageQuery(asA, { aliasNames: [] }, NOW).aliasNames).toEqual([]);
  });

  it('rejects more than 1000 values and unstorable strings, naming the list', async () => {
    const many = Array.from({ length: 1001 }, (_, i) => `m${i}`);
    expect(resolveUsageQuery(asA, { models: many.slice(0, 1000) }, NOW).models).toHaveLength(1000);
    await expectServiceError(
      () => resolveUsageQuery(asA, { models: many }, NOW),
      'BAD_USER_INPUT',
      'filter.models',
    );
    await expectServiceError(
      () => resolveUsageQuery(asA, { aliasNames: ['ok', 'a\u0000'] }, NOW),
      'BAD_USER_INPUT',
      'filter.aliasNames',
    );
    await expectServiceError(
      () => resolveUsageQuery(asA, { origins: ['\ud800'] }, NOW),
      'BAD_USER_INPUT',
      'filter.origins',
    );
  });
});

describe('authz', () => {
  it('requireAdmin: UNAUTHENTICATED without credentials, FORBIDDEN with a project key', async () => {
    await expectServiceError(() => requireAdmin(ANONYMOUS), 'UNAUTHENTICATED');
    await expectServiceError(() => requireAdmin(asA), 'FORBIDDEN');
    expect(() => requireAdmin(ADMIN)).not.toThrow();
  });

  it('requireProjectCaller: only a project key records usage', async () => {
    await expectServiceError(() => requireProjectCaller(ANONYMOUS), 'UNAUTHENTICATED');
    await expectServiceError(() => requireProjectCaller(ADMIN), 'FORBIDDEN');
    expect(requireProjectCaller(asA)).toEqual({
      project: A,
      apiKeyId: asA.kind === 'project' ? asA.apiKeyId : null,
    });
  });

  it('requireReadable: admins read any project, a project only itself', async () => {
    await expectServiceError(() => requireReadable(ANONYMOUS, A.id), 'UNAUTHENTICATED');
    await expectServiceError(() => requireReadable(asA, B.id), 'FORBIDDEN');
    expect(() => requireReadable(asA, A.id)).not.toThrow();
    expect(() => requireReadable(ADMIN, B.id)).not.toThrow();
  });
});
