/** Prometheus metrics at GET /metrics. Filled in by the operations work. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services';

export async function registerMetrics(_app: FastifyInstance, _deps: { services: Services }): Promise<void> {}
