/**
 * The latest calls and their receipts, each verifiable; a call's bill (what it was charged per
 * token type, and from which prices) and its signed re-pricings in a detail row.
 */
import { verifyReceipt, type LogRow } from './api';
import { h, muted } from './dom';
import {
  COST_SOURCE_LABELS,
  formatDateTime,
  formatInt,
  formatUsdDecimal,
  formatUsdExact,
  INPUT_PARTS,
  NO_ALIAS,
  OUTPUT_PARTS,
  TOKEN_TYPE_LABELS,
} from './format';

/** A Verify button for a signed document (a receipt or an adjustment) and where its answer goes. */
function verifyButton(document: Record<string, unknown>, label: string): Node {
  const output = h('output', { class: 'verify-result' });
  const button = h(
    'button',
    { type: 'button', class: 'button-secondary small', 'aria-label': label },
    'Verify',
  );
  button.addEventListener('click', async () => {
    button.disabled = true;
    output.className = 'verify-result';
    output.textContent = 'Checking…';
    try {
      const result = await verifyReceipt(document);
      output.className = `verify-result ${result.valid ? 'ok' : 'bad'}`;
      output.replaceChildren(
        result.valid ? '✓ Valid signature' : '✗ Invalid signature',
        h(
          'span',
          { class: 'detail' },
          result.valid ? `key ${result.keyId ?? '?'}` : (result.reason ?? 'no reason given'),
        ),
      );
    } catch (err) {
      output.className = 'verify-result bad';
      output.textContent = `Could not check: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      button.disabled = false;
    }
  });
  return h('div', { class: 'verify' }, button, output);
}

function verifyCell(log: LogRow): Node {
  if (!log.receipt) return muted('no receipt');
  return verifyButton(log.receipt.document, `Verify receipt ${log.receipt.receiptId}`);
}

/** The word for a CostSource; an unknown value as the server sent it. */
const sourceLabel = (source: string): string => COST_SOURCE_LABELS[source] ?? source;

function costCell(log: LogRow): Node {
  return h(
    'span',
    { class: 'tokens' },
    formatUsdDecimal(log.costDecimal),
    log.originalCost !== null
      ? h(
          'span',
          { class: 'parts', 'data-part': 'originalCost', 'data-value': log.originalCost },
          `re-priced, was ${formatUsdDecimal(log.originalCost)}`,
        )
      : null,
  );
}

/** What the call was charged and why: the bill's lines, and the re-pricings since. */
function billDetail(log: LogRow, timeZone: string): Node {
  const p = log.pricing;
  const about =
    log.costSource === 'CLIENT'
      ? 'The client sent this cost: the server charged no prices of its own.'
      : log.costSource === 'UNPRICED'
        ? 'No price is known for this model: the call costs nothing until it is re-priced.'
        : p
          ? `Priced from ${p.source === 'PRICE_BOOK' ? 'the price book' : 'the model registry'}` +
            `${p.version ? `, ${p.version}` : ''}.` +
            (p.longContext ? ' Long-context prices applied to the whole call.' : '')
          : `Priced by the ${sourceLabel(log.costSource)}; the prices are not known.`;
  const lines = p?.lines.length
    ? h(
        'table',
        { class: 'data bill-lines' },
        h('caption', { class: 'visually-hidden' }, 'The bill: one line per token type'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Token type'),
            h('th', { scope: 'col', class: 'num' }, 'Tokens'),
            h('th', { scope: 'col', class: 'num' }, 'USD per million'),
            h('th', { scope: 'col', class: 'num' }, 'Amount'),
          ),
        ),
        h(
          'tbody',
          {},
          ...p.lines.map((l) =>
            h(
              'tr',
              { 'data-type': l.type },
              h('th', { scope: 'row' }, TOKEN_TYPE_LABELS[l.type] ?? l.type),
              h('td', { class: 'num', 'data-value': l.tokens }, formatInt(l.tokens)),
              h('td', { class: 'num', 'data-value': l.perMillion }, formatUsdExact(l.perMillion)),
              h('td', { class: 'num', 'data-value': l.amount }, formatUsdExact(l.amount)),
            ),
          ),
        ),
        h(
          'tfoot',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'row', colspan: 3 }, 'Cost (the sum, rounded half-up to 8 decimals)'),
            h('td', { class: 'num', 'data-value': log.costDecimal }, formatUsdExact(log.costDecimal)),
          ),
        ),
      )
    : null;
  const adjustments = log.adjustments.length
    ? h(
        'div',
        { class: 'adjustments' },
        h(
          'p',
          {},
          `Re-priced ${log.adjustments.length === 1 ? 'once' : `${log.adjustments.length} times`}: first charged `,
          h(
            'strong',
            { 'data-value': log.originalCost ?? '' },
            formatUsdExact(log.originalCost ?? log.costDecimal),
          ),
          ', now ',
          h('strong', {}, formatUsdExact(log.costDecimal)),
          '. The receipt keeps the first amount; each re-pricing is signed on its own.',
        ),
        h(
          'table',
          { class: 'data adjustments-table' },
          h('caption', { class: 'visually-hidden' }, 'Re-pricings of this call, oldest first'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...[
                'When',
                'Before',
                'After',
                'Difference',
                'Priced by',
                'Price book',
                'Adjustment',
                'Signature',
              ].map((x, i) => h('th', { scope: 'col', class: i >= 1 && i <= 3 ? 'num' : null }, x)),
            ),
          ),
          h(
            'tbody',
            {},
            ...log.adjustments.map((a) =>
              h(
                'tr',
                { 'data-key': a.adjustmentId },
                h('th', { scope: 'row' }, formatDateTime(a.createdAt, timeZone)),
                h('td', { class: 'num', 'data-value': a.previousCost }, formatUsdExact(a.previousCost)),
                h('td', { class: 'num', 'data-value': a.newCost }, formatUsdExact(a.newCost)),
                h(
                  'td',
                  { class: 'num', 'data-value': a.difference },
                  formatUsdExact(a.difference, undefined, true),
                ),
                h('td', {}, sourceLabel(a.costSource)),
                h('td', {}, `version ${formatInt(a.priceBookVersion)}`),
                h('td', {}, h('code', {}, a.adjustmentId)),
                h(
                  'td',
                  { class: 'signature' },
                  verifyButton(a.document, `Verify adjustment ${a.adjustmentId}`),
                ),
              ),
            ),
          ),
        ),
      )
    : null;
  return h('div', { class: 'bill' }, h('p', { class: 'bill-about' }, about), lines, adjustments);
}

let detailCount = 0;

/**
 * The latest calls: a table that "Show more" appends to. Each call has a detail row, opened by a
 * disclosure button first in its row, with its bill and its re-pricings.
 */
export function renderLogs(
  host: HTMLElement,
  logs: LogRow[],
  options: { append: boolean; admin: boolean; timeZone: string },
): void {
  const { append, admin, timeZone } = options;
  const headers: Array<[string, boolean] | null> = [
    ['Details', false],
    ['Time', false],
    admin ? ['Project', false] : null,
    ['Alias name', false],
    ['Model', false],
    ['Origin', false],
    ['Tokens in / out', true],
    ['Cost', true],
    ['Priced by', false],
    ['Receipt and signature', false],
  ];
  const columns = headers.filter((x) => x !== null);
  let body = host.querySelector<HTMLTableSectionElement>('#logs-table > tbody');
  if (!append || !body) {
    body = h('tbody');
    const table = h(
      'table',
      { id: 'logs-table', class: 'data logs' },
      h('caption', { class: 'visually-hidden' }, `Latest calls, newest first, times in ${timeZone}`),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...columns.map(([x, numeric]) => h('th', { scope: 'col', class: numeric ? 'num' : null }, x)),
        ),
      ),
      body,
    );
    host.replaceChildren(
      h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Latest calls' }, table),
    );
  }
  for (const log of logs) {
    const detailId = `log-detail-${++detailCount}`;
    const detail = h(
      'tr',
      { class: 'log-detail', id: detailId, 'data-detail-for': log.id, hidden: true },
      h('td', { colspan: columns.length }, billDetail(log, timeZone)),
    );
    // A disclosure button first in the row, so that opening it never scrolls the table sideways.
    const toggle = h(
      'button',
      {
        type: 'button',
        class: 'button-secondary small details',
        'aria-expanded': 'false',
        'aria-controls': detailId,
        'aria-label': `Details of the call of ${formatDateTime(log.occurredAt, timeZone)}: its bill${log.adjustments.length ? ' and re-pricings' : ''}`,
      },
      h('span', { class: 'disclosure', 'aria-hidden': 'true' }, '▸'),
    );
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      detail.hidden = !open;
    });
    const source = log.costSource;
    body.append(
      h(
        'tr',
        { 'data-key': log.id },
        h('td', {}, toggle),
        h(
          'td',
          { class: 'nowrap' },
          h('time', { datetime: log.occurredAt }, formatDateTime(log.occurredAt, timeZone)),
        ),
        admin ? h('td', {}, h('code', {}, log.project.key)) : null,
        h('td', { class: 'text' }, log.aliasName ?? muted(NO_ALIAS)),
        h('td', { class: 'text' }, log.model, ' ', muted(log.provider)),
        h('td', { class: 'text' }, log.origin ?? muted('–')),
        h(
          'td',
          { class: 'num nowrap', 'data-column': 'tokens' },
          h(
            'span',
            { class: 'tokens' },
            `${formatInt(log.inputTokens)} / ${formatInt(log.outputTokens)}`,
            logParts(log),
          ),
        ),
        h('td', { class: 'num', 'data-column': 'cost', 'data-value': log.costDecimal }, costCell(log)),
        h(
          'td',
          { 'data-column': 'source', 'data-value': source },
          h(
            'span',
            { class: `source${source in COST_SOURCE_LABELS ? ` source-${source.toLowerCase()}` : ''}` },
            sourceLabel(source),
          ),
        ),
        h(
          'td',
          { class: 'signature' },
          log.receipt
            ? h(
                'code',
                {
                  class: 'receipt-id',
                  title: log.receipt.ledger
                    ? `${log.receipt.receiptId}: entry ${log.receipt.ledger.leafIndex} of the project's ledger`
                    : `${log.receipt.receiptId}: not in the project's ledger yet`,
                },
                log.receipt.receiptId,
              )
            : null,
          verifyCell(log),
        ),
      ),
      detail,
    );
  }
}

/** A log's token parts that are not zero, in one line under its tokens. */
function logParts(log: LogRow): Node | null {
  const parts = [...INPUT_PARTS, ...OUTPUT_PARTS].filter(([k]) => log[k] > 0);
  if (!parts.length) return null;
  return h(
    'span',
    { class: 'parts' },
    ...parts.flatMap(([k, label], i) => [
      i > 0 ? ' · ' : null,
      h('span', { 'data-part': k, 'data-value': log[k] }, `${formatInt(log[k])} ${label}`),
    ]),
  );
}
