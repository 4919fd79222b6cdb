/**
 * Pricing: hand-computed costs for real models of the shipped snapshot (generated from the
 * llmring registry of 2026-08-18), model matching, client costs, and a live registry that
 * changes, goes down, or serves garbage.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { PricingService, parsePriceTable, RegistryFormatError, type PriceTable } from '../src/pricing';
import snapshotJson from '../src/pricing/snapshot.json';
import { chargeLines } from '../src/pricing/formula';
import { PRICING_CASES } from './helpers/pricingCases';
import { createServiceHarness, seedProject } from './helpers/fixtures';

interface LogLine {
  level: number;
  msg: string;
}

function service(opts: { registryUrl?: string; snapshot?: PriceTable } = {}) {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (l: string) => void lines.push(JSON.parse(l) as LogLine) },
  );
  const pricing = new PricingService({ ...opts, ttlSeconds: 3600, logger });
  const warnings = () => lines.filter((l) => l.level === 40);
  return { pricing, warnings };
}

/** The prices a quote reports when only input, output and cached input are listed. */
const prices = (input: string, output: string, cached: string) => ({
  inputPerMillion: input,
  outputPerMillion: output,
  cachedInputPerMillion: cached,
  cacheWritePerMillion: input,
  cacheWrite1hPerMillion: input,
  reasoningPerMillion: output,
  longContext: false,
});

const calls = (
  provider: string,
  model: string,
  inputTokens: number,
  cachedInputTokens: number,
  outputTokens: number,
) => ({
  provider,
  model,
  inputTokens,
  outputTokens,
  cachedInputTokens,
});

describe('costs of real snapshot models, computed by hand', () => {
  const { pricing } = service();

  test('OpenAI gpt-4o-mini with cached tokens (cached-input price)', () => {
    // gpt-4o-mini: input 0.15, output 0.6, cached_input 0.075 per million.
    // (123457 - 23456) x 0.15 = 100001 x 0.15 = 15000.15
    // 23456 x 0.075                            =  1759.2
    // 7891 x 0.6                               =  4734.6
    // 21493.95 / 1,000,000                     = 0.02149395
    expect(pricing.quote(calls('openai', 'gpt-4o-mini', 123457, 23456, 7891))).toEqual({
      cost: '0.02149395',
      costSource: 'registry',
      prices: prices('0.15', '0.6', '0.075'),
      priceVersion: '2025-08-20/openai@7',
    });
  });

  test('OpenAI o4-mini: rounding is half-up on the exact value, at the end only', () => {
    // o4-mini: input 1.1, output 4.4, cached_input 0.275.
    // (7 - 3) x 1.1 = 4.4; 3 x 0.275 = 0.825; 1 x 4.4 = 4.4; sum 9.625
    // 9.625 / 1,000,000 = 0.000009625 -> 8 digits, half-up: 0.00000963
    // (in binary floating point 9.625e-6 is 9.62499...e-6 and would round down to 0.00000962)
    expect(pricing.quote(calls('openai', 'o4-mini', 7, 3, 1)).cost).toBe('0.00000963');
  });

  test('OpenAI gpt-4o-2024-05-13 lists no cached price: cached tokens cost the input price', () => {
    // gpt-4o-2024-05-13: input 5, output 15, no cached-input or cache-read price.
    // (1000 - 500) x 5 = 2500; 500 x 5 = 2500; 100 x 15 = 1500; 6500 / 1e6 = 0.0065
    // It is also an alias of gpt-4o-2024-08-06 (2.5/10/1.25); its own entry wins.
    expect(pricing.quote(calls('openai', 'gpt-4o-2024-05-13', 1000, 500, 100))).toMatchObject({
      cost: '0.00650000',
      prices: prices('5', '15', '5'),
    });
  });

  test('Google gemini-2.5-flash with cached tokens (cache-read price = cached-input price)', () => {
    // gemini-2.5-flash: input 0.3, output 2.5, cached_input 0.03, cache_read 0.03.
    // (10000 - 6000) x 0.3 = 1200; 6000 x 0.03 = 180; 1500 x 2.5 = 3750; 5130 / 1e6 = 0.00513
    expect(pricing.quote(calls('google', 'gemini-2.5-flash', 10000, 6000, 1500))).toEqual({
      cost: '0.00513000',
      costSource: 'registry',
      prices: prices('0.3', '2.5', '0.03'),
      priceVersion: '2025-08-20/google@5',
    });
  });

  test('Google gemini-3-pro-preview lists only a cache-read price: that is the cached price', () => {
    // gemini-3-pro-preview: input 2, output 12, cached_input null, cache_read 0.2.
    // (50000 - 20000) x 2 = 60000; 20000 x 0.2 = 4000; 3000 x 12 = 36000; 100000 / 1e6 = 0.1
    expect(pricing.quote(calls('google', 'gemini-3-pro-preview', 50000, 20000, 3000))).toMatchObject({
      cost: '0.10000000',
      prices: { cachedInputPerMillion: '0.2' },
    });
  });

  test('Anthropic claude-sonnet-4-5 without cached tokens', () => {
    // claude-sonnet-4-5-20250929: input 3, output 15.
    // 1234 x 3 = 3702; 567 x 15 = 8505; 12207 / 1e6 = 0.012207
    expect(pricing.quote(calls('anthropic', 'claude-sonnet-4-5-20250929', 1234, 0, 567))).toEqual({
      cost: '0.01220700',
      costSource: 'registry',
      prices: { ...prices('3', '15', '0.3'), cacheWritePerMillion: '3.75', cacheWrite1hPerMillion: '6' },
      priceVersion: '2025-08-20/anthropic@9',
    });
  });

  test('Anthropic claude-haiku-4-5 with cache reads (Anthropic lists cache_read, not cached_input)', () => {
    // claude-haiku-4-5-20251001: input 1, output 5, cache_read 0.1.
    // (10000 - 8000) x 1 = 2000; 8000 x 0.1 = 800; 100 x 5 = 500; 3300 / 1e6 = 0.0033
    expect(pricing.quote(calls('anthropic', 'claude-haiku-4-5', 10000, 8000, 100)).cost).toBe('0.00330000');
  });

  test('large counts stay exact', () => {
    // o1-pro-2025-03-19: input 150, output 600.
    // 9,007,199,254,740,991 x 150 = 1,351,079,888,211,148,650; / 1e6 = 1,351,079,888,211.14865
    expect(pricing.quote(calls('openai', 'o1-pro-2025-03-19', Number.MAX_SAFE_INTEGER, 0, 0)).cost).toBe(
      '1351079888211.14865000',
    );
  });
});

