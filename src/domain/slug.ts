/** Project keys: unique, URL-safe, human-readable slugs such as 'production' or 'client-a'. */

export const PROJECT_KEY_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const MAX_LENGTH = 64;

/** 'Client A (EU)' -> 'client-a-eu'; a name with no usable character becomes 'project'. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_LENGTH)
    .replace(/-+$/, '');
  return slug || 'project';
}

/** Slugs for several names, in order, made unique with -2, -3, ... suffixes. */
export function uniqueSlugs(names: string[], taken: Iterable<string> = []): string[] {
  const used = new Set(taken);
  return names.map((name) => {
    const base = slugify(name);
    let candidate = base;
    for (let n = 2; used.has(candidate); n++) {
      const suffix = `-${n}`;
      candidate = base.slice(0, MAX_LENGTH - suffix.length).replace(/-+$/, '') + suffix;
    }
    used.add(candidate);
    return candidate;
  });
}
