/**
 * Exports stream, whatever their size (issue 20): every surface (CLI, HTTP, the service the
 * scheduled exports call) reads usage logs in keyset pages of at most EXPORT_PAGE_ROWS rows,
 * turns them into text EXPORT_CHUNK_ROWS rows at a time, and reads the next rows only when
 * the output has taken what came before; Parquet row groups have a bounded size. Checked on
 * the real database by counting what each statement returned (Knex's query-response events),
 * not by timing or by measuring memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { EXPORT_CHUNK_ROWS, EXPORT_PAGE_ROWS } from '../../src/domain/limits';
import { writeFocusParquet } from '../../src/export/focusParquet';
import { runCli } from '../../src/cli/program';
import { cliRunner } from '../helpers/cli';
import { asAdmin, startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;
let db: Knex;
let tmp: string;
const cli = cliRunner(() => db);

// Two projects, so that pages restart at a project's first log: 2.4 pages and a short one.
const LOGS = { a: 2 * EXPORT_PAGE_ROWS + 234, b: 170 };
const TOTAL = LOGS.a + LOGS.b;
const START = Date.parse('2026-03-01T00:00:00Z');

beforeAll(async () => {
  server = await startTestServer();
  db = server.app.services.db;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-streaming-'));
  const { services } = server.app;
  let n = 0;
  for (const [key, count] of Object.entries(LOGS)) {
    const project = await services.projects.create({ key: `stream-${key}`, name: `Stream ${key}` });
    const inputs = Array.from({ length: count }, () => ({
      provider: 'openai',
      model: 'gpt-4o-mini',
      aliasName: `alias-${n % 7}`,
      inputTokens: 100 + n,
      outputTokens: 10,
      cost: 0.001,
      occurredAt: new Date(START + n++ * 1000),
    }));
    for (let i = 0; i < inputs.length; i += 500) {
      await services.usage.recordBatch({ project, apiKeyId: null }, inputs.slice(i, i + 500));
    }
  }
});
afterAll(async () => {
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * How many usage logs each statement returned while `action` ran (statements returning none
 * left out); `action` may look at the list as it grows.
 */
async function logRowsPerStatement<T>(
  action: (pages: readonly number[]) => Promise<T>,
): Promise<{ pages: number[]; result: T }> {
  const pages: number[] = [];
  const listener = (response: unknown) => {
    const rows = Array.isArray(response) ? response : [];
    if (rows.length > 0 && typeof rows[0] === 'object' && rows[0] !== null && 'input_tokens' in rows[0]) {
      pages.push(rows.length);
    }
  };
  db.on('query-response', listener);
  try {
    return { pages, result: await action(pages) };
  } finally {
    db.removeListener('query-response', listener);
  }
}

const ARGS = ['--start', '2026-03-01', '--end', '2026-03-31'];

function expectPaged(pages: number[]): void {
  expect(Math.max(...pages)).toBeLessThanOrEqual(EXPORT_PAGE_ROWS);
  // Each log read once: no page read twice, none skipped.
  expect(pages.reduce((a, b) => a + b, 0)).toBe(TOTAL);
}

test.each([['csv'], ['jsonl'], ['focus'], ['focus-parquet']])(
  'export --format %s reads the logs in pages of at most EXPORT_PAGE_ROWS',
  async (format) => {
    const file = path.join(tmp, `all.${format}`);
    const { pages, result } = await logRowsPerStatement(() =>
      cli('export', '--format', format, ...ARGS, '-o', file),
    );
    expect(result.err).toContain(`Exported ${TOTAL.toLocaleString('en-US')} usage logs to ${file}.`);
    expect(result.code).toBe(0);
    expectPaged(pages);
  },
);

test('--batch-size sets the page, up to 10,000 rows', async () => {
  const file = path.join(tmp, 'paged.csv');
  const { pages, result } = await logRowsPerStatement(() =>
    cli('export', ...ARGS, '--batch-size', '300', '-o', file),
  );
  expect(result.code).toBe(0);
  expect(Math.max(...pages)).toBe(300);
  const big = await cli('export', ...ARGS, '--batch-size', '10001', '-o', file);
  expect(big.code).toBe(2);
  expect(big.err).toContain('--batch-size: must be an integer from 1 to 10000');
});