describe('every token type, computed by hand (test/helpers/pricingCases.ts)', () => {
  const { pricing } = service();

  test.each(PRICING_CASES)('$name', (c) => {
    const quote = pricing.quote({ provider: c.provider, model: c.model, cachedInputTokens: 0, ...c.tokens });
    expect(quote.cost).toBe(c.cost);
    expect(quote.costSource).toBe(c.costSource);
    if (c.costSource === 'unpriced') return expect(quote.prices).toBeNull();
    expect(quote.prices!.longContext).toBe(c.longContext ?? false);
    const p = quote.prices!;
    const lines = chargeLines(
      {
        input: c.tokens.inputTokens,
        output: c.tokens.outputTokens,
        cachedInput: c.tokens.cachedInputTokens ?? 0,
        cacheWrite5m: c.tokens.cacheWriteTokens ?? 0,
        cacheWrite1h: c.tokens.cacheWrite1hTokens ?? 0,
        reasoning: c.tokens.reasoningTokens ?? 0,
      },
      {
        input: p.inputPerMillion,
        cachedInput: p.cachedInputPerMillion,
        cacheWrite5m: p.cacheWritePerMillion,
        cacheWrite1h: p.cacheWrite1hPerMillion,
        output: p.outputPerMillion,
        reasoning: p.reasoningPerMillion,
      },
    ).filter((l) => l.tokens > 0);
    const TYPE: Record<string, string> = {
      input: 'INPUT',
      cachedInput: 'CACHED_INPUT',
      cacheWrite5m: 'CACHE_WRITE_5M',
      cacheWrite1h: 'CACHE_WRITE_1H',
      output: 'OUTPUT',
      reasoning: 'REASONING',
    };
    expect(lines.map((l) => [TYPE[l.type], l.tokens, l.perMillion, l.amount])).toEqual(c.lines);
  });

  test('reasoning at the thinking price where the registry lists one', () => {
    const { pricing: thinking } = service({
      snapshot: {
        format: 1,
        registry: { version: 'test', updatedAt: null },
        providers: {
          acme: {
            version: '1',
            updatedAt: null,
            models: [{ model: 'thinker', input: '1', output: '10', outputThinking: '12' }],
          },
        },
      },
    });
    // output 1,000 - 600 = 400 x 10 = 4,000; reasoning 600 x 12 = 7,200; input 100 x 1 = 100
    // 11,300 / 1,000,000 = 0.0113
    const quote = thinking.quote({
      provider: 'acme',
      model: 'thinker',
      inputTokens: 100,
      outputTokens: 1_000,
      cachedInputTokens: 0,
      reasoningTokens: 600,
    });
    expect(quote.cost).toBe('0.01130000');
    expect(quote.prices).toMatchObject({ reasoningPerMillion: '12', outputPerMillion: '10' });
  });
});

