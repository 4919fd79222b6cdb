/**
 * What a credential may do: the scopes of a project's API key. Shared by the key service, the
 * authorization checks (src/services/authz.ts), the API's enums and the CLI.
 */

/** An API key's scopes, in display order: 'ingest' logs usage, 'read' reads its project's data. */
export const API_KEY_SCOPES = ['ingest', 'read'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** What a key created without naming scopes may do: everything a key could do before scopes. */
export const DEFAULT_API_KEY_SCOPES: readonly ApiKeyScope[] = API_KEY_SCOPES;

export function isApiKeyScope(value: string): value is ApiKeyScope {
  return (API_KEY_SCOPES as readonly string[]).includes(value);
}

/** Scopes without repeats, in API_KEY_SCOPES order. */
export function normalizeScopes(scopes: Iterable<ApiKeyScope>): ApiKeyScope[] {
  const set = new Set(scopes);
  return API_KEY_SCOPES.filter((s) => set.has(s));
}

/**
 * An operator's role. 'admin': everything the admin token may do; 'viewer': read every project,
 * change nothing; 'billing': read every project, and prices, re-pricing, budgets and exports.
 */
export const OPERATOR_ROLES = ['admin', 'viewer', 'billing'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export interface Operator {
  id: string;
  name: string;
  role: OperatorRole;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

/** Who made a change, for the audit log. */
export type Actor =
  | { kind: 'admin_token' }
  | { kind: 'operator'; id: string; name: string }
  /** Someone running the CLI with the database's credentials. */
  | { kind: 'cli' };

export const CLI_ACTOR: Actor = { kind: 'cli' };

export interface AuditEntry {
  id: string;
  at: Date;
  actorKind: Actor['kind'];
  actorOperatorId: string | null;
  actorName: string;
  action: string;
  targetType: string | null;
  targetId: string | null;
  details: Record<string, unknown>;
  /** Where the entry is in the audit log's Merkle tree; null for a row in no leaf. */
  leafIndex: number | null;
}
