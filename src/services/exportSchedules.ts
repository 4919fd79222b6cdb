/**
 * Scheduled exports: a schedule writes one FOCUS file (CSV or Parquet) per period (a day, week
 * or month of its time zone) into its folder under LLMRING_EXPORT_DIR, with a manifest line
 * per file (rows, sum of cost, SHA-256) in the folder's manifest.jsonl. docs/exports.md.
 *
 * Exactly once, by construction:
 * - A period is due once it has ended and LLMRING_EXPORT_GRACE_SECONDS have passed (calls
 *   logged late, by clients that batch, get that long to arrive).
 * - export_runs has one row per (schedule, period), its primary key: a worker claims a period
 *   by inserting that row, or by taking over a claim that is not WRITTEN and whose lease has
 *   expired (a crashed or failed attempt), each claim adding one to `attempt`. Any number of
 *   instances may run the worker; one attempt at a time works on a period.
 * - The file is written under a temporary name in the same folder, synced, then renamed: it
 *   appears complete or not at all. The run is then marked WRITTEN only if its attempt still
 *   holds the claim, and the manifest is rewritten (temporary name, rename) from the WRITTEN
 *   rows, so it always lists each period's file once.
 * An attempt that crashes between the rename and the mark leaves a complete file; the next
 * attempt, after the lease, replaces it (rename) with a complete one and records it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import Decimal from 'decimal.js';
import type { Knex } from 'knex';
import { newRowId } from '../db/ids';
import type { FocusRow } from '../export/focus';
import type { Logger } from '../logger';
import { badInput, notFound } from './errors';
import type { ExportService } from './exports';
import { Periodic } from './periodic';
import type { TimeZoneService } from './timeZones';

export const EXPORT_FORMATS = ['FOCUS_CSV', 'FOCUS_PARQUET'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const EXPORT_PERIODS = ['DAILY', 'WEEKLY', 'MONTHLY'] as const;
export type ExportPeriod = (typeof EXPORT_PERIODS)[number];
export const EXPORT_RUN_STATUSES = ['RUNNING', 'WRITTEN', 'FAILED'] as const;
export type ExportRunStatus = (typeof EXPORT_RUN_STATUSES)[number];

export interface ExportSchedule {
  id: string;
  /** null: every project. */
  projectId: string | null;
  format: ExportFormat;
  period: ExportPeriod;
  timeZone: string;
  /** The folder, relative to LLMRING_EXPORT_DIR. */
  destination: string;
  createdAt: Date;
}