test('a price with more than 10 fractional digits is charged as it is stored: rounded half-up to 10', () => {
  const { pricing: precise } = service({
    snapshot: {
      format: 1,
      registry: { version: 'test', updatedAt: null },
      providers: {
        acme: {
          version: '1',
          updatedAt: null,
          models: [{ model: 'fine', input: '0.123456789049', output: '0.00000000005' }],
        },
      },
    },
  });
  // input 0.1234567890 (the 11th digit, 4, rounds down); output 0.0000000001 (5 rounds up)
  // 1,000,000 x 0.123456789 = 0.123456789 dollars; 1,000,000 x 0.0000000001 = 0.0000000001
  // 0.1234567891 -> 8 digits, half-up: 0.12345679
  const quote = precise.quote({
    provider: 'acme',
    model: 'fine',
    inputTokens: 1_000_000,
    outputTokens: 1_000_000,
    cachedInputTokens: 0,
  });
  expect(quote.prices).toMatchObject({ inputPerMillion: '0.123456789', outputPerMillion: '0.0000000001' });
  expect(quote.cost).toBe('0.12345679');
});

describe('matching a model', () => {
  const { pricing } = service();
  const cost = (provider: string, model: string) =>
    pricing.quote(calls(provider, model, 1_000_000, 0, 0)).cost;

  test('model_aliases', () => {
    // gpt-4o-2024-11-20 is an alias of gpt-4o-2024-08-06 (input 2.5): 1e6 x 2.5 / 1e6 = 2.5
    expect(cost('openai', 'gpt-4o-2024-11-20')).toBe('2.50000000');
    // claude-sonnet-4-5 -> claude-sonnet-4-5-20250929 (input 3; 6 above 200,000 input tokens,
    // and a million is above)
    expect(cost('anthropic', 'claude-sonnet-4-5')).toBe('6.00000000');
    // gemini-2.0-flash-001 -> gemini-2.0-flash (input 0.1)
    expect(cost('google', 'gemini-2.0-flash-001')).toBe('0.10000000');
  });

  test('provider-prefixed names', () => {
    expect(cost('openai', 'openai:gpt-4o')).toBe('2.50000000');
    expect(cost('anthropic', 'anthropic:claude-sonnet-4-5')).toBe('6.00000000');
    // gemini-2.5-pro: 1.25, or 2.5 above 200,000 input tokens (a million is above)
    expect(cost('google', 'google/gemini-2.5-pro')).toBe('2.50000000');
    expect(cost('OpenAI', ' gpt-4o ')).toBe('2.50000000');
    // A prefix naming another provider is not that call's price.
    expect(pricing.quote(calls('azure', 'openai:gpt-4o', 1, 0, 0)).costSource).toBe('unpriced');
    expect(pricing.quote(calls('openai', 'anthropic:claude-sonnet-4-5', 1, 0, 0)).costSource).toBe(
      'unpriced',
    );
  });

  test('case: an exact name wins; otherwise case is ignored and the lowercase API id is preferred', () => {
    // The registry lists both 'gpt-4o' (output 10) and 'GPT-4o' (output 2.5).
    const output = (model: string) => pricing.quote(calls('openai', model, 0, 0, 1_000_000)).cost;
    expect(output('gpt-4o')).toBe('10.00000000');
    expect(output('GPT-4o')).toBe('2.50000000');
    expect(output('Gpt-4O')).toBe('10.00000000');
    // Aliases ignore case too: 'GEMINI-2.0-FLASH-001' -> gemini-2.0-flash.
    expect(cost('google', 'GEMINI-2.0-FLASH-001')).toBe('0.10000000');
  });

  test('no price: cost 0 and UNPRICED, never an error', () => {
    const unpriced = { cost: '0.00000000', costSource: 'unpriced', prices: null, priceVersion: null };
    expect(pricing.quote(calls('openai', 'gpt-99-ultra', 1000, 0, 1000))).toEqual(unpriced);
    expect(pricing.quote(calls('mistral', 'mistral-large', 1000, 0, 1000))).toEqual(unpriced);
    expect(pricing.quote(calls('openai', 'ft:gpt-4o-mini:acme::abc123', 1000, 0, 1000))).toEqual(unpriced);
    expect(pricing.quote(calls('', '', 0, 0, 0))).toEqual(unpriced);
  });

  test('a model listed without an output price is unpriced, not priced as some other model', () => {
    const { pricing: partial } = service({
      snapshot: {
        format: 1,
        registry: { version: 'test', updatedAt: null },
        providers: {
          acme: {
            version: '1',
            updatedAt: null,
            models: [
              { model: 'half', input: '1' },
              { model: 'full', input: '2', output: '3', aliases: ['half'] },
            ],
          },
        },
      },
    });
    expect(partial.quote(calls('acme', 'half', 10, 0, 10)).costSource).toBe('unpriced');
    expect(partial.quote(calls('acme', 'full', 10, 0, 10)).cost).toBe('0.00005000');
  });
});

