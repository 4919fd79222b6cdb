/**
 * The version-1 receipt document (../shared/spec/receipts.md): snake_case members, integers
 * as JSON integers, the cost as a decimal string with 8 fractional digits, so that no float
 * formatting ever enters the signed bytes.
 */
import { randomBytes } from 'node:crypto';
import type { CostSource } from '../domain/types';

export interface UnsignedReceiptDocument {
  version: 1;
  receipt_id: string;
  /** RFC 3339 UTC with milliseconds and `Z` (Date#toISOString). */
  issued_at: string;
  /** The project's public key (its slug), never an API key secret. */
  project_key: string;
  usage_log_id: string;
  /** The alias name the client sent; null when none. */
  alias_name: string | null;
  provider: string;
  model_used: string;
  tokens: { input: number; output: number; cached_input: number };
  cost: { amount: string; currency: 'USD'; source: CostSource };
  key_id: string;
}

export interface ReceiptDocument extends UnsignedReceiptDocument {
  /** 'ed25519:' + base64url (no padding) of the 64-byte signature. */
  signature: string;
}

export interface ReceiptDocumentInput {
  receiptId: string;
  issuedAt: Date;
  projectKey: string;
  usageLogId: string;
  aliasName: string | null;
  provider: string;
  modelUsed: string;
  tokens: { input: number; output: number; cachedInput: number };
  /** amount: decimal string with exactly 8 fractional digits, e.g. '0.00450000'. */
  cost: { amount: string; source: CostSource };
  keyId: string;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_LENGTH = 26;
const AMOUNT_PATTERN = /^(0|[1-9][0-9]*)\.[0-9]{8}$/;
const COST_SOURCES: ReadonlySet<string> = new Set<CostSource>(['client', 'registry', 'unpriced']);

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
  if (Number.isNaN(input.issuedAt.getTime())) throw new TypeError('receipt issuedAt is not a valid date');
  if (!AMOUNT_PATTERN.test(input.cost.amount)) {
    throw new TypeError('receipt cost.amount must be a decimal string with 8 fractional digits');
  }
  if (!COST_SOURCES.has(input.cost.source)) throw new TypeError('receipt cost.source is not a cost source');
  return {
    version: 1,
    receipt_id: input.receiptId,
    issued_at: input.issuedAt.toISOString(),
    project_key: input.projectKey,
    usage_log_id: input.usageLogId,
    alias_name: input.aliasName,
    provider: input.provider,
    model_used: input.modelUsed,
    tokens: {
      input: tokenCount('input', input.tokens.input),
      output: tokenCount('output', input.tokens.output),
      cached_input: tokenCount('cachedInput', input.tokens.cachedInput),
    },
    cost: { amount: input.cost.amount, currency: 'USD', source: input.cost.source },
    key_id: input.keyId,
  };
}
