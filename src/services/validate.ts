/** Small input checks shared by the services; each names the field it rejects. */
import { badInput } from './errors';

/** A string that Postgres can store and that is not over `max` characters. */
export function checkString(
  field: string,
  value: string,
  opts: { max: number; allowEmpty?: boolean },
): string {
  if (!opts.allowEmpty && value.trim() === '') throw badInput(field, 'must not be empty');
  if (value.length > opts.max)
    throw badInput(field, `must be at most ${opts.max} characters (got ${value.length})`);
  checkStorable(field, value);
  return value;
}

export function checkOptionalString(
  field: string,
  value: string | null | undefined,
  opts: { max: number; allowEmpty?: boolean },
): string | null {
  return value === null || value === undefined ? null : checkString(field, value, opts);
}

/** Postgres text cannot hold NUL, and a lone UTF-16 surrogate is not a character. */
export function checkStorable(field: string, value: string): void {
  if (value.includes('\u0000')) throw badInput(field, 'must not contain NUL (\\u0000) characters');
  if (!value.isWellFormed()) throw badInput(field, 'must be well-formed Unicode (it holds a lone surrogate)');
}

export function checkNonNegativeInt(field: string, value: number, max = 2_147_483_647): number {
  if (!Number.isInteger(value) || value < 0) throw badInput(field, 'must be a non-negative integer');
  if (value > max) throw badInput(field, `must be at most ${max}`);
  return value;
}
