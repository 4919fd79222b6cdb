/**
 * The fast path of src/receipts/jcs.ts against the canonicalize library: documents in
 * canonical member order (as the server builds them) and in any other order, with the values
 * receipts hold and the ones they never should.
 */
import canonicalize from 'canonicalize';
import { canonicalJson } from '../src/receipts/jcs';
import { buildReceiptDocument } from '../src/receipts';

/** A small deterministic generator (xorshift), so a failure names a reproducible seed. */
function random(seed: number) {
  let x = Math.imul(seed, 0x9e3779b1) || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  for (let i = 0; i < 8; i++) next(); // small seeds start with small numbers
  return next;
}

const STRINGS = [
  '',
  'a',
  'é',
  '€',
  '😀',
  '\u0000',
  '"\\',
  '\n\t',
  '\u2028',
  'Z',
  'aa',
  '10',
  '9',
  '__proto__',
];

function value(next: () => number, depth: number): unknown {
  // A document: an object at the top; scalars only below three levels.
  const pick = depth === 0 ? 6 : Math.floor(next() * (depth > 2 ? 5 : 7));
  switch (pick) {
    case 0:
      return null;
    case 1:
      return next() < 0.5;
    case 2:
      return Math.floor(next() * 2 ** 40) * (next() < 0.5 ? -1 : 1);
    case 3:
      return next() * 1e-7;
    case 4:
      return STRINGS[Math.floor(next() * STRINGS.length)] + String(Math.floor(next() * 3));
    case 5:
      return Array.from({ length: Math.floor(next() * 4) }, () => value(next, depth + 1));
    default: {
      const keys = Array.from(
        { length: Math.floor(next() * 5) },
        () => STRINGS[Math.floor(next() * STRINGS.length)],
      );
      const sorted = next() < 0.6;
      const members = [...new Set(keys)].sort();
      if (!sorted) members.reverse();
      const o: Record<string, unknown> = {};
      for (const k of members)
        Object.defineProperty(o, k, {
          value: value(next, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return o;
    }
  }
}

describe('canonicalJson', () => {
  test('equals the canonicalize library on 5,000 generated values, sorted or not', () => {
    for (let seed = 1; seed <= 5_000; seed++) {
      const v = value(random(seed), 0);
      expect([seed, canonicalJson(v)]).toEqual([seed, canonicalize(v)]);
    }
  });

  test('integer-like keys, which JavaScript lists first, still come out in JCS order', () => {
    const v = { b: 1, '10': 2, '9': 3, a: 4 };
    expect(canonicalJson(v)).toBe('{"10":2,"9":3,"a":4,"b":1}');
  });

  test('non-finite numbers are refused, not written as null', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/NaN/);
    expect(() => canonicalJson([Number.POSITIVE_INFINITY])).toThrow(/Infinity/);
  });

  test('a receipt the server builds is already in canonical order', () => {
    const doc = buildReceiptDocument({
      receiptId: 'rcpt_aaaaaaaaaaaaaaaaaaaaaaaaaa',
      issuedAt: new Date('2026-12-01T10:00:00.000Z'),
      occurredAt: new Date('2026-12-01T09:59:59.500Z'),
      projectKey: 'production',
      usageLogId: '0192f0e1-1111-7000-8000-000000000000',
      aliasName: 'summarizer',
      provider: 'anthropic',
      modelUsed: 'claude-sonnet-4-20250514',
      tokens: { input: 150, output: 20, cachedInput: 10, cacheWrite5m: 5, cacheWrite1h: 0, reasoning: 0 },
      cost: { amount: '0.00043350', source: 'registry' },
      pricing: {
        source: 'registry',
        version: 'v',
        long_context: false,
        lines: [{ type: 'input', tokens: 135, per_million: '3', amount: '0.000405' }],
      },
      keyId: 'k1',
    });
    const ordered = (o: unknown): boolean =>
      Array.isArray(o)
        ? o.every(ordered)
        : typeof o !== 'object' || o === null
          ? true
          : Object.keys(o).every((k, i, ks) => i === 0 || ks[i - 1] < k) && Object.values(o).every(ordered);
    expect(ordered(doc)).toBe(true);
    expect(JSON.stringify(doc)).toBe(canonicalize(doc));
  });
});
