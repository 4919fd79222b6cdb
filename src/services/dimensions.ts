/**
 * Metadata dimensions: the metadata keys an operator promotes (LLMRING_METADATA_DIMENSIONS)
 * so that statistics filter and group by them from the rollups, as fast as by alias name
 * (migrations/20261201000001_metadata_dimensions.ts). A log keeps its metadata whole; its
 * promoted keys' values are also stored apart, as text capped in length, when it is stored.
 *
 * Values: a string, number or boolean is taken as its text (JSON's spelling for numbers and
 * booleans), cut to maxValueLength characters (whole code points); null, an object or an
 * array is no value, like a missing key. Keys that are not promoted stay stored and
 * returned in metadata, never grouped.
 */
import type { UsageQuery } from '../domain/types';
import { badInput } from './errors';

export interface DimensionSettings {
  keys: readonly string[];
  maxValueLength: number;
}

export class DimensionService {
  readonly keys: readonly string[];
  private readonly maxValueLength: number;

  constructor(settings: DimensionSettings) {
    this.keys = [...settings.keys];
    this.maxValueLength = settings.maxValueLength;
  }

  /** The promoted values of one log's metadata, or null when it has none. */
  valuesOf(metadata: Record<string, unknown>): Record<string, string> | null {
    let values: Record<string, string> | null = null;
    for (const key of this.keys) {
      if (!Object.hasOwn(metadata, key)) continue;
      const value = metadata[key];
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
      values ??= {};
      values[key] = this.cap(String(value));
    }
    return values;
  }

  private cap(value: string): string {
    if (value.length <= this.maxValueLength) return value;
    return Array.from(value).slice(0, this.maxValueLength).join('');
  }

  /** Throws BAD_USER_INPUT unless every metadata key a query filters on is promoted. */
  checkFilter(q: UsageQuery): void {
    this.check(
      'filter.metadata',
      (q.metadata ?? []).map((f) => f.key),
    );
  }

  /** Throws BAD_USER_INPUT naming `field` unless every key is promoted. */
  check(field: string, keys: readonly string[]): void {
    for (const key of keys) {
      if (!this.keys.includes(key)) {
        const promoted = this.keys.length
          ? `the promoted keys are ${this.keys.map((k) => `'${k}'`).join(', ')}`
          : 'no key is promoted';
        throw badInput(
          field,
          `metadata key '${key.slice(0, 64)}' is not a promoted dimension (${promoted}; LLMRING_METADATA_DIMENSIONS sets them)`,
        );
      }
    }
  }
}
