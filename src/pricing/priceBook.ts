/**
 * The price book in memory: an operator's prices that override the registry, for every
 * project or for one, each over [effectiveFrom, effectiveTo) of a call's occurredAt. Built
 * from the model_prices table (src/services/priceBook.ts keeps it current); quote() only
 * reads it, so pricing a call never touches the database.
 *
 * A book price is a whole price of the model: what it does not list falls back as the
 * formula says (cache reads to the input price, …), never to the registry's price for that
 * token type, so a bill can always be explained from one row of the book.
 */
import { PriceSchedule, type ModelPrices } from './formula';

export interface PriceBookEntry {
  id: string;
  /** Renewed by every change of the row; the book's version is its greatest. */
  version: number;
  /** null: every project. */
  projectId: string | null;
  provider: string;
  model: string;
  prices: ModelPrices;
  effectiveFrom: Date;
  /** Exclusive; null: open-ended. */
  effectiveTo: Date | null;
  note: string | null;
  createdAt: Date;
  updatedAt: Date;
}

interface Indexed {
  entry: PriceBookEntry;
  schedule: PriceSchedule;
}

const keyOf = (projectId: string | null, provider: string, model: string) =>
  `${projectId ?? '*'}\u0000${provider.toLowerCase()}\u0000${model.toLowerCase()}`;

export class PriceBook {
  private readonly byModel = new Map<string, Indexed[]>();
  /** The greatest entry version (0 for an empty book). */
  readonly version: number;

  constructor(entries: readonly PriceBookEntry[] = []) {
    for (const entry of entries) {
      const key = keyOf(entry.projectId, entry.provider, entry.model);
      const list = this.byModel.get(key) ?? [];
      list.push({ entry, schedule: new PriceSchedule(entry.prices) });
      this.byModel.set(key, list);
    }
    for (const list of this.byModel.values()) {
      list.sort((a, b) => a.entry.effectiveFrom.getTime() - b.entry.effectiveFrom.getTime());
    }
    this.version = entries.reduce((v, e) => Math.max(v, e.version), 0);
  }

  get size(): number {
    let n = 0;
    for (const list of this.byModel.values()) n += list.length;
    return n;
  }

  /**
   * The entry in effect at `at` for the project (its own before the global one), under any of
   * the names (the name logged, the registry's name for it), or undefined.
   */
  find(projectId: string | null, provider: string, names: readonly string[], at: Date): Indexed | undefined {
    const t = at.getTime();
    for (const scope of projectId ? [projectId, null] : [null]) {
      for (const name of names) {
        const list = this.byModel.get(keyOf(scope, provider, name));
        if (!list) continue;
        // Ranges of one model do not overlap (the book refuses it): the last one starting at
        // or before `at` is the only candidate.
        for (let i = list.length - 1; i >= 0; i--) {
          const { entry } = list[i];
          if (entry.effectiveFrom.getTime() > t) continue;
          if (entry.effectiveTo === null || entry.effectiveTo.getTime() > t) return list[i];
          break;
        }
      }
    }
    return undefined;
  }

  /** Every entry, in no particular order. */
  entries(): PriceBookEntry[] {
    return [...this.byModel.values()].flatMap((list) => list.map((x) => x.entry));
  }
}
