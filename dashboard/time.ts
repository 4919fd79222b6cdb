/**
 * Calendar arithmetic in an IANA time zone, with nothing but Intl: the dashboard picks whole days
 * in the user's zone and sends the server the instants they start at. No DOM, so the server-side
 * tests run these functions too.
 */

export type Bucket = 'HOUR' | 'DAY' | 'WEEK' | 'MONTH';

const partsFormatters = new Map<string, Intl.DateTimeFormat>();

function partsIn(timeZone: string): Intl.DateTimeFormat {
  let f = partsFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partsFormatters.set(timeZone, f);
  }
  return f;
}

/** Wall-clock fields of an instant in a time zone. */
export function wallClock(
  ms: number,
  timeZone: string,
): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  const fields: Record<string, number> = {};
  for (const p of partsIn(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') fields[p.type] = Number(p.value);
  }
  return {
    year: fields.year,
    month: fields.month,
    day: fields.day,
    hour: fields.hour % 24,
    minute: fields.minute,
    second: fields.second,
  };
}

/** The zone's offset from UTC at an instant, in milliseconds (positive east of Greenwich). */
export function offsetAt(ms: number, timeZone: string): number {
  const w = wallClock(ms, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** True when the runtime knows this IANA time-zone name. */
export function isTimeZone(name: string): boolean {
  if (!name) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Parses `YYYY-MM-DD`; null when it is not a real calendar date. */
export function parseDate(value: string): { year: number; month: number; day: number } | null {
  const m = ISO_DATE.exec(value);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(year, month - 1, day));
  if (t.getUTCFullYear() !== year || t.getUTCMonth() !== month - 1 || t.getUTCDate() !== day) return null;
  return { year, month, day };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function formatDate(year: number, month: number, day: number): string {
  const t = new Date(Date.UTC(year, month - 1, day));
  return `${pad(t.getUTCFullYear(), 4)}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}

/** The calendar date (`YYYY-MM-DD`) that an instant falls on in a time zone. */
export function dateIn(ms: number, timeZone: string): string {
  const w = wallClock(ms, timeZone);
  return formatDate(w.year, w.month, w.day);
}

/** `YYYY-MM-DD` plus a number of days (negative to go back). */
export function addDays(date: string, days: number): string {
  const d = parseDate(date);
  if (!d) throw new RangeError(`not a date: ${date}`);
  return formatDate(d.year, d.month, d.day + days);
}

/**
 * The instant a wall-clock time happens in a time zone. When a DST gap skips that time, the
 * instant just after the gap; when a DST overlap repeats it, the earlier of the two.
 */
export function zonedTime(
  year: number,
  month: number,
  day: number,
  timeZone: string,
  hour = 0,
  minute = 0,
): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  // Two candidates: one with the offset just before, one with the offset just after.
  const before = wall - offsetAt(wall - 86_400_000, timeZone);
  const after = wall - offsetAt(wall + 86_400_000, timeZone);
  const exact = [before, after].filter((t) => t + offsetAt(t, timeZone) === wall).sort((a, b) => a - b);
  if (exact.length > 0) return exact[0];
  // In a gap: the wall time does not exist; take the end of the gap.
  return Math.max(before, after);
}

/** The instant a calendar day starts in a time zone. */
export function startOfDay(date: string, timeZone: string): number {
  const d = parseDate(date);
  if (!d) throw new RangeError(`not a date: ${date}`);
  return zonedTime(d.year, d.month, d.day, timeZone);
}

export interface Range {
  /** Inclusive start instant, ISO 8601. */
  startDate: string;
  /** Exclusive end instant, ISO 8601. */
  endDate: string;
}

/** The whole days from `first` to `last` (both inclusive) in a zone, as a half-open range. */
export function dayRange(first: string, last: string, timeZone: string): Range {
  return {
    startDate: new Date(startOfDay(first, timeZone)).toISOString(),
    endDate: new Date(startOfDay(addDays(last, 1), timeZone)).toISOString(),
  };
}

/**
 * The start of every bucket that overlaps [start, end), in the zone, aligned as the server aligns
 * them: full hours, midnights, Mondays at midnight, 1sts of the month at midnight. The first one
 * may start before `start` (a week or month that the range begins inside). Used to draw empty
 * buckets as zero.
 */
export function bucketStarts(startMs: number, endMs: number, bucket: Bucket, timeZone: string, max = 20_000) {
  const out: number[] = [];
  const first = wallClock(startMs, timeZone);
  if (bucket === 'HOUR') {
    let t = zonedTime(first.year, first.month, first.day, timeZone, first.hour);
    while (t < endMs && out.length < max) {
      out.push(t);
      const w = wallClock(t + 3_600_000, timeZone);
      const next = zonedTime(w.year, w.month, w.day, timeZone, w.hour);
      t = next > t ? next : t + 3_600_000;
    }
    return out;
  }
  let date = formatDate(first.year, first.month, first.day);
  if (bucket === 'WEEK') {
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay(); // 0 = Sunday
    date = addDays(date, -((weekday + 6) % 7));
  } else if (bucket === 'MONTH') {
    date = formatDate(first.year, first.month, 1);
  }
  for (let t = startOfDay(date, timeZone); t < endMs && out.length < max; t = startOfDay(date, timeZone)) {
    out.push(t);
    if (bucket === 'DAY') date = addDays(date, 1);
    else if (bucket === 'WEEK') date = addDays(date, 7);
    else {
      const d = parseDate(date)!;
      date = formatDate(d.year, d.month + 1, 1);
    }
  }
  return out;
}
