/** Who is calling: decided once per request from its headers. */
import type { ApiKeyScope, OperatorRole } from './access';
import type { Project } from './types';

export type Principal =
  | { kind: 'anonymous' }
  /** The bootstrap admin token (LLMRING_ADMIN_TOKEN). */
  | { kind: 'admin' }
  /** A named operator token with a role. */
  | { kind: 'operator'; operator: { id: string; name: string; role: OperatorRole } }
  | { kind: 'project'; project: Project; apiKeyId: string; scopes: readonly ApiKeyScope[] };

export const ANONYMOUS: Principal = { kind: 'anonymous' };
export const ADMIN: Principal = { kind: 'admin' };
