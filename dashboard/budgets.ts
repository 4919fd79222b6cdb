/**
 * Budgets: each budget's spending in its current period as a progress bar, with its
 * thresholds, what is left and the forecast for the period's end; and, for the admin, the
 * webhooks' latest deliveries. Reloaded with every refresh (a budget's status counts calls
 * stored a moment ago). Hidden when there is no budget and no delivery.
 */
import { ApiError, loadBudgets, type BudgetRow, type DeliveryRow } from './api';
import { byId, h, muted } from './dom';
import { formatDateTime, formatInt, formatUsdDecimal } from './format';
import { renderTable } from './table';

export interface BudgetsContext {
  secret: () => string | null;
  /** The project chosen in the filter bar; null for every project (or a key's own). */
  projectId: () => string | null;
  admin: () => boolean;
  timeZone: () => string;
  onAuthError: (message: string) => void;
}

export interface BudgetsView {
  update(): void;
  reset(): void;
}

const PERIOD_NAMES: Record<BudgetRow['period'], string> = {
  DAY: 'today',
  WEEK: 'this week',
  MONTH: 'this month',
  TOTAL: 'in total',
};

function placed(el: HTMLElement, property: 'width' | 'left', percent: number): HTMLElement {
  el.style[property] = `${percent.toFixed(2)}%`;
  return el;
}

/** 'WEBHOOK_TEST' as the event is named on the wire: 'webhook.test'. */
const eventName = (type: string): string => type.toLowerCase().replace('_', '.');

function progress(b: BudgetRow): HTMLElement {
  const percent = b.status.percent;
  const over = percent >= 100;
  const bar = h(
    'div',
    {
      class: `budget-bar${over ? ' over' : ''}`,
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': Math.min(100, Math.round(percent)),
      'aria-label': `${b.name}: ${percent.toFixed(1)}% of the budget spent ${PERIOD_NAMES[b.period]}`,
    },
    // Widths and positions through the CSSOM: the page's CSP refuses style attributes.
    placed(h('span', { class: 'budget-fill' }), 'width', Math.min(100, percent)),
    // A tick per threshold within the bar, darker once crossed.
    ...b.thresholds
      .filter((t) => t <= 100)
      .map((t) =>
        placed(
          h('span', {
            class: `budget-tick${b.status.thresholdsCrossed.includes(t) ? ' crossed' : ''}`,
            title: `${t}%`,
          }),
          'left',
          t,
        ),
      ),
  );
  return bar;
}

function budgetCard(b: BudgetRow, timeZone: string, showProject: boolean): HTMLElement {
  const s = b.status;
  const period = s.periodEnd
    ? `${formatDateTime(s.periodStart, timeZone)} – ${formatDateTime(s.periodEnd, timeZone)}`
    : `since ${formatDateTime(s.periodStart, timeZone)}`;
  const crossed = s.thresholdsCrossed.length
    ? `thresholds crossed: ${s.thresholdsCrossed.map((t) => `${t}%`).join(', ')}`
    : `thresholds: ${b.thresholds.map((t) => `${t}%`).join(', ')}`;
  return h(
    'li',
    { class: 'budget' },
    h(
      'div',
      { class: 'budget-head' },
      h('strong', {}, b.name),
      showProject ? muted(` ${b.project.key}`) : null,
      h(
        'span',
        { class: 'budget-amount' },
        `${formatUsdDecimal(s.spent)} of ${formatUsdDecimal(b.amount)} ${PERIOD_NAMES[b.period]} (${s.percent.toFixed(1)}%)`,
      ),
    ),
    progress(b),
    h(
      'p',
      { class: 'budget-meta' },
      `${period} (${b.timeZone}) · ${crossed}`,
      s.forecast === null ? null : ` · forecast at period end ${formatUsdDecimal(s.forecast)}`,
    ),
  );
}

function deliveriesTable(rows: DeliveryRow[], timeZone: string): HTMLElement {
  const host = h('div', {});
  renderTable<DeliveryRow>(host, {
    id: 'deliveries',
    caption: 'Latest webhook deliveries, newest first',
    rows,
    rowKey: (d) => d.id,
    defaultSort: { key: 'createdAt', descending: true },
    columns: [
      {
        key: 'createdAt',
        label: 'Queued',
        render: (d) => formatDateTime(d.createdAt, timeZone),
        value: (d) => d.createdAt,
      },
      {
        key: 'eventType',
        label: 'Event',
        render: (d) => eventName(d.eventType),
        value: (d) => d.eventType,
      },
      { key: 'url', label: 'Webhook', render: (d) => d.url, value: (d) => d.url },
      {
        key: 'status',
        label: 'Status',
        render: (d) =>
          h('span', { class: `delivery delivery-${d.status.toLowerCase()}` }, d.status.toLowerCase()),
        value: (d) => d.status,
      },
      {
        key: 'attempts',
        label: 'Attempts',
        numeric: true,
        render: (d) => formatInt(d.attempts),
        value: (d) => d.attempts,
      },
      {
        key: 'answer',
        label: 'Last answer',
        render: (d) => (d.lastStatusCode ? String(d.lastStatusCode) : (d.lastError ?? muted('–'))),
        value: (d) => d.lastStatusCode ?? -1,
      },
    ],
  });
  return host;
}

export function createBudgetsView(context: BudgetsContext): BudgetsView {
  const section = byId('budgets-section');
  const list = byId('budgets-list');
  const deliveriesHost = byId('deliveries-host');
  let generation = 0;

  async function load(): Promise<void> {
    const secret = context.secret();
    if (!secret) return;
    const mine = ++generation;
    try {
      const { budgets, deliveries } = await loadBudgets(secret, context.projectId(), context.admin());
      if (mine !== generation) return;
      const zone = context.timeZone();
      section.hidden = budgets.length === 0 && deliveries.length === 0;
      list.replaceChildren(...budgets.map((b) => budgetCard(b, zone, context.admin())));
      if (budgets.length === 0) list.replaceChildren(h('li', {}, muted('No budgets for this project yet.')));
      deliveriesHost.replaceChildren(
        ...(context.admin()
          ? [
              h('h3', {}, 'Latest webhook deliveries'),
              deliveries.length ? deliveriesTable(deliveries, zone) : muted('No deliveries yet.'),
            ]
          : []),
      );
    } catch (err) {
      if (mine !== generation) return;
      if (err instanceof ApiError && err.kind === 'auth') return context.onAuthError(err.message);
      section.hidden = false;
      list.replaceChildren(
        h('li', {}, `Could not load the budgets: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
  }

  return {
    update: () => void load(),
    reset() {
      generation++;
      section.hidden = true;
      list.replaceChildren();
      deliveriesHost.replaceChildren();
    },
  };
}
