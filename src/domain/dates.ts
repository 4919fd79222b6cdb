/**
 * Dates as operators and the original server's clients write them: ISO 8601, a date alone
 * meaning a whole UTC day. Shared by the REST compatibility routes and the CLI.
 */
import { badInput } from '../services/errors';

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?$/i;
const OFFSET = /(Z|[+-]\d{2}(:?\d{2})?)$/i;
const DAY_MS = 24 * 3600 * 1000;

/**
 * 'YYYY-MM-DD' is the start of that UTC day, or with `endOfDay` the end of it (the next
 * midnight, for an exclusive range end); a date-time without an offset is UTC. Throws
 * BAD_USER_INPUT naming `field` for anything else.
 */
export function parseIsoDate(field: string, value: string, opts: { endOfDay?: boolean } = {}): Date {
  let date: Date | null = null;
  if (DATE_ONLY.test(value)) {
    const day = new Date(`${value}T00:00:00Z`);
    // Guards against a runtime rolling '2025-02-30' over into March.
    if (!Number.isNaN(day.getTime()) && day.toISOString().slice(0, 10) === value) {
      date = opts.endOfDay ? new Date(day.getTime() + DAY_MS) : day;
    }
  } else if (DATE_TIME.test(value)) {
    const normalized = value.replace(' ', 'T');
    date = new Date(OFFSET.test(normalized) ? normalized : `${normalized}Z`);
  }
  if (!date || Number.isNaN(date.getTime())) {
    throw badInput(field, `'${value.slice(0, 40)}' is not an ISO 8601 date (YYYY-MM-DD) or date-time`);
  }
  return date;
}