test.each([['csv'], ['jsonl'], ['focus']])(
  'export --format %s to stdout: EXPORT_CHUNK_ROWS lines a write, none before the last one drained',
  async (format) => {
    const lines: number[] = [];
    let draining: (() => void) | undefined;
    let writesWhileFull = 0;
    const { pages, result } = await logRowsPerStatement(async (sofar) => {
      // A pipe that is always full: every write asks the writer to wait for 'drain'.
      const stdout = {
        write: (text: string) => {
          if (draining) writesWhileFull++;
          lines.push(text.split('\n').length - 1);
          const written = lines.reduce((a, b) => a + b, 0) - (format === 'jsonl' ? 0 : 1);
          expect(sofar.reduce((a, b) => a + b, 0) - written).toBeLessThan(EXPORT_PAGE_ROWS);
          draining = () => undefined;
          setImmediate(() => {
            const drained = draining;
            draining = undefined;
            drained?.();
          });
          return false;
        },
        once: (_event: 'drain', listener: () => void) => {
          draining = listener;
        },
      };
      let err = '';
      const code = await runCli(['export', '--format', format, ...ARGS], {
        stdout,
        stderr: { write: (t: string) => ((err += t), true), once: () => undefined },
        env: { LLMRING_ENV: 'test' },
        db,
        confirm: async () => false,
      });
      return { code, err };
    });
    expect(result.code).toBe(0);
    expectPaged(pages);
    expect(writesWhileFull).toBe(0);
    const [first, ...rest] = lines;
    expect(first).toBe(format === 'jsonl' ? EXPORT_CHUNK_ROWS : 1); // CSV: the header alone
    expect(Math.max(...rest)).toBe(EXPORT_CHUNK_ROWS);
    expect(lines.reduce((a, b) => a + b, 0)).toBe(TOTAL + (format === 'jsonl' ? 0 : 1));
  },
);

test('GET /v1/exports/focus reads in pages too, CSV and Parquet', async () => {
  for (const format of ['csv', 'parquet']) {
    const { pages, result } = await logRowsPerStatement(async () => {
      const res = await server.http(
        `/v1/exports/focus?start_date=2026-03-01&end_date=2026-03-31&format=${format}`,
        { headers: asAdmin },
      );
      expect(res.status).toBe(200);
      return res.arrayBuffer();
    });
    expectPaged(pages);
    if (format === 'parquet') {
      expect(await parquetReadObjects({ file: result })).toHaveLength(TOTAL);
    }
  }
});

test('FOCUS CSV comes in chunks of EXPORT_CHUNK_ROWS rows, and no page is read before the output takes the last', async () => {
  const { exports } = server.app.services;
  let handedOver = 0;
  const chunkRows: number[] = [];
  const { pages } = await logRowsPerStatement(async (sofar) => {
    const chunks = exports.focusCsvChunks(
      { projectIds: null, start: new Date(START), end: new Date(START + 86_400_000) },
      { onRow: () => handedOver++ },
    );
    let read = 0;
    let before = 0;
    for await (const text of chunks) {
      if (before === 0 && handedOver === 0) {
        expect(text).toMatch(/^BilledCost,/); // the header, alone
      } else {
        chunkRows.push(handedOver - before);
        expect(text.split('\n').length - 1).toBe(handedOver - before);
      }
      before = handedOver;
      read = sofar.reduce((a, b) => a + b, 0);
      // Read ahead of what the output has taken by less than one page, at any moment.
      expect(read - handedOver).toBeLessThan(EXPORT_PAGE_ROWS);
    }
    expect(read).toBe(TOTAL);
  });
  expectPaged(pages);
  expect(Math.max(...chunkRows)).toBe(EXPORT_CHUNK_ROWS);
  expect(chunkRows.reduce((a, b) => a + b, 0)).toBe(TOTAL);
});

test('Parquet: rows go into row groups of a bounded size as they are read, never read ahead', async () => {
  const { exports } = server.app.services;
  const file = path.join(tmp, 'groups.parquet');
  const q = { projectIds: null, start: new Date(START), end: new Date(START + 86_400_000) };
  let stored = 0;
  await logRowsPerStatement(async (sofar) => {
    // onRow sees each row as it is put in the row group being filled.
    await writeFocusParquet(
      file,
      exports.focusRows(q),
      () => {
        stored++;
        expect(sofar.reduce((a, b) => a + b, 0) - stored).toBeLessThan(EXPORT_PAGE_ROWS);
      },
      300,
    );
  });
  expect(stored).toBe(TOTAL);
  const bytes = fs.readFileSync(file);
  const metadata = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const groups = metadata.row_groups.map((g) => Number(g.num_rows));
  expect(groups).toEqual([...Array(Math.floor(TOTAL / 300)).fill(300), TOTAL % 300]);
});
