/** Driver-value normalisation: decimal strings come out exact and in one form. */
import Decimal from 'decimal.js';
import fc from 'fast-check';
import { toDecimalString, toDecimalStringOrNull } from '../src/db/normalize';

const reference = (value: string, scale: number) => new Decimal(value).toFixed(scale);

describe('toDecimalString', () => {
  it('gives the exact fixed-point form, whatever form the value comes in', () => {
    const digits = fc.stringMatching(/^[0-9]{1,12}$/);
    const decimal = fc
      .tuple(fc.boolean(), digits, fc.option(digits, { nil: undefined }))
      .map(
        ([negative, whole, fraction]) => `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`,
      );
    fc.assert(
      fc.property(decimal, fc.constantFrom(0, 2, 8, 10), (value, scale) => {
        expect(toDecimalString(value, scale)).toBe(reference(value, scale));
      }),
      { numRuns: 2000 },
    );
  });

  it('returns a value already in that form as it is, and rewrites any other', () => {
    expect(toDecimalString('0.00123400')).toBe('0.00123400');
    expect(toDecimalString('12.0000000000', 10)).toBe('12.0000000000');
    expect(toDecimalString('00.10000000')).toBe('0.10000000');
    expect(toDecimalString('1.5')).toBe('1.50000000');
    expect(toDecimalString('0.123456789')).toBe('0.12345679');
    expect(toDecimalString('7', 0)).toBe('7');
    expect(toDecimalString(0.1)).toBe('0.10000000');
    expect(toDecimalString(null)).toBe('0.00000000');
    expect(toDecimalStringOrNull(undefined)).toBeNull();
  });
});
