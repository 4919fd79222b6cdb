/**
 * The admin's view of prices: what the server charges per million tokens now, for the chosen
 * project or every project, and where each price comes from (the registry or the operator's price
 * book), with a book-priced model's history. Loaded only when opened: it is not part of a refresh.
 */
import { ApiError, loadPriceHistory, loadPrices, type ModelPrice, type PriceBookEntry } from './api';
import { byId, h, muted } from './dom';
import { formatDateTime, formatInt, formatUsdExact } from './format';
import { renderTable, type Column } from './table';

export interface PricesContext {
  secret: () => string | null;
  /** The project chosen in the filter bar; null for every project. */
  projectId: () => string | null;
  timeZone: () => string;
  /** Called when the key stopped working. */
  onAuthError: (message: string) => void;
}

export interface PricesView {
  /** After a refresh: reloads when open and the project changed. */
  update(): void;
  /** Forgets what was loaded (signing out). */
  reset(): void;
}

const price = (value: string | null): string | Node => (value === null ? muted('–') : formatUsdExact(value));
const priceValue = (value: string | null): number => (value === null ? -1 : Number(value));

/** The columns of the prices every table here shows, from a row's Decimal strings. */
function priceColumns<R>(
  of: (
    row: R,
  ) => Record<
    'input' | 'output' | 'cachedInput' | 'cacheWrite' | 'cacheWrite1h' | 'reasoning',
    string | null
  >,
): Column<R>[] {
  const columns: Array<[keyof ReturnType<typeof of>, string]> = [
    ['input', 'Input'],
    ['output', 'Output'],
    ['cachedInput', 'Cached input'],
    ['cacheWrite', 'Cache write 5m'],
    ['cacheWrite1h', 'Cache write 1h'],
    ['reasoning', 'Reasoning'],
  ];
  return columns.map(([key, label]) => ({
    key,
    label,
    numeric: true,
    render: (r) => price(of(r)[key]),
    value: (r) => priceValue(of(r)[key]),
    dataValue: (r) => of(r)[key] ?? '',
  }));
}

function longContext(threshold: number | null, input: string | null, output: string | null): string | Node {
  if (threshold === null || (input === null && output === null)) return muted('–');
  return `above ${formatInt(threshold)} input tokens: ${input === null ? '–' : formatUsdExact(input)} in, ${
    output === null ? '–' : formatUsdExact(output)
  } out`;
}

