/**
 * Authorization decisions over a Principal, shared by the API, the REST routes and the CLI:
 * the one place that says who may do what. Every operation calls one of these before it
 * touches anything, so a refused call stores nothing.
 *
 * Project API keys have scopes (src/domain/access.ts): 'ingest' to log usage (logUsage,
 * logUsageBatch, REST /api/v1/log and conversations, OTLP), 'read' to read its own project
 * (statistics, logs, receipts, budgets, checkpoints). A key without the scope an operation
 * needs gets FORBIDDEN naming it.
 */
import type { ApiKeyScope } from '../domain/access';
import type { Principal } from '../domain/principal';
import { forbidden, unauthenticated } from './errors';
import type { Caller } from './usage';

/** A scope as the API spells it (INGEST, READ). */
export const scopeName = (scope: ApiKeyScope): string => scope.toUpperCase();

/**
 * Throws FORBIDDEN when the caller is a project key without `scope`. Admins are not limited
 * by scopes (whether an admin may do the operation at all is the operation's own check).
 */
export function requireScope(principal: Principal, scope: ApiKeyScope): void {
  if (principal.kind === 'project' && !principal.scopes.includes(scope)) {
    const has = principal.scopes.map(scopeName).join(', ');
    throw forbidden(
      `this API key lacks the ${scopeName(scope)} scope (it has ${has}); ` +
        `use a key created with the ${scopeName(scope)} scope`,
    );
  }
}

/** Whether the caller may read project data at all (a credential, with READ if it is a key). */
export function canRead(principal: Principal): boolean {
  return principal.kind === 'admin' || (principal.kind === 'project' && principal.scopes.includes('read'));
}

/** Throws unless the caller is an admin (UNAUTHENTICATED without credentials, FORBIDDEN with a project key). */
export function requireAdmin(principal: Principal): void {
  if (principal.kind === 'anonymous') throw unauthenticated('the admin token is required');
  if (principal.kind !== 'admin') throw forbidden('only the admin token may do this; an API key cannot');
}

/** The project a call is recorded under: only a project's API key with INGEST can log usage. */
export function requireProjectCaller(principal: Principal): Caller {
  if (principal.kind === 'anonymous') throw unauthenticated();
  if (principal.kind === 'admin') {
    throw forbidden('usage is logged with a project API key; the admin token belongs to no project');
  }
  requireScope(principal, 'ingest');
  return { project: principal.project, apiKeyId: principal.apiKeyId };
}

export function requireAuthenticated(principal: Principal): void {
  if (principal.kind === 'anonymous') throw unauthenticated();
}

/** A read of project data: any credential, with READ if it is a project key. */
export function requireReader(principal: Principal): void {
  requireAuthenticated(principal);
  requireScope(principal, 'read');
}

/** Admins read every project; a project key with READ only its own (FORBIDDEN for any other id). */
export function requireReadable(principal: Principal, projectId: string): void {
  requireReader(principal);
  if (principal.kind === 'project' && principal.project.id !== projectId) {
    throw forbidden('an API key reads only its own project');
  }
}
