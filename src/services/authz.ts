/**
 * Authorization decisions over a Principal, shared by the API, the REST routes and the CLI:
 * the one place that says who may do what. Every operation calls one of these before it
 * touches anything, so a refused call stores nothing.
 *
 * Project API keys have scopes (src/domain/access.ts): 'ingest' to log usage (logUsage,
 * logUsageBatch, REST /api/v1/log and conversations, OTLP), 'read' to read its own project
 * (statistics, logs, receipts, budgets, checkpoints). A key without the scope an operation
 * needs gets FORBIDDEN naming it.
 *
 * Operators: the bootstrap admin token may do everything; a named operator token has a role
 * (src/domain/access.ts). Every operator reads every project. Changes need a role:
 * - requireAdmin: projects, keys, operators, webhooks, the audit log (ADMIN);
 * - requireBilling: prices, re-pricing, budgets, exports (ADMIN or BILLING).
 */
import type { Actor, ApiKeyScope, OperatorRole } from '../domain/access';
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
  return principal.kind === 'project' ? principal.scopes.includes('read') : principal.kind !== 'anonymous';
}

/** Whether the caller reads every project (the admin token and every operator). */
export function readsEveryProject(principal: Principal): boolean {
  return principal.kind === 'admin' || principal.kind === 'operator';
}

const roleName = (role: OperatorRole) => role.toUpperCase();

/** Throws unless the caller is the admin token or an operator of one of `roles`. */
function requireRole(principal: Principal, roles: readonly OperatorRole[], what: string): void {
  if (principal.kind === 'anonymous')
    throw unauthenticated('the admin token or an operator token is required');
  if (principal.kind === 'admin') return;
  if (principal.kind === 'project') {
    throw forbidden(`only the admin token or an operator may ${what}; an API key cannot`);
  }
  if (!roles.includes(principal.operator.role)) {
    throw forbidden(
      `an operator with the role ${roles.map(roleName).join(' or ')} may ${what}; ` +
        `'${principal.operator.name}' is ${roleName(principal.operator.role)}`,
    );
  }
}

/**
 * Projects, API keys, operators, webhooks and the audit log: the admin token or an ADMIN
 * operator (UNAUTHENTICATED without credentials, FORBIDDEN otherwise).
 */
export function requireAdmin(principal: Principal): void {
  requireRole(principal, ['admin'], 'do this');
}

/** Prices, re-pricing, budgets and exports: the admin token, or an ADMIN or BILLING operator. */
export function requireBilling(principal: Principal): void {
  requireRole(principal, ['admin', 'billing'], 'change prices, budgets or exports');
}

/** Who is making a change, for the audit log; call after requireAdmin or requireBilling. */
export function actorOf(principal: Principal): Actor {
  if (principal.kind === 'operator') {
    return { kind: 'operator', id: principal.operator.id, name: principal.operator.name };
  }
  if (principal.kind === 'admin') return { kind: 'admin_token' };
  throw forbidden('only the admin token or an operator may change this');
}

/** The project a call is recorded under: only a project's API key with INGEST can log usage. */
export function requireProjectCaller(principal: Principal): Caller {
  if (principal.kind === 'anonymous') throw unauthenticated();
  if (principal.kind !== 'project') {
    throw forbidden(
      'usage is logged with a project API key; an admin or operator token belongs to no project',
    );
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
