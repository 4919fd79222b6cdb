/** The one results table (markdown), with the issue's targets and whether each is met. */
import type { LoadResult } from './load';
import type { PgbenchResult } from './pgbench';
import type { CatchUp } from './rollup';
import type { LogLine } from './server';
import type { Timing } from './stats';
import { fmtInt, fmtMs, fmtRatio, fmtSeconds } from './stats-math';

export interface ScaleResult {
  label: string;
  target: number;
  /** Logs of the project in the window, as the raw scans counted them. */
  logs?: number;
  seed?: { rows: number; seconds: number };
  catchUp?: CatchUp;
  /** Tables with planner statistics when the "no manual ANALYZE" rows were measured. */
  analyzed?: string[];
  /** usageStats, breakdown by alias and by the promoted metadata key, before any manual ANALYZE. */
  apiCold?: Timing;
  byAliasCold?: Timing;
  byFeatureCold?: Timing;
  /** The metadata breakdown against a raw scan of the same groups; empty = identical. */
  featureMismatches?: string[];
  /** After ANALYZE: usageStats (UTC) and the same in a zone whose days are not UTC days. */
  api?: Timing;
  byZone?: Timing;
  raw?: Timing;
  /** Differences between the API's answer and the raw scans' answer; empty = identical. */
  mismatches?: string[];
  fresh?: { ms: number[]; pass: boolean; detail: string };
  error?: string;
}

export interface Results {
  mode: 'quick' | 'full';
  command: string;
  startedAt: Date;
  seconds?: number;
  environment: string[];
  settings: string[];
  logUsage: LoadResult[];
  batch?: LoadResult & { batchSize: number; logsPerSecond: number };
  raw: PgbenchResult[];
  rss?: { peakMb: number; hwmMb: number; samples: number };
  scales: ScaleResult[];
  skipped10M: boolean;
  pglite?: LoadResult & { rssPeakMb: number };
  serverLog: Array<{ server: string; lines: LogLine[] }>;
  failures: string[];
}

type Met = boolean | undefined;
const met = (m: Met) => (m === undefined ? 'n/a' : m ? 'yes' : '**NO**');
const pct = (r: number) => (Number.isFinite(r) ? `${(r * 100).toFixed(0)}%` : 'n/a');

function loadCell(r: LoadResult, unit = 'req/s'): string {
  const errors = r.errors ? ` · **${fmtInt(r.errors)} errors** (${r.firstError ?? ''})` : '';
  return `${fmtInt(r.perSecond)} ${unit} · p50 ${fmtMs(r.p50)} · p99 ${fmtMs(r.p99)}${cpuCells(r, 1, 'req')}${errors}`;
}

/** CPU time per request (or per log of a batch: per = its size) of the server and of Postgres. */
function cpuCells(r: LoadResult, per: number, unit: string): string {
  const cell = (who: string, ms: number | undefined) =>
    ms !== undefined ? ` · ${who} CPU ${fmtMicros(ms / per)}/${unit}` : '';
  return cell('server', r.serverCpuMs) + cell('Postgres', r.postgresCpuMs);
}

const fmtMicros = (ms: number) => `${fmtInt(ms * 1000)} µs`;

function rawCell(raw: PgbenchResult, what: string): string {
  const cpu = raw.postgresCpuMs !== undefined ? ` · Postgres CPU ${fmtMicros(raw.postgresCpuMs)}/row` : '';
  return `${fmtInt(raw.rowsPerSecond)} rows/s (${what}pgbench -c ${raw.clients})${cpu}`;
}

function timingCell(t: Timing | undefined, what: string): string {
  if (!t) return 'not measured';
  return `p50 ${fmtMs(t.p50)} · p99 ${fmtMs(t.p99)} (n=${t.n}${t.note ? `, ${t.note}` : ''}) ${what}`.trim();
}

