/**
 * Realistic inputs shared by the HTTP load, pgbench and the seeding SQL: 20 alias names,
 * 10 models of openai, anthropic and google that the bundled price snapshot knows
 * (src/pricing/snapshot.json), a few origins and profiles, client costs on some calls,
 * and about 200 bytes of metadata.
 */
import { randomUUID } from 'node:crypto';

export const ALIASES = [
  'summarizer',
  'classifier',
  'extractor',
  'translator',
  'chat',
  'support-bot',
  'code-review',
  'sql-writer',
  'embedder',
  'router',
  'moderator',
  'planner',
  'rewriter',
  'tagger',
  'qa',
  'search-answer',
  'email-draft',
  'title-gen',
  'sentiment',
  'fast',
] as const;

/** Per-million-token prices as in src/pricing/snapshot.json (input, output, cache read). */
export const MODELS = [
  { provider: 'openai', model: 'gpt-4o', input: 2.5, output: 10, cached: 2.5 },
  { provider: 'openai', model: 'gpt-4o-mini', input: 0.15, output: 0.6, cached: 0.15 },
  { provider: 'openai', model: 'gpt-4.1-mini', input: 0.4, output: 1.6, cached: 0.4 },
  { provider: 'openai', model: 'gpt-5-mini', input: 0.25, output: 2, cached: 0.25 },
  { provider: 'anthropic', model: 'claude-sonnet-4-5-20250929', input: 3, output: 15, cached: 0.3 },
  { provider: 'anthropic', model: 'claude-haiku-4-5-20251001', input: 1, output: 5, cached: 0.1 },
  { provider: 'anthropic', model: 'claude-opus-4-5-20251101', input: 5, output: 25, cached: 0.5 },
  { provider: 'google', model: 'gemini-2.5-flash', input: 0.3, output: 2.5, cached: 0.03 },
  { provider: 'google', model: 'gemini-2.5-pro', input: 1.25, output: 10, cached: 0.125 },
  { provider: 'google', model: 'gemini-2.5-flash-lite', input: 0.1, output: 0.4, cached: 0.01 },
] as const;

export const ORIGINS = ['web-app', 'batch-jobs', 'support-desk', 'ci'] as const;
export const PROFILES = ['default', 'prod', 'dev'] as const;
export const FEATURES = ['chat', 'search', 'summaries', 'triage', 'drafts'] as const;
/** The metadata key the bench's server promotes to a dimension (LLMRING_METADATA_DIMENSIONS). */
export const DIMENSION = 'feature';

/** mulberry32: a small seeded PRNG, so every run sends the same mix. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

export interface LogInput {
  provider: string;
  model: string;
  aliasName?: string | null;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens?: number;
  cost?: number;
  latencyMs?: number;
  origin?: string;
  idAtOrigin?: string;
  profile?: string;
  metadata?: Record<string, unknown>;
  occurredAt?: string;
}

/** About 200 bytes as JSON. */
export function metadata(r: () => number): Record<string, unknown> {
  return {
    user_id: `user_${int(r, 1, 50_000)}`,
    session_id: randomUUID(),
    feature: pick(r, FEATURES),
    env: 'production',
    client: { name: 'llmring-py', version: '1.4.2' },
    tags: ['beta', 'eu-west-1'],
    prompt_version: int(r, 1, 40),
  };
}

/**
 * An alias is bound to a model in the client's lockfile, so calls under one alias nearly all
 * go to its model: alias i to model i mod 10, and 1 call in 10 to its fallback, model
 * i + 1 mod 10 (a lockfile changed, a provider was down). Calls without an alias use any model.
 */
export const BOUND_SHARE = 0.9;
export function boundModel(aliasIndex: number, fallback = false): (typeof MODELS)[number] {
  return MODELS[(aliasIndex + (fallback ? 1 : 0)) % MODELS.length];
}

/** One call as a client would log it: ~8% without alias, ~30% with a client-computed cost. */
export function logInput(r: () => number): LogInput {
  const aliasIndex = r() < 0.08 ? -1 : Math.floor(r() * ALIASES.length);
  const m = aliasIndex >= 0 ? boundModel(aliasIndex, r() >= BOUND_SHARE) : pick(r, MODELS);
  const inputTokens = int(r, 50, 8000);
  const outputTokens = int(r, 10, 2000);
  const cachedInputTokens = r() < 0.3 ? Math.floor(inputTokens / 2) : 0;
  const input: LogInput = {
    provider: m.provider,
    model: m.model,
    aliasName: aliasIndex >= 0 ? ALIASES[aliasIndex] : null,
    inputTokens,
    outputTokens,
    cachedInputTokens,
    latencyMs: int(r, 150, 9000),
    origin: pick(r, ORIGINS),
    idAtOrigin: `resp_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    profile: pick(r, PROFILES),
    metadata: metadata(r),
  };
  if (r() < 0.3) {
    input.cost =
      Math.round(
        ((inputTokens - cachedInputTokens) * m.input +
          cachedInputTokens * m.cached +
          outputTokens * m.output) *
          100,
      ) / 1e8;
  }
  return input;
}

/** SQL array literal of strings, for pgbench and the seeding SQL (values are ours, no quotes inside). */
export function sqlTextArray(values: ReadonlyArray<string | null>): string {
  return `ARRAY[${values.map((v) => (v === null ? 'NULL' : `'${v}'`)).join(', ')}]::text[]`;
}

export function sqlNumArray(values: readonly number[]): string {
  return `ARRAY[${values.join(', ')}]::numeric[]`;
}