describe('a client-sent cost', () => {
  const { pricing } = service();

  test('wins over the registry, as an 8-digit decimal of its shortest representation', () => {
    expect(pricing.quote({ ...calls('openai', 'gpt-4o', 1000, 0, 200), clientCost: 0.0123 })).toEqual({
      cost: '0.01230000',
      costSource: 'client',
      prices: null,
      priceVersion: null,
    });
    // 0.1 + 0.2 is 0.30000000000000004: its digits, rounded, not a float accumulation.
    expect(pricing.quote({ ...calls('openai', 'gpt-4o', 1, 0, 1), clientCost: 0.1 + 0.2 }).cost).toBe(
      '0.30000000',
    );
    expect(pricing.quote({ ...calls('x', 'y', 1, 0, 1), clientCost: 5e-9 }).cost).toBe('0.00000001');
    expect(pricing.quote({ ...calls('x', 'y', 1, 0, 1), clientCost: 0 })).toMatchObject({
      cost: '0.00000000',
      costSource: 'client',
    });
  });

  test('null or absent means the registry prices the call', () => {
    expect(pricing.quote({ ...calls('openai', 'gpt-4o', 1000, 0, 0), clientCost: null }).costSource).toBe(
      'registry',
    );
  });
});

describe('modelPricing', () => {
  const { pricing } = service();

  test('lists every model of a provider with the prices quote applies', () => {
    const openai = pricing.modelPricing('openai');
    expect(openai).toHaveLength(77);
    expect(openai.find((m) => m.model === 'gpt-4o')).toEqual({
      provider: 'openai',
      model: 'gpt-4o',
      source: 'registry',
      inputPerMillion: '2.5',
      outputPerMillion: '10',
      cachedInputPerMillion: '1.25',
      cacheWritePerMillion: null,
      cacheWrite1hPerMillion: null,
      reasoningPerMillion: null,
      inputLongContextPerMillion: null,
      outputLongContextPerMillion: null,
      longContextThresholdTokens: null,
      priceBookVersion: null,
    });
    expect(
      pricing.modelPricing('anthropic').find((m) => m.model === 'claude-sonnet-4-20250514'),
    ).toMatchObject({
      cacheWritePerMillion: '3.75',
      cacheWrite1hPerMillion: '6',
      inputLongContextPerMillion: '6',
      outputLongContextPerMillion: '22.5',
      longContextThresholdTokens: 200000,
    });
    expect(
      pricing.modelPricing('Anthropic').find((m) => m.model === 'claude-haiku-4-5-20251001'),
    ).toMatchObject({
      cachedInputPerMillion: '0.1',
    });
    expect(pricing.modelPricing().length).toBe(77 + 19 + 28);
    expect(new Set(pricing.modelPricing().map((m) => m.provider))).toEqual(
      new Set(['anthropic', 'google', 'openai']),
    );
    expect(pricing.modelPricing('nobody')).toEqual([]);
  });
});

describe('the shipped snapshot', () => {
  test('is a valid price table, and garbage is not', () => {
    expect(parsePriceTable(snapshotJson).registry.version).toBe('2025-08-20');
    expect(() => parsePriceTable({ format: 2 })).toThrow(RegistryFormatError);
    expect(() => parsePriceTable({ format: 1, providers: { '../x': { models: [] } } })).toThrow(
      RegistryFormatError,
    );
  });
});

