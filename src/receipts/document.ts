/**
 * Receipt documents. New receipts are version 2 (docs/receipts.md): what a bill depends on is
 * signed too, the time of the call, the token parts, the per-token-type prices and amounts
 * charged, and which prices those were. Version 1 (../shared/spec/receipts.md) and legacy
 * documents keep verifying: verification is generic over a document's members.
 *
 * Snake_case members, integers as JSON integers, money and prices as decimal strings, so
 * that no float formatting ever enters the signed bytes.
 */
import { randomBytes } from 'node:crypto';
import type { CostSource } from '../domain/types';

/** One line of a bill in a receipt: a token type, its tokens, its price per million, its amount. */
export interface ReceiptChargeLine {
  type: 'input' | 'cached_input' | 'cache_write_5m' | 'cache_write_1h' | 'output' | 'reasoning';
  tokens: number;
  /** USD per million tokens, a decimal string. */
  per_million: string;
  /** tokens × per_million / 1,000,000, exactly, a decimal string. */
  amount: string;
}

export interface UnsignedReceiptDocument {
  version: 2;
  receipt_id: string;
  /** RFC 3339 UTC with milliseconds and `Z` (Date#toISOString): when the server stored the call. */
  issued_at: string;
  /** When the call happened, as the client reported (or the time it was received). */
  occurred_at: string;
  /** The project's public key (its slug), never an API key secret. */
  project_key: string;
  usage_log_id: string;
  /** The alias name the client sent; null when none. */
  alias_name: string | null;
  provider: string;
  model_used: string;
  /** input and output are totals; the other members are parts of them. */
  tokens: {
    input: number;
    output: number;
    cached_input: number;
    cache_write_5m: number;
    cache_write_1h: number;
    reasoning: number;
  };
  cost: { amount: string; currency: 'USD'; source: CostSource };
  /**
   * How a priced cost (source registry or price_book) was computed: the lines with tokens, and
   * which prices; null for client costs and unpriced calls. The lines' amounts add up to
   * cost.amount before it is rounded to 8 fractional digits.
   */
  pricing: {
    source: 'registry' | 'price_book';
    version: string | null;
    long_context: boolean;
    lines: ReceiptChargeLine[];
  } | null;
  key_id: string;
}

export interface ReceiptDocument extends UnsignedReceiptDocument {
  /** 'ed25519:' + base64url (no padding) of the 64-byte signature. */
  signature: string;
}

export interface ReceiptDocumentInput {
  receiptId: string;
  issuedAt: Date;
  occurredAt: Date;
  projectKey: string;
  usageLogId: string;
  aliasName: string | null;
  provider: string;
  modelUsed: string;
  tokens: {
    input: number;
    output: number;
    cachedInput: number;
    cacheWrite5m: number;
    cacheWrite1h: number;
    reasoning: number;
  };
  /** amount: decimal string with exactly 8 fractional digits, e.g. '0.00450000'. */
  cost: { amount: string; source: CostSource };
  pricing: UnsignedReceiptDocument['pricing'];
  keyId: string;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_LENGTH = 26;
const AMOUNT_PATTERN = /^(0|[1-9][0-9]*)\.[0-9]{8}$/;
const COST_SOURCES: ReadonlySet<string> = new Set<CostSource>([
  'client',
  'registry',
  'price_book',
  'unpriced',
]);
const DECIMAL = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/**
 * 'rcpt_' + 26 random characters of a lowercase base32 alphabet (130 bits from the CSPRNG):
 * URL-safe, and safe in case-insensitive contexts too. 256 is a multiple of 32, so taking
 * each byte modulo 32 is unbiased.
 */
export function newReceiptId(): string {
  if (entropyAt + ID_LENGTH > entropy.length) {
    entropy = randomBytes(ENTROPY_BYTES);
    entropyAt = 0;
  }
  let id = 'rcpt_';
  for (let i = 0; i < ID_LENGTH; i++) id += ID_ALPHABET[entropy[entropyAt + i] & 31];
  // Each byte is used once: zeroed so that no later id could repeat it.
  entropy.fill(0, entropyAt, entropyAt + ID_LENGTH);
  entropyAt += ID_LENGTH;
  return id;
}

/** CSPRNG bytes fetched in blocks (as crypto.randomUUID does), not one call per id. */
const ENTROPY_BYTES = ID_LENGTH * 256;
let entropy = Buffer.alloc(0);
let entropyAt = 0;

function tokenCount(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`receipt tokens.${name} must be a non-negative safe integer`);
  }
  return value;
}

/**
 * The unsigned document for one stored call. Inputs are checked strictly: they become signed
 * bytes, and a receipt that does not match the spec is worse than no receipt.
 */
export function buildReceiptDocument(input: ReceiptDocumentInput): UnsignedReceiptDocument {
  for (const [name, date] of [
    ['issuedAt', input.issuedAt],
    ['occurredAt', input.occurredAt],
  ] as const) {
    if (Number.isNaN(date.getTime())) throw new TypeError(`receipt ${name} is not a valid date`);
  }
  if (!AMOUNT_PATTERN.test(input.cost.amount)) {
    throw new TypeError('receipt cost.amount must be a decimal string with 8 fractional digits');
  }
  if (!COST_SOURCES.has(input.cost.source)) throw new TypeError('receipt cost.source is not a cost source');
  for (const line of input.pricing?.lines ?? []) {
    tokenCount(`pricing ${line.type} tokens`, line.tokens);
    if (!DECIMAL.test(line.per_million) || !DECIMAL.test(line.amount)) {
      throw new TypeError(`receipt pricing line ${line.type} must hold decimal strings`);
    }
  }
  const t = input.tokens;
  // Members in canonical (RFC 8785) order, so that signing takes the fast path of ./jcs.ts.
  return {
    alias_name: input.aliasName,
    cost: { amount: input.cost.amount, currency: 'USD', source: input.cost.source },
    issued_at: input.issuedAt.toISOString(),
    key_id: input.keyId,
    model_used: input.modelUsed,
    occurred_at: input.occurredAt.toISOString(),
    pricing: input.pricing && {
      lines: input.pricing.lines.map((l) => ({
        amount: l.amount,
        per_million: l.per_million,
        tokens: l.tokens,
        type: l.type,
      })),
      long_context: input.pricing.long_context,
      source: input.pricing.source,
      version: input.pricing.version,
    },
    project_key: input.projectKey,
    provider: input.provider,
    receipt_id: input.receiptId,
    tokens: {
      cache_write_1h: tokenCount('cacheWrite1h', t.cacheWrite1h),
      cache_write_5m: tokenCount('cacheWrite5m', t.cacheWrite5m),
      cached_input: tokenCount('cachedInput', t.cachedInput),
      input: tokenCount('input', t.input),
      output: tokenCount('output', t.output),
      reasoning: tokenCount('reasoning', t.reasoning),
    },
    usage_log_id: input.usageLogId,
    version: 2,
  };
}