export interface ExportRun {
  scheduleId: string;
  periodStart: Date;
  periodEnd: Date;
  status: ExportRunStatus;
  attempt: number;
  /** The file's name in the schedule's folder, once written. */
  file: string | null;
  rows: number | null;
  /** Decimal string, 8 fractional digits: the sum of BilledCost. */
  cost: string | null;
  sha256: string | null;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

/** One line of a folder's manifest.jsonl. */
export interface ManifestLine {
  file: string;
  schedule_id: string;
  format: ExportFormat;
  period_start: string;
  period_end: string;
  rows: number;
  cost: string;
  sha256: string;
  written_at: string;
}

export interface CreateExportScheduleInput {
  format: ExportFormat;
  period: ExportPeriod;
  timeZone?: string | null;
  destination: string;
  projectId?: string | null;
}

interface ScheduleRow {
  id: string;
  project_id: string | null;
  format: ExportFormat;
  period: ExportPeriod;
  time_zone: string;
  destination: string;
  created_at: Date;
}

interface RunRow {
  schedule_id: string;
  period_start: Date;
  period_end: Date;
  status: ExportRunStatus;
  attempt: number;
  lease_until: Date;
  file: string | null;
  rows: string | number | null;
  cost: string | null;
  sha256: string | null;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
}

const UNIT: Record<ExportPeriod, 'day' | 'week' | 'month'> = {
  DAILY: 'day',
  WEEKLY: 'week',
  MONTHLY: 'month',
};
const LABEL: Record<ExportPeriod, string> = {
  DAILY: 'YYYY-MM-DD',
  WEEKLY: '"week-"YYYY-MM-DD',
  MONTHLY: 'YYYY-MM',
};
const EXTENSION: Record<ExportFormat, string> = { FOCUS_CSV: 'csv', FOCUS_PARQUET: 'parquet' };

/** How long a claim holds a period; an attempt that takes longer may be taken over. */
const LEASE_MS = 30 * 60_000;
/** After a failed attempt, the next one waits this long. */
const RETRY_MS = 5 * 60_000;
/** Periods one schedule writes per round at most (a long outage catches up over rounds). */
const MAX_PERIODS_PER_ROUND = 62;
const MANIFEST = 'manifest.jsonl';
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toSchedule(r: ScheduleRow): ExportSchedule {
  return {
    id: r.id,
    projectId: r.project_id,
    format: r.format,
    period: r.period,
    timeZone: r.time_zone,
    destination: r.destination,
    createdAt: new Date(r.created_at),
  };
}

function toRun(r: RunRow): ExportRun {
  return {
    scheduleId: r.schedule_id,
    periodStart: new Date(r.period_start),
    periodEnd: new Date(r.period_end),
    status: r.status,
    attempt: r.attempt,
    file: r.file,
    rows: r.rows === null ? null : Number(r.rows),
    cost: r.cost === null ? null : new Decimal(r.cost).toFixed(8),
    sha256: r.sha256,
    error: r.error,
    startedAt: new Date(r.started_at),
    finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
  };
}

/** Writes `text` to `file` whole or not at all: a temporary name in the same folder, then rename. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.partial`);
  try {
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface ExportRound {
  written: number;
  failed: number;
}

export class ExportScheduleService {
  private readonly periodic: Periodic;

  constructor(
    private readonly deps: {
      db: Knex;
      logger: Logger;
      exports: ExportService;
      timeZones: TimeZoneService;
      /** LLMRING_EXPORT_DIR (absolute); without it no schedule can be created and none runs. */
      dir?: string;
      graceSeconds: number;
      intervalMs: number;
      /**
       * Called once per written file, inside the transaction that records it (for a webhook
       * notification: WebhookService.enqueue(trx, ...) queues it exactly when the run is
       * recorded). If it throws, the run is not recorded (FAILED) and is retried later.
       */
      onWritten?: (trx: Knex.Transaction, schedule: ExportSchedule, line: ManifestLine) => Promise<void>;
    },
  ) {
    this.periodic = new Periodic('scheduled export', deps.intervalMs, deps.logger, () => this.runOnce());
  }

  async create(input: CreateExportScheduleInput): Promise<ExportSchedule> {
    const { db, dir } = this.deps;
    if (!EXPORT_FORMATS.includes(input.format)) {
      throw badInput('input.format', `must be one of ${EXPORT_FORMATS.join(', ')}`);
    }
    if (!EXPORT_PERIODS.includes(input.period)) {
      throw badInput('input.period', `must be one of ${EXPORT_PERIODS.join(', ')}`);
    }
    if (!dir) {
      throw badInput(
        'input.destination',
        'scheduled exports are off on this server: set LLMRING_EXPORT_DIR to the folder they may write under',
      );
    }
    const destination = input.destination.trim().replace(/\/+$/, '');
    const segments = destination.split('/');
    if (destination === '' || destination.length > 200 || !segments.every((s) => SEGMENT.test(s))) {
      throw badInput(
        'input.destination',
        "must be a folder relative to LLMRING_EXPORT_DIR: names of letters, digits, '.', '_' and '-' separated by '/' (no '..', no leading '/'), at most 200 characters",
      );
    }
    const timeZone = await this.deps.timeZones.canonical(input.timeZone ?? 'UTC', 'input.timeZone');
    const projectId = input.projectId ?? null;
    if (projectId !== null) {
      if (!UUID.test(projectId)) throw badInput('input.projectId', 'must be a project id (a UUID)');
      if (!(await db('projects').where({ id: projectId }).first('id')))
        throw notFound(`project ${projectId}`);
    }
    const row: ScheduleRow = {
      id: newRowId(),
      project_id: projectId,
      format: input.format,
      period: input.period,
      time_zone: timeZone,
      destination,
      created_at: new Date(),
    };
    const [inserted] = await db('export_schedules')
      .insert(row)
      .onConflict('destination')
      .ignore()
      .returning('*');
    if (!inserted) {
      throw badInput(
        'input.destination',
        `another schedule already writes to '${destination}': choose another folder`,
      );
    }
    await fs.mkdir(path.join(dir, destination), { recursive: true });
    return toSchedule(inserted as ScheduleRow);
  }

  async list(): Promise<ExportSchedule[]> {
    const rows: ScheduleRow[] = await this.deps.db('export_schedules').orderBy('created_at');
    return rows.map(toSchedule);
  }

  /** Deletes a schedule and its run history; the files it wrote stay. */
  async delete(id: string): Promise<boolean> {
    if (!UUID.test(id)) throw badInput('id', 'must be a schedule id (a UUID)');
    const deleted: unknown[] = await this.deps.db('export_schedules').where({ id }).delete().returning('id');
    return deleted.length > 0;
  }

  /** A schedule's runs, newest period first. */
  async runs(scheduleId: string, limit = 20): Promise<ExportRun[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 500)
      throw badInput('first', 'must be from 1 to 500');
    const rows: RunRow[] = await this.deps
      .db('export_runs')
      .where({ schedule_id: scheduleId })
      .orderBy('period_start', 'desc')
      .limit(limit);
    return rows.map(toRun);
  }

  start(): void {
    if (this.deps.dir) this.periodic.start();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** One round: every schedule's due periods not written yet, oldest first. `now` for tests. */
  async runOnce(now = new Date()): Promise<ExportRound> {
    const round: ExportRound = { written: 0, failed: 0 };
    if (!this.deps.dir) return round;
    const schedules: ScheduleRow[] = await this.deps.db('export_schedules').orderBy('created_at');
    for (const row of schedules) {
      const schedule = toSchedule(row);
      for (const period of await this.duePeriods(schedule, now)) {
        const attempt = await this.claim(schedule, period, now);
        if (attempt === null) continue; // written, or another attempt holds it
        try {
          await this.write(schedule, period, attempt, now);
          round.written++;
        } catch (err) {
          round.failed++;
          this.deps.logger.error(
            { err, scheduleId: schedule.id, periodStart: period.start },
            'a scheduled export failed; it is retried later',
          );
          await this.deps
            .db('export_runs')
            .where({ schedule_id: schedule.id, period_start: period.start, attempt })
            .update({
              status: 'FAILED',
              error: String((err as Error).message ?? err).slice(0, 500),
              lease_until: new Date(now.getTime() + RETRY_MS),
              finished_at: now,
            });
        }
      }
    }
    return round;
  }

  /**
   * The periods of the schedule that are due at `now` and not written: from the one holding
   * the schedule's creation to the last one that ended at least the grace period ago.
   */
  private async duePeriods(
    schedule: ExportSchedule,
    now: Date,
  ): Promise<Array<{ start: Date; end: Date; label: string }>> {
    const unit = UNIT[schedule.period];
    const step = `1 ${unit}`;
    const { rows } = await this.deps.db.raw(
      `SELECT (g AT TIME ZONE :tz) AS period_start, ((g + :step::interval) AT TIME ZONE :tz) AS period_end,
              to_char(g, :label) AS label
         FROM generate_series(
                date_trunc(:unit, :created::timestamptz AT TIME ZONE :tz),
                date_trunc(:unit, (:now::timestamptz - :grace * interval '1 second') AT TIME ZONE :tz) - :step::interval,
                :step::interval) AS g
        WHERE NOT EXISTS (SELECT 1 FROM export_runs r
                           WHERE r.schedule_id = :id AND r.period_start = (g AT TIME ZONE :tz) AND r.status = 'WRITTEN')
        ORDER BY g
        LIMIT :max`,
      {
        tz: schedule.timeZone,
        step,
        unit,
        label: LABEL[schedule.period],
        created: schedule.createdAt,
        now,
        grace: this.deps.graceSeconds,
        id: schedule.id,
        max: MAX_PERIODS_PER_ROUND,
      },
    );
    return (rows as Array<{ period_start: Date; period_end: Date; label: string }>).map((r) => ({
      start: new Date(r.period_start),
      end: new Date(r.period_end),
      label: r.label,
    }));
  }

  /** Claims a period for one attempt; its number, or null when written or held by another. */
  private async claim(
    schedule: ExportSchedule,
    period: { start: Date; end: Date },
    now: Date,
  ): Promise<number | null> {
    const { rows } = await this.deps.db.raw(
      `INSERT INTO export_runs (schedule_id, period_start, period_end, status, attempt, lease_until, started_at)
       VALUES (:id, :start, :end, 'RUNNING', 1, :lease, :now)
       ON CONFLICT (schedule_id, period_start) DO UPDATE
          SET status = 'RUNNING', attempt = export_runs.attempt + 1, lease_until = EXCLUDED.lease_until,
              started_at = EXCLUDED.started_at, error = NULL, finished_at = NULL
        WHERE export_runs.status <> 'WRITTEN' AND export_runs.lease_until < :now
       RETURNING attempt`,
      {
        id: schedule.id,
        start: period.start,
        end: period.end,
        lease: new Date(now.getTime() + LEASE_MS),
        now,
      },
    );
    return rows.length ? Number(rows[0].attempt) : null;
  }

  private async write(
    schedule: ExportSchedule,
    period: { start: Date; end: Date; label: string },
    attempt: number,
    now: Date,
  ): Promise<void> {
    const folder = path.join(this.deps.dir!, schedule.destination);
    await fs.mkdir(folder, { recursive: true });
    const name = `focus-${period.label}.${EXTENSION[schedule.format]}`;
    const final = path.join(folder, name);
    const temp = path.join(folder, `.${name}.${attempt}.partial`);
    const q = {
      projectIds: schedule.projectId ? [schedule.projectId] : null,
      start: period.start,
      end: period.end,
    };

    let rows = 0;
    let cost = new Decimal(0);
    const tally = (row: FocusRow) => {
      rows++;
      cost = cost.plus(row.BilledCost as string);
    };
    try {
      if (schedule.format === 'FOCUS_CSV') {
        const out = createWriteStream(temp);
        const failed = once(out, 'error').then(([e]) => Promise.reject(e as Error));
        failed.catch(() => undefined);
        for await (const text of this.deps.exports.focusCsvChunks(q, { onRow: tally })) {
          if (!out.write(text)) await Promise.race([once(out, 'drain'), failed]);
        }
        await Promise.race([new Promise<void>((resolve) => out.end(resolve)), failed]);
      } else {
        await this.deps.exports.writeFocusParquet(q, temp, { onRow: tally });
      }
      const handle = await fs.open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      const sha256 = await sha256Of(temp);
      await fs.rename(temp, final);
      // Temporary files of earlier attempts at this period that crashed.
      for (const other of await fs.readdir(folder)) {
        if (other.startsWith(`.${name}.`) && other.endsWith('.partial')) {
          await fs.rm(path.join(folder, other), { force: true });
        }
      }
      const costText = cost.toFixed(8);
      const line: ManifestLine = {
        file: name,
        schedule_id: schedule.id,
        format: schedule.format,
        period_start: period.start.toISOString(),
        period_end: period.end.toISOString(),
        rows,
        cost: costText,
        sha256,
        written_at: now.toISOString(),
      };
      // The run is recorded, and its notification queued, in one transaction: both or neither.
      const recorded = await this.deps.db.transaction(async (trx) => {
        const marked = await trx('export_runs')
          .where({ schedule_id: schedule.id, period_start: period.start, attempt })
          .update({
            status: 'WRITTEN',
            file: name,
            rows,
            cost: costText,
            sha256,
            finished_at: now,
            error: null,
          })
          .returning('attempt');
        if (marked.length === 0) return false;
        await this.deps.onWritten?.(trx, schedule, line);
        return true;
      });
      if (!recorded) {
        this.deps.logger.warn(
          { scheduleId: schedule.id, periodStart: period.start },
          'a scheduled export lost its claim while writing; the attempt that holds it records the file',
        );
        return;
      }
      await this.writeManifest(schedule, folder);
      this.deps.logger.info({ export: line }, 'scheduled export written');
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  /** manifest.jsonl from the schedule's WRITTEN runs, oldest period first, replaced whole. */
  private async writeManifest(schedule: ExportSchedule, folder: string): Promise<void> {
    const runs: RunRow[] = await this.deps
      .db('export_runs')
      .where({ schedule_id: schedule.id, status: 'WRITTEN' })
      .orderBy('period_start');
    const text = runs
      .map((r) => {
        const run = toRun(r);
        const line: ManifestLine = {
          file: run.file!,
          schedule_id: schedule.id,
          format: schedule.format,
          period_start: run.periodStart.toISOString(),
          period_end: run.periodEnd.toISOString(),
          rows: run.rows!,
          cost: run.cost!,
          sha256: run.sha256!,
          written_at: run.finishedAt!.toISOString(),
        };
        return JSON.stringify(line) + '\n';
      })
      .join('');
    await writeAtomically(path.join(folder, MANIFEST), text);
  }
}
