/** REST routes of the original Python server (/api/v1/...), over the same services. Filled in by the operations work. */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config';
import type { Services } from '../services';

export async function registerRestCompat(
  _app: FastifyInstance,
  _deps: { services: Services; config: Config },
): Promise<void> {}
