/**
 * The llmring registry layout (`<base>/manifest.json`, `<base>/<provider>/models.json`) read
 * into a price table: per provider, per model, the USD prices per million tokens as exact
 * decimal strings. Used by scripts/build-price-snapshot.ts for the shipped snapshot and by
 * PricingService for a live registry, so both read the registry the same way.
 *
 * Parsing is strict about structure and lenient per model: a model with an unusable price
 * is skipped and reported, a file with no usable model is rejected as a whole.
 */
import Decimal from 'decimal.js';

/** One model's prices; absent means the registry lists no such price. */
export interface ModelPriceEntry {
  model: string;
  input?: string;
  output?: string;
  /** dollars_per_million_tokens_cached_input */
  cachedInput?: string;
  /** dollars_per_million_tokens_cache_read (Anthropic's, and some others', name for cached input) */
  cacheRead?: string;
  /** dollars_per_million_tokens_cache_write_5m and _1h: prompt-cache writes of 5 minutes and of 1 hour. */
  cacheWrite5m?: string;
  cacheWrite1h?: string;
  /** dollars_per_million_tokens_output_thinking: reasoning tokens, where priced apart. */
  outputThinking?: string;
  /** dollars_per_million_tokens_input_long_context / _output_long_context, above the threshold. */
  inputLongContext?: string;
  outputLongContext?: string;
  /** long_context_threshold_tokens: input tokens above which the long-context prices apply. */
  longContextThresholdTokens?: number;
  /** model_aliases: other names for the same model. */
  aliases?: string[];
  /** is_active false in the registry (deprecated or retired); still priced, for late logs. */
  inactive?: true;
}

export interface ProviderPriceList {
  /** The provider file's own `version` (as a string), null when absent. */
  version: string | null;
  updatedAt: string | null;
  models: ModelPriceEntry[];
}

export interface PriceTable {
  format: 1;
  /** From manifest.json. */
  registry: { version: string | null; updatedAt: string | null };
  providers: Record<string, ProviderPriceList>;
}

export interface RegistryManifest {
  version: string | null;
  updatedAt: string | null;
  providers: string[];
}

export class RegistryFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RegistryFormatError';
  }
}

/** Provider names become path segments: no dots-only names, slashes or other surprises. */
export const PROVIDER_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const DECIMAL_PATTERN = /^[0-9]+(\.[0-9]+)?$/;

/** Price fields of a price table entry, and the registry field each is read from. */
export const PRICE_FIELDS = {
  input: 'dollars_per_million_tokens_input',
  output: 'dollars_per_million_tokens_output',
  cachedInput: 'dollars_per_million_tokens_cached_input',
  cacheRead: 'dollars_per_million_tokens_cache_read',
  cacheWrite5m: 'dollars_per_million_tokens_cache_write_5m',
  cacheWrite1h: 'dollars_per_million_tokens_cache_write_1h',
  outputThinking: 'dollars_per_million_tokens_output_thinking',
  inputLongContext: 'dollars_per_million_tokens_input_long_context',
  outputLongContext: 'dollars_per_million_tokens_output_long_context',
} as const;
type PriceField = keyof typeof PRICE_FIELDS;

/** A token threshold: a positive safe integer, or absent. */
function threshold(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new RegistryFormatError(`not a token threshold: ${JSON.stringify(value)}`);
  }
  return value;
}

const Dec = Decimal.clone({ precision: 60, toExpNeg: -100, toExpPos: 100 });

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function versionString(value: unknown): string | null {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/**
 * A registry price as an exact decimal string. JSON numbers are taken from their shortest
 * round-trip representation (String(0.275) is '0.275'), which is the literal the registry
 * wrote for any price with up to 15 significant digits.
 */
export function priceString(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new RegistryFormatError(`not a price: ${String(value)}`);
    text = String(value);
  } else if (typeof value === 'string' && DECIMAL_PATTERN.test(value.trim())) {
    text = value.trim();
  } else {
    throw new RegistryFormatError(`not a price: ${JSON.stringify(value)}`);
  }
  return new Dec(text).toFixed();
}

export function parseManifest(json: unknown): RegistryManifest {
  if (!isRecord(json)) throw new RegistryFormatError('manifest.json is not a JSON object');
  const listed = json.providers;
  let names: string[];
  if (isRecord(listed)) names = Object.keys(listed);
  else if (Array.isArray(listed)) names = listed.filter((p): p is string => typeof p === 'string');
  else throw new RegistryFormatError('manifest.json has no providers');
  const providers = names.filter((p) => PROVIDER_NAME_PATTERN.test(p));
  if (providers.length === 0) throw new RegistryFormatError('manifest.json lists no usable provider');
  return {
    version: versionString(json.version),
    updatedAt: versionString(json.updated_at),
    providers,
  };
}

export interface ParsedProvider {
  prices: ProviderPriceList;
  /** Models skipped, with why: worth a warning, not a failure. */
  problems: string[];
}

