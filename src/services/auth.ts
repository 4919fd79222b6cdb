/**
 * Authentication: who a request is, from its headers, for every surface (GraphQL, REST, the
 * dashboard's API calls). It returns a Principal or throws a ServiceError UNAUTHENTICATED,
 * which each surface maps like any other service error.
 *
 * Credentials: `X-API-Key`, `Authorization: Bearer`, or the legacy `X-Project-Key`. A bearer
 * token equal to LLMRING_ADMIN_TOKEN makes an admin. A credential that is presented must be
 * valid: an unknown or revoked key, a key of an archived project, and a credential header
 * that is present but empty are refused, never treated as anonymous. Clients may send the
 * same key in several headers (the llmring client sends X-API-Key and Authorization); two
 * different credentials in one request are refused rather than one of them silently chosen.
 * Authorization headers of other schemes (Basic, from a proxy) are not credentials here.
 *
 * With LLMRING_ACCEPT_CLIENT_KEYS, a key of the llmring client's own format (CLIENT_KEY) that
 * the server has never seen creates its own project on first use (ProjectService.adoptClientKey);
 * a key it has seen (revoked, or of an archived project) is refused like any other.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../domain/principal';
import { ADMIN, ANONYMOUS } from '../domain/principal';
import type { ApiKeyService } from './apiKeys';
import { OPERATOR_TOKEN_PREFIX, type OperatorService } from './operators';
import type { RateLimitService } from './rateLimits';
import type { ProjectService } from './projects';
import { unauthenticated } from './errors';

export type Headers = Record<string, string | string[] | undefined>;

/** A key `llmring server init` makes on the client's machine: 'llmr_pk_' and 32 hex digits. */
export const CLIENT_KEY = /^llmr_pk_[0-9a-f]{32}$/;

/** Equal-time comparison of two secrets of any length (both are hashed first). */
export function secretsEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The credentials a request presents, by where they came from (values trimmed; '' when empty). */
function presented(headers: Headers): Array<{ where: string; secret: string }> {
  const found: Array<{ where: string; secret: string }> = [];
  const apiKey = header(headers, 'x-api-key');
  if (apiKey !== undefined) found.push({ where: 'X-API-Key', secret: apiKey.trim() });
  const authorization = header(headers, 'authorization');
  const bearer = authorization === undefined ? null : /^\s*Bearer(?:\s+(.*))?$/i.exec(authorization);
  if (bearer) found.push({ where: 'Authorization', secret: (bearer[1] ?? '').trim() });
  const projectKey = header(headers, 'x-project-key');
  if (projectKey !== undefined) found.push({ where: 'X-Project-Key', secret: projectKey.trim() });
  return found;
}

export class AuthService {
  constructor(
    private readonly deps: {
      apiKeys: ApiKeyService;
      /** Named operator tokens (lro_...), sent as Authorization: Bearer. */
      operators?: Pick<OperatorService, 'authenticate'>;
      /** Requests per second of keys and projects: RATE_LIMITED before anything else is done. */
      rateLimits?: Pick<RateLimitService, 'admitRequest'>;
      adminToken?: string;
      /** With LLMRING_ACCEPT_CLIENT_KEYS: creates the project of an unknown client-made key. */
      clientKeys?: Pick<ProjectService, 'adoptClientKey'>;
    },
  ) {}

  async authenticate(headers: Headers): Promise<Principal> {
    const credentials = presented(headers);
    if (credentials.length === 0) return ANONYMOUS;
    const empty = credentials.find((c) => c.secret === '');
    if (empty)
      throw unauthenticated(`the ${empty.where} header is empty: send an API key (or the admin token)`);
    const secret = credentials[0].secret;
    const other = credentials.find((c) => c.secret !== secret);
    if (other) {
      throw unauthenticated(
        `the ${credentials[0].where} and ${other.where} headers carry different credentials: send one`,
      );
    }
    const { adminToken } = this.deps;
    if (
      adminToken &&
      credentials.some((c) => c.where === 'Authorization') &&
      secretsEqual(secret, adminToken)
    ) {
      return ADMIN;
    }
    if (this.deps.operators && secret.startsWith(OPERATOR_TOKEN_PREFIX)) {
      if (!credentials.some((c) => c.where === 'Authorization')) {
        throw unauthenticated('send an operator token as Authorization: Bearer <token>');
      }
      const operator = await this.deps.operators.authenticate(secret);
      if (!operator) throw unauthenticated('the operator token is unknown or revoked');
      return { kind: 'operator', operator: { id: operator.id, name: operator.name, role: operator.role } };
    }
    const found =
      (await this.deps.apiKeys.authenticate(secret)) ??
      (this.deps.clientKeys && CLIENT_KEY.test(secret)
        ? await this.deps.clientKeys.adoptClientKey(secret)
        : null);
    if (!found) throw unauthenticated('The API key is unknown or revoked, or its project is archived');
    await this.deps.rateLimits?.admitRequest(found.project.id, found.apiKey.id);
    return {
      kind: 'project',
      project: found.project,
      apiKeyId: found.apiKey.id,
      scopes: found.apiKey.scopes,
    };
  }
}
