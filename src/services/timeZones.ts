/**
 * Time zones as the database knows them. Statistics bucket by local time in SQL, with
 * Postgres's own zone data, so a zone is valid when Postgres has it: its list
 * (pg_timezone_names) is read once per database and is the only cache, bounded by that
 * list. Names match case-insensitively and are answered in Postgres's spelling, so
 * 'etc/universal' and 'Etc/UNIVERSAL' are one zone, and a name Intl knows but Postgres does
 * not ('US/Pacific-New') is refused before any work. Abbreviations and POSIX strings
 * ('CEST', 'UTC+3'), which Postgres would also read, are refused: their meaning is surprising
 * (POSIX offsets have the opposite sign). Legacy names that tzdata keeps as zones ('EST',
 * 'PST8PDT') are zones.
 */
import type { Knex } from 'knex';
import { badInput } from './errors';

/** Entries of pg_timezone_names that are not zones one would name. */
const NOT_ZONES = /^(posix\/|right\/)|^(localtime|posixrules)$/i;

export class TimeZoneService {
  private names?: Promise<Map<string, string>>;

  constructor(private readonly deps: { db: Knex }) {}

  private load(): Promise<Map<string, string>> {
    this.names ??= this.deps.db
      .raw('SELECT name FROM pg_timezone_names')
      .then(({ rows }: { rows: Array<{ name: string }> }) => {
        const map = new Map<string, string>();
        for (const { name } of rows) if (!NOT_ZONES.test(name)) map.set(name.toLowerCase(), name);
        return map;
      })
      .catch((err: unknown) => {
        this.names = undefined; // a failed read is tried again by the next caller
        throw err;
      });
    return this.names;
  }

  /** The zone's name as Postgres spells it; BAD_USER_INPUT naming `field` for any other string. */
  async canonical(name: string, field = 'timeZone'): Promise<string> {
    const known = name.length <= 64 ? (await this.load()).get(name.toLowerCase()) : undefined;
    if (!known) {
      throw badInput(
        field,
        `'${name.slice(0, 64)}' is not a time zone this server knows: use an IANA name such as 'UTC', 'Europe/Berlin' or 'America/New_York'`,
      );
    }
    return known;
  }

  /**
   * The instant a local date (YYYY-MM-DD) starts in a zone, by Postgres's rules (a midnight
   * that a clock change skips is read as the first instant after it). `nextDay` gives the
   * start of the following day: the exclusive end of a range that includes the date.
   */
  async startOfLocalDay(date: string, timeZone: string, opts: { nextDay?: boolean } = {}): Promise<Date> {
    const { rows } = await this.deps.db.raw(
      `SELECT ((?::date + ?::int)::timestamp AT TIME ZONE ?::text) AS t`,
      [date, opts.nextDay ? 1 : 0, timeZone],
    );
    return new Date(rows[0].t);
  }
}
