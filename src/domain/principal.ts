/** Who is calling: decided once per request from its headers. */
import type { ApiKeyScope } from './access';
import type { Project } from './types';

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'admin' }
  | { kind: 'project'; project: Project; apiKeyId: string; scopes: readonly ApiKeyScope[] };

export const ANONYMOUS: Principal = { kind: 'anonymous' };
export const ADMIN: Principal = { kind: 'admin' };
