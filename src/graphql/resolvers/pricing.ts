/**
 * Field resolvers of the pricing types: prices as Floats beside their exact decimals, a
 * log's bill as lines, the price book's entries, re-pricings and their adjustments.
 */
import type { Resolvers } from '../generated';
import type { ModelPrice } from '../../domain/types';
import { chargeLines, Dec, normalizePrice } from '../../pricing/formula';

const float = (value: string | null | undefined) =>
  value === null || value === undefined ? null : Number(value);
const decimal = (value: string | null | undefined) =>
  value === null || value === undefined ? null : normalizePrice(value);

export const pricingResolvers: Resolvers = {
  ModelPrice: {
    dollarsPerMillionInputTokens: (p) => float(p.inputPerMillion),
    dollarsPerMillionOutputTokens: (p) => float(p.outputPerMillion),
    dollarsPerMillionCachedInputTokens: (p) => float(p.cachedInputPerMillion),
    dollarsPerMillionCacheWriteTokens: (p) => float(p.cacheWritePerMillion),
    dollarsPerMillionCacheWrite1hTokens: (p) => float(p.cacheWrite1hPerMillion),
    dollarsPerMillionReasoningTokens: (p) => float(p.reasoningPerMillion),
    dollarsPerMillionInputTokensLongContext: (p) => float(p.inputLongContextPerMillion),
    dollarsPerMillionOutputTokensLongContext: (p) => float(p.outputLongContextPerMillion),
    prices: (p: ModelPrice) => ({
      input: decimal(p.inputPerMillion),
      output: decimal(p.outputPerMillion),
      cachedInput: decimal(p.cachedInputPerMillion),
      cacheWrite: decimal(p.cacheWritePerMillion),
      cacheWrite1h: decimal(p.cacheWrite1hPerMillion),
      reasoning: decimal(p.reasoningPerMillion),
      inputLongContext: decimal(p.inputLongContextPerMillion),
      outputLongContext: decimal(p.outputLongContextPerMillion),
    }),
  },

  UsagePricing: {
    inputPerMillion: (p) => Number(p.inputPerMillion),
    outputPerMillion: (p) => Number(p.outputPerMillion),
    cachedInputPerMillion: (p) => Number(p.cachedInputPerMillion),
    cacheWritePerMillion: (p) => Number(p.cacheWritePerMillion),
    cacheWrite1hPerMillion: (p) => Number(p.cacheWrite1hPerMillion),
    reasoningPerMillion: (p) => Number(p.reasoningPerMillion),
    registryVersion: (p) => (p.source === 'registry' ? p.version : null),
    lines: (p) =>
      chargeLines(p.tokens, {
        input: p.inputPerMillion,
        cachedInput: p.cachedInputPerMillion,
        cacheWrite5m: p.cacheWritePerMillion,
        cacheWrite1h: p.cacheWrite1hPerMillion,
        output: p.outputPerMillion,
        reasoning: p.reasoningPerMillion,
      }).filter((l) => l.tokens > 0),
  },

  PriceBookEntry: {
    project: (e, _args, { loaders }) => (e.projectId ? loaders.projectById.load(e.projectId) : null),
    inputPerMillion: (e) => e.prices.input,
    outputPerMillion: (e) => e.prices.output,
    cachedInputPerMillion: (e) => e.prices.cachedInput ?? null,
    cacheWritePerMillion: (e) => e.prices.cacheWrite5m ?? null,
    cacheWrite1hPerMillion: (e) => e.prices.cacheWrite1h ?? null,
    reasoningPerMillion: (e) => e.prices.reasoning ?? null,
    inputLongContextPerMillion: (e) => e.prices.inputLongContext ?? null,
    outputLongContextPerMillion: (e) => e.prices.outputLongContext ?? null,
    longContextThresholdTokens: (e) => e.prices.longContextThresholdTokens ?? null,
  },

  RepriceGroup: {
    project: async (g, _args, { loaders }) => (await loaders.projectById.load(g.projectId))!,
  },

  UsageAdjustment: {
    difference: (a) => new Dec(a.newCost).minus(a.previousCost).toFixed(8),
  },
};