export function createPricesView(context: PricesContext): PricesView {
  const details = byId<HTMLDetailsElement>('prices-details');
  const search = byId<HTMLInputElement>('price-search');
  const bookOnly = byId<HTMLInputElement>('price-book-only');
  const status = byId('prices-status');
  const host = byId('prices-table-host');
  const history = byId('price-history');
  let rows: ModelPrice[] = [];
  let loadedFor: string | null | undefined;
  let generation = 0;

  async function load(): Promise<void> {
    const secret = context.secret();
    if (!secret) return;
    const projectId = context.projectId();
    const mine = ++generation;
    loadedFor = projectId;
    status.textContent = 'Loading prices…';
    try {
      const prices = await loadPrices(secret, projectId);
      if (mine !== generation) return;
      rows = prices;
      history.hidden = true;
      history.replaceChildren();
      render();
    } catch (err) {
      if (mine !== generation) return;
      loadedFor = undefined;
      if (err instanceof ApiError && err.kind === 'auth') return context.onAuthError(err.message);
      status.textContent = `Could not load the prices: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  function render(): void {
    const needle = search.value.trim().toLowerCase();
    const shown = rows.filter(
      (r) =>
        (!bookOnly.checked || r.source === 'PRICE_BOOK') &&
        (!needle || `${r.provider} ${r.model}`.toLowerCase().includes(needle)),
    );
    const book = rows.filter((r) => r.source === 'PRICE_BOOK').length;
    status.textContent =
      `${formatInt(shown.length)} of ${formatInt(rows.length)} models shown; ` +
      `${formatInt(book)} priced from the price book.`;
    const columns: Column<ModelPrice>[] = [
      { key: 'provider', label: 'Provider', render: (r) => r.provider, value: (r) => r.provider },
      { key: 'model', label: 'Model', render: (r) => r.model, value: (r) => r.model },
      {
        key: 'source',
        label: 'Source',
        render: (r) => {
          if (r.source !== 'PRICE_BOOK') return h('span', { class: 'source source-registry' }, 'registry');
          const button = h(
            'button',
            {
              type: 'button',
              class: 'link',
              'aria-label': `Price-book history of ${r.model} (${r.provider})`,
            },
            'history',
          );
          button.addEventListener('click', () => void showHistory(r));
          return h(
            'span',
            {},
            h(
              'span',
              { class: 'source source-price_book' },
              `price book${r.priceBookVersion === null ? '' : ` v${r.priceBookVersion}`}`,
            ),
            ' ',
            button,
          );
        },
        value: (r) => r.source,
      },
      ...priceColumns<ModelPrice>((r) => r.prices),
      {
        key: 'long',
        label: 'Long context',
        render: (r) =>
          longContext(r.longContextThresholdTokens, r.prices.inputLongContext, r.prices.outputLongContext),
        value: (r) => r.longContextThresholdTokens ?? -1,
      },
    ];
    renderTable(host, {
      id: 'prices-table',
      caption: 'Prices in effect now, USD per million tokens',
      columns,
      rows: shown,
      rowKey: (r) => JSON.stringify([r.provider, r.model]),
      defaultSort: { key: 'provider', descending: false },
      empty: rows.length ? 'No model matches' : 'No prices',
    });
  }

  async function showHistory(model: ModelPrice): Promise<void> {
    const secret = context.secret();
    if (!secret) return;
    history.hidden = false;
    const title = h(
      'h3',
      { id: 'price-history-title', tabindex: -1 },
      `Price-book history of ${model.model} (${model.provider})`,
    );
    // The title keeps the focus while what follows it changes.
    const body = h('div', {}, h('p', { class: 'note' }, 'Loading…'));
    history.replaceChildren(title, body);
    title.focus();
    let entries: PriceBookEntry[];
    try {
      entries = await loadPriceHistory(secret, model.provider, model.model, context.projectId());
    } catch (err) {
      if (err instanceof ApiError && err.kind === 'auth') return context.onAuthError(err.message);
      body.replaceChildren(
        h('p', { class: 'error' }, `Could not load it: ${err instanceof Error ? err.message : String(err)}`),
      );
      return;
    }
    const zone = context.timeZone();
    const columns: Column<PriceBookEntry>[] = [
      {
        key: 'from',
        label: 'From',
        render: (e) => formatDateTime(e.effectiveFrom, zone),
        value: (e) => e.effectiveFrom,
      },
      {
        key: 'to',
        label: 'Until',
        render: (e) => (e.effectiveTo ? formatDateTime(e.effectiveTo, zone) : muted('open-ended')),
        value: (e) => e.effectiveTo ?? '9999',
      },
      {
        key: 'scope',
        label: 'Applies to',
        render: (e) => (e.project ? `${e.project.name} (${e.project.key})` : 'every project'),
        value: (e) => e.project?.key ?? '',
      },
      ...priceColumns<PriceBookEntry>((e) => ({
        input: e.inputPerMillion,
        output: e.outputPerMillion,
        cachedInput: e.cachedInputPerMillion,
        cacheWrite: e.cacheWritePerMillion,
        cacheWrite1h: e.cacheWrite1hPerMillion,
        reasoning: e.reasoningPerMillion,
      })),
      {
        key: 'long',
        label: 'Long context',
        render: (e) =>
          longContext(
            e.longContextThresholdTokens,
            e.inputLongContextPerMillion,
            e.outputLongContextPerMillion,
          ),
        value: (e) => e.longContextThresholdTokens ?? -1,
      },
      {
        key: 'version',
        label: 'Version',
        numeric: true,
        render: (e) => formatInt(e.version),
        value: (e) => e.version,
      },
      { key: 'note', label: 'Note', render: (e) => e.note ?? muted('–'), value: (e) => e.note ?? '' },
    ];
    const table = h('div');
    const close = h('button', { type: 'button', class: 'button-secondary small' }, 'Close the history');
    close.addEventListener('click', () => {
      history.hidden = true;
      history.replaceChildren();
      search.focus();
    });
    body.replaceChildren(
      h('p', { class: 'note' }, `Times in ${zone}. Logs priced from an entry say price-book@<version>.`),
      table,
      close,
    );
    renderTable(table, {
      id: 'price-history-table',
      caption: `Price-book entries of ${model.model}, oldest first`,
      columns,
      rows: entries,
      rowKey: (e) => e.id,
      defaultSort: { key: 'from', descending: false },
      empty: 'No entries',
    });
  }

  details.addEventListener('toggle', () => {
    if (details.open && loadedFor !== context.projectId()) void load();
  });
  search.addEventListener('input', render);
  bookOnly.addEventListener('change', render);

  return {
    update() {
      if (details.open && loadedFor !== context.projectId()) void load();
    },
    reset() {
      generation++;
      rows = [];
      loadedFor = undefined;
      details.open = false;
      host.replaceChildren();
      history.hidden = true;
      history.replaceChildren();
      status.textContent = '';
    },
  };
}
