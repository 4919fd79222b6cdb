/**
 * Budget periods at chosen instants, computed by the database (both of them): local midnight
 * in the budget's zone across clock changes, ISO weeks from Monday, month and year ends, and
 * total budgets from their creation.
 */
import type { Budget, BudgetPeriod } from '../../src/domain/alerts';
import { startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

const CREATED = new Date('2026-01-01T00:00:00.000Z');
const budget = (period: BudgetPeriod, timeZone: string): Budget => ({
  id: '00000000-0000-4000-8000-000000000000',
  projectId: '00000000-0000-4000-8000-000000000001',
  name: 'b',
  amount: '1.00000000',
  period,
  timeZone,
  thresholds: [100],
  filter: {},
  createdAt: CREATED,
  updatedAt: CREATED,
});

test.each<[string, BudgetPeriod, string, string, string, string | null]>([
  // March 2026 in Los Angeles starts in PST (UTC-8) and ends in PDT (UTC-7): 8 March.
  [
    'a month in Los Angeles across the spring change',
    'month',
    'America/Los_Angeles',
    '2026-03-15T12:00:00Z',
    '2026-03-01T08:00:00.000Z',
    '2026-04-01T07:00:00.000Z',
  ],
  // 1 November 2026: midnight is still PDT (the change is at 02:00); December starts in PST.
  [
    'a month in Los Angeles across the autumn change',
    'month',
    'America/Los_Angeles',
    '2026-11-10T00:00:00Z',
    '2026-11-01T07:00:00.000Z',
    '2026-12-01T08:00:00.000Z',
  ],
  // 08:30Z on 1 December is 00:30 there (PST): December has begun.
  [
    'the first minutes of a month in Los Angeles',
    'month',
    'America/Los_Angeles',
    '2026-12-01T08:30:00Z',
    '2026-12-01T08:00:00.000Z',
    '2027-01-01T08:00:00.000Z',
  ],
  // 07:59Z on 1 December is 23:59 on 30 November in Los Angeles: still November.
  [
    'the last minute of a month in Los Angeles',
    'month',
    'America/Los_Angeles',
    '2026-12-01T07:59:00Z',
    '2026-11-01T07:00:00.000Z',
    '2026-12-01T08:00:00.000Z',
  ],
  // 29 March 2026 in Berlin has 23 hours: CET until 02:00, then CEST.
  [
    'the short day in Berlin',
    'day',
    'Europe/Berlin',
    '2026-03-29T12:00:00Z',
    '2026-03-28T23:00:00.000Z',
    '2026-03-29T22:00:00.000Z',
  ],
  // 25 October 2026 in Berlin has 25 hours.
  [
    'the long day in Berlin',
    'day',
    'Europe/Berlin',
    '2026-10-25T12:00:00Z',
    '2026-10-24T22:00:00.000Z',
    '2026-10-25T23:00:00.000Z',
  ],
  // 1 March 2026 is a Sunday: its ISO week began on Monday 23 February.
  [
    'an ISO week, from Monday',
    'week',
    'UTC',
    '2026-03-01T23:59:59Z',
    '2026-02-23T00:00:00.000Z',
    '2026-03-02T00:00:00.000Z',
  ],
  // 1 January 2027 is a Friday: its week began on Monday 28 December 2026.
  [
    'an ISO week across the new year',
    'week',
    'Europe/Berlin',
    '2027-01-01T12:00:00Z',
    '2026-12-27T23:00:00.000Z',
    '2027-01-03T23:00:00.000Z',
  ],
  // 23:30Z on 31 January is 00:30 on 1 February in Berlin.
  [
    'a month that has begun in Berlin but not in UTC',
    'month',
    'Europe/Berlin',
    '2026-01-31T23:30:00Z',
    '2026-01-31T23:00:00.000Z',
    '2026-02-28T23:00:00.000Z',
  ],
  [
    'February in a leap year',
    'month',
    'UTC',
    '2028-02-29T12:00:00Z',
    '2028-02-01T00:00:00.000Z',
    '2028-03-01T00:00:00.000Z',
  ],
  // India is UTC+05:30 all year.
  [
    'a day in a half-hour zone',
    'day',
    'Asia/Kolkata',
    '2026-06-01T20:00:00Z',
    '2026-06-01T18:30:00.000Z',
    '2026-06-02T18:30:00.000Z',
  ],
  [
    'a total budget: from its creation, no end',
    'total',
    'America/Los_Angeles',
    '2026-06-01T00:00:00Z',
    CREATED.toISOString(),
    null,
  ],
])('%s', async (_name, period, zone, now, start, end) => {
  const p = await server.app.services.budgets.period(budget(period, zone), new Date(now));
  expect([p.start.toISOString(), p.end?.toISOString() ?? null]).toEqual([start, end]);
});
