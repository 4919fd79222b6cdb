/**
 * Charts. Cost and requests over time are drawn by uPlot (about 50 KB, canvas, no dependencies);
 * its canvas is described by an aria-label and the same numbers are in a table under it. Costs by
 * alias name, model and origin are ranked categories rather than series, so they are plain HTML
 * bars: sharp labels at any zoom, and the sortable table next to each holds the same numbers.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';
import { formatBucket, formatInt, formatUsd, formatUsdAxis } from './format';
import type { Bucket } from './time';

const COST_COLOR = '#2563eb';
const REQUESTS_COLOR = '#c2410c';
const GRID_COLOR = '#e5e7eb';
const AXIS_COLOR = '#4b5563';

/** Nominal bucket lengths, for spacing only (a month's is its average). */
const BUCKET_SECONDS: Record<Bucket, number> = { HOUR: 3600, DAY: 86_400, WEEK: 604_800, MONTH: 2_629_746 };

export interface TimeSeries {
  /** Bucket starts, in seconds since the epoch. */
  x: number[];
  cost: number[];
  requests: number[];
}

export interface TimeChart {
  update(series: TimeSeries, timeZone: string, bucket: Bucket, range: [number, number]): void;
  destroy(): void;
}

export function createTimeChart(host: HTMLElement, locale?: string): TimeChart {
  let plot: uPlot | null = null;
  let zone = 'UTC';
  let bucket: Bucket = 'DAY';
  const idle = '—'; // the legend's value while the pointer is not over the chart

  const axisFont = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  const options = (width: number): uPlot.Options => ({
    width,
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), zone),
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    legend: { live: true },
    scales: {
      x: { time: true },
      usd: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
      n: { range: (_u, _min, max) => [0, max > 0 ? Math.ceil(max * 1.1) : 1] },
    },
    series: [
      {
        label: { HOUR: 'Hour', DAY: 'Day', WEEK: 'Week', MONTH: 'Month' }[bucket],
        value: (_u, v) =>
          v == null ? idle : formatBucket(new Date(v * 1000).toISOString(), bucket, zone, locale),
      },
      {
        label: 'Cost',
        scale: 'usd',
        stroke: COST_COLOR,
        fill: 'rgba(37, 99, 235, 0.55)',
        width: 1,
        paths: uPlot.paths.bars!({ size: [0.7, 48], align: 0 }),
        points: { show: false },
        value: (_u, v) => (v == null ? idle : formatUsd(v, locale)),
      },
      {
        label: 'Requests',
        scale: 'n',
        stroke: REQUESTS_COLOR,
        width: 2,
        points: { show: true, size: 5, fill: REQUESTS_COLOR },
        value: (_u, v) => (v == null ? idle : formatInt(v, locale)),
      },
    ],
    axes: [
      { stroke: AXIS_COLOR, font: axisFont, grid: { stroke: GRID_COLOR, width: 1 }, ticks: { show: false } },
      {
        scale: 'usd',
        stroke: COST_COLOR,
        font: axisFont,
        size: 70,
        grid: { stroke: GRID_COLOR, width: 1 },
        ticks: { show: false },
        values: (_u, splits) => splits.map((v) => formatUsdAxis(v, locale)),
      },
      {
        scale: 'n',
        side: 1,
        stroke: REQUESTS_COLOR,
        font: axisFont,
        size: 56,
        grid: { show: false },
        ticks: { show: false },
        values: (_u, splits) => splits.map((v) => (Number.isInteger(v) ? formatInt(v, locale) : '')),
      },
    ],
  });

  const resize = new ResizeObserver(() => {
    if (plot) plot.setSize({ width: Math.max(host.clientWidth, 280), height: 260 });
  });
  resize.observe(host);

  return {
    update(series, timeZone, size, range) {
      zone = timeZone;
      bucket = size;
      plot?.destroy();
      const data: uPlot.AlignedData = [series.x, series.cost, series.requests];
      plot = new uPlot(options(Math.max(host.clientWidth, 280)), data, host);
      // Bars are centred on their bucket's start, under its tick label: half a bucket of room on
      // each side. The first week or month may start before the range does.
      const half = BUCKET_SECONDS[size] / 2;
      const first = Math.min(range[0], series.x[0] ?? range[0]);
      const last = Math.max(range[1] - 2 * half, series.x.at(-1) ?? range[0]);
      plot.setScale('x', { min: first - half, max: last + half });
    },
    destroy() {
      resize.disconnect();
      plot?.destroy();
      plot = null;
    },
  };
}

export interface Bar {
  label: string;
  value: number;
}

/** Horizontal bars of the most expensive categories; the table beside it holds every row. */
export function renderBars(
  host: HTMLElement,
  bars: Bar[],
  options: { limit?: number; locale?: string } = {},
): void {
  const limit = options.limit ?? 8;
  const top = [...bars].sort((a, b) => b.value - a.value).slice(0, limit);
  const max = Math.max(...top.map((b) => b.value), 0);
  const list = h('ol', { class: 'bars', 'aria-hidden': 'true' });
  for (const b of top) {
    const fill = h('span', { class: 'bar-fill' });
    fill.style.width = `${max > 0 ? Math.max((b.value / max) * 100, b.value > 0 ? 1 : 0) : 0}%`;
    list.append(
      h(
        'li',
        {},
        h('span', { class: 'bar-label', title: b.label }, b.label),
        h('span', { class: 'bar-track' }, fill),
        h('span', { class: 'bar-value' }, formatUsd(b.value, options.locale)),
      ),
    );
  }
  const more =
    bars.length > top.length
      ? h('p', { class: 'note' }, `Top ${top.length} of ${bars.length}; all in the table.`)
      : null;
  host.replaceChildren(list, ...(more ? [more] : []));
}
