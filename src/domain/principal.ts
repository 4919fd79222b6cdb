/** Who is calling: decided once per request from its headers. */
import type { Project } from './types';

export type Principal =
  { kind: 'anonymous' } | { kind: 'admin' } | { kind: 'project'; project: Project; apiKeyId: string };

export const ANONYMOUS: Principal = { kind: 'anonymous' };
export const ADMIN: Principal = { kind: 'admin' };
