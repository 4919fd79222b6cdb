/** Authorization decisions over a Principal, shared by the API, the REST routes and the CLI. */
import type { Principal } from '../domain/principal';
import { forbidden, unauthenticated } from './errors';
import type { Caller } from './usage';

/** Throws unless the caller is an admin (UNAUTHENTICATED without credentials, FORBIDDEN with a project key). */
export function requireAdmin(principal: Principal): void {
  if (principal.kind === 'anonymous') throw unauthenticated('the admin token is required');
  if (principal.kind !== 'admin') throw forbidden('only the admin token may do this; an API key cannot');
}

/** The project a call is recorded under: only a project's API key can log usage. */
export function requireProjectCaller(principal: Principal): Caller {
  if (principal.kind === 'anonymous') throw unauthenticated();
  if (principal.kind === 'admin') {
    throw forbidden('usage is logged with a project API key; the admin token belongs to no project');
  }
  return { project: principal.project, apiKeyId: principal.apiKeyId };
}

export function requireAuthenticated(principal: Principal): void {
  if (principal.kind === 'anonymous') throw unauthenticated();
}

/** Admins read every project; a project caller only its own (FORBIDDEN for any other id). */
export function requireReadable(principal: Principal, projectId: string): void {
  requireAuthenticated(principal);
  if (principal.kind === 'project' && principal.project.id !== projectId) {
    throw forbidden('an API key reads only its own project');
  }
}