/** `<provider>/models.json`: `models` is a map keyed 'provider:model_name' (an array is accepted too). */
export function parseProviderModels(provider: string, json: unknown): ParsedProvider {
  const file = `${provider}/models.json`;
  if (!isRecord(json)) throw new RegistryFormatError(`${file} is not a JSON object`);
  let entries: Array<[string, unknown]>;
  if (isRecord(json.models)) entries = Object.entries(json.models);
  else if (Array.isArray(json.models)) entries = json.models.map((m, i) => [String(i), m]);
  else throw new RegistryFormatError(`${file} has no models`);

  const problems: string[] = [];
  const models: ModelPriceEntry[] = [];
  const seen = new Set<string>();
  for (const [key, raw] of entries) {
    if (!isRecord(raw)) {
      problems.push(`${file}: ${key} is not an object`);
      continue;
    }
    if (typeof raw.provider === 'string' && raw.provider !== provider) {
      problems.push(`${file}: ${key} belongs to provider ${raw.provider}`);
      continue;
    }
    const fromKey = key.startsWith(`${provider}:`) ? key.slice(provider.length + 1) : null;
    const name =
      typeof raw.model_name === 'string' && raw.model_name.trim() ? raw.model_name.trim() : fromKey;
    if (!name) {
      problems.push(`${file}: ${key} has no model_name`);
      continue;
    }
    if (seen.has(name)) {
      problems.push(`${file}: ${name} is listed twice; the first is kept`);
      continue;
    }
    let entry: ModelPriceEntry;
    try {
      entry = { model: name };
      for (const [field, registryField] of Object.entries(PRICE_FIELDS) as Array<[PriceField, string]>) {
        const price = priceString(raw[registryField]);
        if (price !== undefined) entry[field] = price;
      }
      const limit = threshold(raw.long_context_threshold_tokens);
      if (limit !== undefined) entry.longContextThresholdTokens = limit;
    } catch (err) {
      problems.push(`${file}: ${name}: ${(err as Error).message}`);
      continue;
    }
    if (Array.isArray(raw.model_aliases)) {
      const aliases = [
        ...new Set(raw.model_aliases.filter((a): a is string => typeof a === 'string' && a.trim() !== '')),
      ].map((a) => a.trim());
      if (aliases.length > 0) entry.aliases = aliases;
    }
    if (raw.is_active === false) entry.inactive = true;
    seen.add(name);
    models.push(entry);
  }
  if (!models.some((m) => m.input !== undefined && m.output !== undefined)) {
    throw new RegistryFormatError(`${file} has no priced model`);
  }
  return {
    prices: { version: versionString(json.version), updatedAt: versionString(json.updated_at), models },
    problems,
  };
}

/** Checks a price table read from JSON (the shipped snapshot, or a caller's). */
export function parsePriceTable(json: unknown): PriceTable {
  if (!isRecord(json) || json.format !== 1) throw new RegistryFormatError('price table: not format 1');
  const registry = isRecord(json.registry) ? json.registry : {};
  if (!isRecord(json.providers)) throw new RegistryFormatError('price table: no providers');
  const providers: Record<string, ProviderPriceList> = {};
  for (const [name, list] of Object.entries(json.providers)) {
    if (!PROVIDER_NAME_PATTERN.test(name) || !isRecord(list) || !Array.isArray(list.models)) {
      throw new RegistryFormatError(`price table: provider ${name} is malformed`);
    }
    const models = list.models.map((m: unknown) => {
      if (!isRecord(m) || typeof m.model !== 'string') {
        throw new RegistryFormatError(`price table: a model of ${name} is malformed`);
      }
      const entry: ModelPriceEntry = { model: m.model };
      for (const field of Object.keys(PRICE_FIELDS) as PriceField[]) {
        const price = priceString(m[field]);
        if (price !== undefined) entry[field] = price;
      }
      const limit = threshold(m.longContextThresholdTokens);
      if (limit !== undefined) entry.longContextThresholdTokens = limit;
      if (Array.isArray(m.aliases))
        entry.aliases = m.aliases.filter((a): a is string => typeof a === 'string');
      if (m.inactive === true) entry.inactive = true;
      return entry;
    });
    providers[name] = {
      version: versionString(list.version),
      updatedAt: versionString(list.updatedAt),
      models,
    };
  }
  return {
    format: 1,
    registry: { version: versionString(registry.version), updatedAt: versionString(registry.updatedAt) },
    providers,
  };
}

/** The snapshot file's text: stable, one model per line, so a registry update diffs readably. */
export function serializePriceTable(table: PriceTable): string {
  const providers = Object.keys(table.providers).sort();
  const lines = [
    '{',
    '  "format": 1,',
    `  "registry": ${JSON.stringify(table.registry)},`,
    '  "providers": {',
  ];
  providers.forEach((name, i) => {
    const list = table.providers[name];
    lines.push(`    ${JSON.stringify(name)}: {`);
    lines.push(`      "version": ${JSON.stringify(list.version)},`);
    lines.push(`      "updatedAt": ${JSON.stringify(list.updatedAt)},`);
    lines.push('      "models": [');
    list.models.forEach((m, j) =>
      lines.push(`        ${JSON.stringify(m)}${j < list.models.length - 1 ? ',' : ''}`),
    );
    lines.push('      ]');
    lines.push(`    }${i < providers.length - 1 ? ',' : ''}`);
  });
  lines.push('  }', '}', '');
  return lines.join('\n');
}