export function render(res: Results): string {
  const rows: string[][] = [];
  const row = (...cells: string[]) => rows.push(cells);
  const rawAt = (c: number) => res.raw.find((r) => r.clients === c);
  const bestRaw = res.raw.reduce<PgbenchResult | undefined>(
    (b, r) => (!b || r.rowsPerSecond > b.rowsPerSecond ? r : b),
    undefined,
  );

  // Ingest.
  for (const l of res.logUsage) {
    const raw = rawAt(l.concurrency);
    const ratio = raw ? l.perSecond / raw.rowsPerSecond : NaN;
    const isTarget = l.concurrency === 64;
    const ok: Met = isTarget && raw ? ratio >= 0.25 && l.p99 < 50 && l.errors === 0 : undefined;
    row(
      `logUsage, ${l.concurrency} client${l.concurrency > 1 ? 's' : ''}`,
      loadCell(l),
      raw ? rawCell(raw, '') : 'not measured',
      raw ? `${fmtRatio(ratio)} (${pct(ratio)})` : 'n/a',
      isTarget ? '≥ 25% of raw, p99 < 50 ms (issue 5)' : '',
      isTarget ? met(ok) : '',
    );
  }
  if (res.batch) {
    const b = res.batch;
    const ratio = bestRaw ? b.logsPerSecond / bestRaw.rowsPerSecond : NaN;
    row(
      `logUsageBatch of ${b.batchSize}, ${b.concurrency} clients`,
      `${fmtInt(b.logsPerSecond)} logs/s · p50 ${fmtMs(b.p50)} · p99 ${fmtMs(b.p99)} per batch${cpuCells(b, b.batchSize, 'log')}${b.errors ? ` · **${b.errors} errors** (${b.firstError ?? ''})` : ''}`,
      bestRaw ? rawCell(bestRaw, 'best single-row, ') : 'not measured',
      fmtRatio(ratio),
      '≥ 1.5x raw single-row (issue 5)',
      met(bestRaw ? ratio >= 1.5 && b.errors === 0 : undefined),
    );
  }
  if (res.rss) {
    row(
      'server RSS peak under ingest',
      `${res.rss.peakMb.toFixed(0)} MB (VmHWM ${res.rss.hwmMb.toFixed(0)} MB, ${res.rss.samples} samples)`,
      '',
      '',
      '< 300 MB (issue 5)',
      met(res.rss.peakMb < 300),
    );
  }

  // Stats.
  const scaleP50 = new Map<number, number>();
  for (const s of res.scales) {
    const at = s.label;
    if (s.error && !s.api) {
      row(`usageStats, ${at} logs`, `**failed**: ${s.error}`, '', '', '', '**NO**');
      continue;
    }
    if (s.seed) {
      const c = s.catchUp;
      const catchUp = !c
        ? ''
        : c.status === 'caught-up'
          ? `; rollups caught up ${fmtSeconds(c.seconds)} after seeding`
          : c.status === 'no-rollups'
            ? '; no rollup tables'
            : `; rollups **${c.status}** (${c.detail})`;
      row(
        `seed to ${at} logs (SQL), rollup catch-up`,
        `+${fmtInt(s.seed.rows)} logs in ${fmtSeconds(s.seed.seconds)} (${fmtInt(s.seed.rows / s.seed.seconds)} logs/s)${catchUp}`,
        '',
        '',
        '',
        '',
      );
    }
    const isTarget = s.target >= 10_000_000;
    const ratio = s.api && s.raw ? s.raw.p50 / s.api.p50 : NaN;
    if (s.apiCold) scaleP50.set(s.target, s.apiCold.p50);
    const analyzed = s.analyzed?.length
      ? `with statistics only on ${s.analyzed.join(', ')}`
      : 'no table analysed';
    row(
      `usageStats (summary, byPeriod DAY, byAlias, byModel, byOrigin), ${at} logs, **no manual ANALYZE** (${analyzed})`,
      timingCell(s.apiCold, 'over HTTP'),
      '',
      '',
      'p50 < 50 ms (issue 15)',
      met(s.apiCold ? s.apiCold.p50 < 50 : undefined),
    );
    row(
      `usageStats, same call, ${at} logs, after ANALYZE and VACUUM`,
      timingCell(s.api, 'over HTTP'),
      s.raw ? timingCell(s.raw, '(5 GROUP BY scans, sequential)') : 'not measured',
      s.raw ? `raw ÷ API ${fmtRatio(ratio)}` : 'n/a',
      isTarget ? 'p50 < 50 ms and ≥ 50x raw (issue 5)' : '',
      isTarget ? met(s.api && s.raw ? s.api.p50 < 50 && ratio >= 50 : undefined) : '',
    );
    if (s.byZone) {
      row(
        `usageStats, byPeriod DAY in ${'Europe/Berlin'}, ${at} logs, after ANALYZE`,
        timingCell(s.byZone, 'over HTTP'),
        '',
        '',
        '',
        '',
      );
    }
    if (s.byAliasCold && s.byFeatureCold) {
      const r = s.byFeatureCold.p50 / s.byAliasCold.p50;
      row(
        `breakdown by a promoted metadata key (feature) vs by alias, ${at} logs, no manual ANALYZE`,
        `${timingCell(s.byFeatureCold, 'by feature')} · ${timingCell(s.byAliasCold, 'by alias')}`,
        '',
        `feature ÷ alias ${fmtRatio(r)}`,
        at === '1M' ? '≤ 2x (issue 15)' : '',
        at === '1M' ? met(r <= 2) : '',
      );
    }
    if (s.featureMismatches) {
      row(
        `breakdown by feature = raw scan of usage_logs.dimensions, ${at}`,
        s.featureMismatches.length === 0
          ? 'identical (every group)'
          : s.featureMismatches.slice(0, 3).join('; '),
        '',
        '',
        'exact',
        s.featureMismatches.length === 0 ? 'PASS' : '**FAIL**',
      );
    }
    if (s.fresh) {
      row(
        `same call right after +1,000 logs (logUsageBatch), ${at}`,
        `${s.fresh.ms.map(fmtMs).join(', ')}; ${s.fresh.detail}`,
        '',
        '',
        'all 1,000 counted',
        s.fresh.pass ? 'PASS' : '**FAIL**',
      );
    }
    if (s.mismatches) {
      row(
        `API answer = raw scans' answer, ${at}`,
        s.mismatches.length === 0
          ? `identical (${fmtInt(s.logs ?? NaN)} logs; every group's requests, tokens, cost)`
          : `${s.mismatches.length} differences: ${s.mismatches.slice(0, 3).join('; ')}`,
        '',
        '',
        'exact',
        s.mismatches.length === 0 ? 'PASS' : '**FAIL**',
      );
    }
    if (s.error) row(`usageStats, ${at}: problem`, s.error, '', '', '', '');
  }
  if (res.skipped10M) {
    row(
      'usageStats, 10M logs',
      'skipped in quick mode (`npm run bench:full` measures it)',
      '',
      '',
      'p50 < 50 ms, no manual ANALYZE too',
      'n/a',
    );
  }
  const p1 = scaleP50.get(1_000_000);
  const p10 = scaleP50.get(10_000_000);
  row(
    'usageStats p50, no manual ANALYZE, 10M ÷ 1M',
    p1 !== undefined && p10 !== undefined
      ? fmtRatio(p10 / p1)
      : res.skipped10M
        ? 'skipped in quick mode'
        : 'not measured',
    '',
    '',
    '≤ 2x',
    met(p1 !== undefined && p10 !== undefined ? p10 / p1 <= 2 : undefined),
  );

  if (res.pglite) {
    row(
      `embedded PGlite: logUsage, ${res.pglite.concurrency} clients`,
      `${loadCell(res.pglite)} · RSS peak ${res.pglite.rssPeakMb.toFixed(0)} MB`,
      '',
      '',
      '',
      '',
    );
  }

  const header = ['Measure', 'llmring-server', 'Raw Postgres, same run', 'Ratio', 'Target (issue)', 'Met'];
  const esc = (c: string) => c.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const table = [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];

  const out: string[] = [];
  out.push(
    `## llmring-server bench (${res.mode} mode), ${res.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
  );
  out.push(...table, '');
  out.push(`Command: \`${res.command}\`${res.seconds ? `, ${res.seconds.toFixed(0)} s in all` : ''}.`, '');
  out.push(...res.environment.map((e) => `- ${e}`));
  out.push(...res.settings.map((e) => `- ${e}`));
  for (const s of res.serverLog) {
    if (s.lines.length === 0) continue;
    out.push(
      `- ${s.server} server logged (warn and above, with counts): ${s.lines
        .slice(0, 6)
        .map((l) => `${l.level} ×${l.count}: ${l.message}`)
        .join('; ')}`,
    );
  }
  if (res.failures.length) {
    out.push('', '**Failures:**', ...res.failures.map((f) => `- ${f}`));
  }
  return `${out.join('\n')}\n`;
}
