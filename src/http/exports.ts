/**
 * GET /v1/exports/focus: a FinOps FOCUS 1.2 file of the caller's usage (docs/focus.md): CSV,
 * streamed, or Parquet (format=parquet). Query: start_date, end_date (a date alone is a UTC day,
 * end_date included; or a date-time), project (admin only: a project id; default every
 * project), format. A project key exports its own project. Errors as the REST routes answer
 * them ({detail, code, field}).
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
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
      if (format !== 'csv' && format !== 'parquet') throw badInput('format', "must be 'csv' or 'parquet'");
      const range = await dateRange(services, query, 'UTC');
      const filter = { ...range, projectId: one(query, 'project') };
      const stamp = (d: Date | null | undefined) => (d ? d.toISOString().slice(0, 10) : 'all');
      const filename = `focus-${stamp(range.startDate)}-${stamp(range.endDate)}.${format}`;
      reply.header('content-disposition', `attachment; filename="${filename}"`);
      if (format === 'csv') {
        const chunks = services.exports.focusCsv(principal, filter);
        return reply.header('content-type', 'text/csv; charset=utf-8').send(Readable.from(chunks));
      }
      // Parquet: written to a private temporary file, sent, then removed.
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'llmring-focus-'));
      const file = path.join(dir, filename);
      try {
        await services.exports.focusParquet(principal, filter, file);
      } catch (err) {
        await fs.rm(dir, { recursive: true, force: true });
        throw err;
      }
      const stream = createReadStream(file);
      stream.on('close', () => void fs.rm(dir, { recursive: true, force: true }));
      return reply.header('content-type', 'application/vnd.apache.parquet').send(stream);
    } catch (err) {
      return sendError(reply, err);
    }
  });
}
