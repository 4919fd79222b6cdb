/** GET /dashboard: the usage dashboard's static assets. Filled in by the dashboard work. */
import type { FastifyInstance } from 'fastify';

export async function registerDashboard(_app: FastifyInstance): Promise<void> {}
