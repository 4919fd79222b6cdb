/**
 * GET /v1/exports/focus: a FinOps FOCUS 1.2 CSV file of the caller's usage, streamed
 * (docs/focus.md). Query: start_date, end_date (a date alone is a UTC day, end_date included;
 * or a date-time), project (admin only: a project id; default every project). A project key
 * exports its own project. Errors as the REST routes answer them ({detail, code, field}).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../services';
import { badInput } from '../services/errors';
import { dateRange, one, restCaller, sendError, type Query } from './rest/common';

export function registerExportRoutes(app: FastifyInstance, services: Services): void {
  app.get('/v1/exports/focus', async (request, reply) => {
    try {
      const principal = await restCaller(services, request);
      const query = request.query as Query;
      const format = one(query, 'format') ?? 'csv';
      if (format !== 'csv') throw badInput('format', "must be 'csv'");
      const range = await dateRange(services, query, 'UTC');
      const chunks = services.exports.focusCsv(principal, { ...range, projectId: one(query, 'project') });
      const stamp = (d: Date | null | undefined) => (d ? d.toISOString().slice(0, 10) : 'all');
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header(
          'content-disposition',
          `attachment; filename="focus-${stamp(range.startDate)}-${stamp(range.endDate)}.csv"`,
        )
        .send(Readable.from(chunks));
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