// A registry in the llmring layout, written to a temporary folder.
function writeRegistry(
  dir: string,
  opts: { version: string; fileVersion: number; gpt4oInput: number; gpt4oCacheWrite?: number },
): void {
  fs.mkdirSync(path.join(dir, 'openai'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'manifest.json'),
    JSON.stringify({
      version: opts.version,
      updated_at: `${opts.version}T00:00:00Z`,
      providers: { openai: {} },
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'openai', 'models.json'),
    JSON.stringify({
      provider: 'openai',
      version: opts.fileVersion,
      updated_at: `${opts.version}T00:00:00`,
      models: {
        'openai:gpt-4o': {
          provider: 'openai',
          model_name: 'gpt-4o',
          model_aliases: ['gpt-4o-latest'],
          dollars_per_million_tokens_input: opts.gpt4oInput,
          dollars_per_million_tokens_output: 10.0,
          dollars_per_million_tokens_cached_input: 1.25,
          ...(opts.gpt4oCacheWrite === undefined
            ? {}
            : { dollars_per_million_tokens_cache_write_5m: opts.gpt4oCacheWrite }),
          is_active: true,
        },
        'openai:broken': { model_name: 'broken', dollars_per_million_tokens_input: 'cheap' },
      },
    }),
  );
}

describe('a live registry', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmring-registry-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const gpt4o = (pricing: PricingService) => pricing.quote(calls('openai', 'gpt-4o', 1_000_000, 0, 0));

  test('a local folder whose refresh changes a price: quotes after it use the new price', async () => {
    const { pricing, warnings } = service({ registryUrl: dir });
    expect(gpt4o(pricing)).toMatchObject({ cost: '2.50000000', priceVersion: '2025-08-20/openai@7' });

    writeRegistry(dir, { version: '2026-12-01', fileVersion: 8, gpt4oInput: 3.0 });
    expect(await pricing.refresh()).toBe(true);
    // 1e6 x 3 / 1e6 = 3
    expect(gpt4o(pricing)).toMatchObject({
      cost: '3.00000000',
      prices: { inputPerMillion: '3' },
      priceVersion: '2026-12-01/openai@8',
    });
    expect(pricing.quote(calls('openai', 'gpt-4o-latest', 1_000_000, 0, 0)).cost).toBe('3.00000000');
    // The bad model was skipped with a warning; the good one was taken.
    expect(warnings().map((w) => w.msg)).toEqual(['Registry models skipped']);
    // Providers the registry does not list keep their prices.
    expect(pricing.quote(calls('anthropic', 'claude-sonnet-4-5', 100_000, 0, 0)).cost).toBe('0.30000000');

    writeRegistry(dir, { version: '2026-12-02', fileVersion: 9, gpt4oInput: 2.75 });
    expect(await pricing.refresh()).toBe(true);
    expect(gpt4o(pricing)).toMatchObject({ cost: '2.75000000', priceVersion: '2026-12-02/openai@9' });

    // The same folder as a file:// URL.
    const viaUrl = service({ registryUrl: pathToFileURL(dir).href }).pricing;
    expect(await viaUrl.refresh()).toBe(true);
    expect(gpt4o(viaUrl).cost).toBe('2.75000000');
  });

  test('a refresh that adds a cache-write price prices new logs with it; stored logs keep their cost', async () => {
    writeRegistry(dir, { version: '2026-12-01', fileVersion: 8, gpt4oInput: 2.5 });
    const h = await createServiceHarness({ LLMRING_REGISTRY_URL: dir });
    try {
      expect(await h.services.pricing.refresh()).toBe(true);
      const p = await seedProject(h.services);
      // 10,000 input of which 4,000 written to the cache, 100 output:
      // without a cache-write price, writes cost the input price: 10,000 x 2.5 + 100 x 10 = 26,000 / 1e6
      const call = {
        provider: 'openai',
        model: 'gpt-4o',
        inputTokens: 10_000,
        outputTokens: 100,
        cacheWriteTokens: 4_000,
      };
      const before = await h.services.usage.record(p.caller, call);
      expect(before.usageLog.cost).toBe('0.02600000');
      writeRegistry(dir, { version: '2026-12-02', fileVersion: 9, gpt4oInput: 2.5, gpt4oCacheWrite: 3.125 });
      expect(await h.services.pricing.refresh()).toBe(true);
      // 6,000 x 2.5 + 4,000 x 3.125 + 100 x 10 = 15,000 + 12,500 + 1,000 = 28,500 / 1e6
      const after = await h.services.usage.record(p.caller, call);
      expect(after.usageLog).toMatchObject({
        cost: '0.02850000',
        pricing: { cacheWritePerMillion: '3.125' },
      });
      expect(after.usageLog.pricing?.version).toBe('2026-12-02/openai@9');
      const stored = await h.services.usage.getById(before.usageLog.id);
      expect(stored).toMatchObject({ cost: '0.02600000', pricing: { cacheWritePerMillion: '2.5' } });
    } finally {
      h.services.pricing.stop();
      await h.close();
    }
  });

  test('garbage keeps the last good prices and warns', async () => {
    const { pricing, warnings } = service({ registryUrl: dir });
    writeRegistry(dir, { version: '2026-12-01', fileVersion: 8, gpt4oInput: 3.0 });
    expect(await pricing.refresh()).toBe(true);
    const good = gpt4o(pricing);
    const warned = warnings().length;

    fs.writeFileSync(path.join(dir, 'openai', 'models.json'), '{"models": {"openai:gpt-4o": "free"');
    expect(await pricing.refresh()).toBe(false);
    expect(gpt4o(pricing)).toEqual(good);

    fs.writeFileSync(
      path.join(dir, 'openai', 'models.json'),
      JSON.stringify({ models: { 'openai:gpt-4o': 'free' } }),
    );
    expect(await pricing.refresh()).toBe(false);
    expect(gpt4o(pricing)).toEqual(good);

    fs.writeFileSync(path.join(dir, 'manifest.json'), '[1, 2, 3]');
    expect(await pricing.refresh()).toBe(false);
    expect(gpt4o(pricing)).toEqual(good);

    fs.rmSync(path.join(dir, 'manifest.json'));
    expect(await pricing.refresh()).toBe(false);
    expect(gpt4o(pricing)).toEqual(good);

    expect(warnings().length - warned).toBe(4);
  });

  test('a registry that is down keeps the snapshot prices and warns', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const { pricing, warnings } = service({ registryUrl: `http://127.0.0.1:${port}/registry/` });
    const before = gpt4o(pricing);
    expect(await pricing.refresh()).toBe(false);
    expect(gpt4o(pricing)).toEqual(before);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0].msg).toMatch(/keeping the last good prices/);
  });

  test('over HTTP: a good registry is read, then errors and garbage keep its prices', async () => {
    writeRegistry(dir, { version: '2026-12-01', fileVersion: 8, gpt4oInput: 3.0 });
    let mode: 'good' | 'error' | 'html' = 'good';
    const authorizations = new Set<string | undefined>();
    const server = http.createServer((req, res) => {
      authorizations.add(req.headers.authorization);
      if (mode === 'error') {
        res.writeHead(500).end('oops');
        return;
      }
      if (mode === 'html') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
        return;
      }
      const file = path.join(dir, (req.url ?? '').replace(/^\/registry\//, ''));
      if (!fs.existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(fs.readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      // Credentials in the URL never reach the logs.
      const { pricing, warnings } = service({ registryUrl: `http://user:s3cret@127.0.0.1:${port}/registry` });
      expect(await pricing.refresh()).toBe(true);
      expect(gpt4o(pricing)).toMatchObject({ cost: '3.00000000', priceVersion: '2026-12-01/openai@8' });
      expect([...authorizations]).toEqual([`Basic ${Buffer.from('user:s3cret').toString('base64')}`]);

      mode = 'error';
      expect(await pricing.refresh()).toBe(false);
      mode = 'html';
      expect(await pricing.refresh()).toBe(false);
      expect(gpt4o(pricing)).toMatchObject({ cost: '3.00000000', priceVersion: '2026-12-01/openai@8' });
      expect(warnings().length).toBeGreaterThanOrEqual(2);
      expect(JSON.stringify(warnings())).not.toContain('s3cret');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('start() refreshes in the background; stop() ends it', async () => {
    writeRegistry(dir, { version: '2026-12-01', fileVersion: 8, gpt4oInput: 3.0 });
    const { pricing } = service({ registryUrl: dir });
    pricing.start();
    try {
      for (let i = 0; i < 100 && gpt4o(pricing).cost !== '3.00000000'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(gpt4o(pricing).cost).toBe('3.00000000');
    } finally {
      pricing.stop();
    }
  });

  test('without a registry, refresh is a no-op and the snapshot prices stay', async () => {
    const { pricing } = service();
    pricing.start();
    expect(await pricing.refresh()).toBe(false);
    expect(gpt4o(pricing).cost).toBe('2.50000000');
    pricing.stop();
  });
});
