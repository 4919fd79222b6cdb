/** Pricing: registry prices per million tokens, a shipped snapshot, and exact-decimal quotes. */
export {
  PricingService,
  type PriceQuote,
  type PricingServiceOptions,
  type QuoteInput,
  type QuotePrices,
} from './service';
export {
  parseManifest,
  parsePriceTable,
  parseProviderModels,
  RegistryFormatError,
  type ModelPriceEntry,
  type PriceTable,
  type ProviderPriceList,
} from './registry';
