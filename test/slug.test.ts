/** Project keys derived from names: URL-safe, at most 64 characters, unique with suffixes. */
import fc from 'fast-check';
import { PROJECT_KEY_PATTERN, slugify, uniqueSlugs } from '../src/domain/slug';

describe('slugify', () => {
  it.each([
    ['Client A (EU)', 'client-a-eu'],
    ['production', 'production'],
    ['  --Hello__World--  ', 'hello-world'],
    ["O'Reilly & Sons, Inc.", 'o-reilly-sons-inc'],
    ['v1.2.3 / staging', 'v1-2-3-staging'],
    ['Café Ünïcode', 'cafe-unicode'],
    ['Crème brûlée à la carte', 'creme-brulee-a-la-carte'],
    ['Ｆｕｌｌｗｉｄｔｈ １２３', 'fullwidth-123'], // compatibility forms fold to ASCII
    ['team™ ①', 'teamtm-1'],
    ['Ａｃｍｅ 日本 Corp', 'acme-corp'],
  ])('%j -> %j', (name, slug) => {
    expect(slugify(name)).toBe(slug);
  });

  it.each(['', '   ', '---', '!!!', '日本語プロジェクト', '🚀🚀', 'Ωμέγα'])(
    'a name with no usable character (%j) becomes "project"',
    (name) => {
      expect(slugify(name)).toBe('project');
    },
  );

  it('caps the slug at 64 characters', () => {
    expect(slugify('a'.repeat(100))).toBe('a'.repeat(64));
    expect(slugify('Ab'.repeat(32))).toBe('ab'.repeat(32));
  });

  it('never ends with a hyphen after the cap', () => {
    // The 64th character is the separator: it is dropped rather than kept dangling.
    const slug = slugify(`${'a'.repeat(63)} bcd`);
    expect(slug).toBe('a'.repeat(63));
    expect(slug).toMatch(PROJECT_KEY_PATTERN);
  });

  it('always yields a valid project key', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (name) => {
        expect(slugify(name)).toMatch(PROJECT_KEY_PATTERN);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', 'Z', '-', ' ', '_', '9', 'é'), maxLength: 150 }),
        (name) => {
          expect(slugify(name)).toMatch(PROJECT_KEY_PATTERN);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('uniqueSlugs', () => {
  it('de-duplicates names that slugify identically, in order', () => {
    expect(uniqueSlugs(['Client A', 'client-a', 'CLIENT  A!', 'Other'])).toEqual([
      'client-a',
      'client-a-2',
      'client-a-3',
      'other',
    ]);
  });

  it('avoids keys already taken, without changing the taken set', () => {
    const taken = new Set(['client-a', 'client-a-2']);
    expect(uniqueSlugs(['Client A'], taken)).toEqual(['client-a-3']);
    expect([...taken]).toEqual(['client-a', 'client-a-2']);
  });

  it('skips a suffix another name already produced naturally', () => {
    expect(uniqueSlugs(['a-2', 'a', 'A'])).toEqual(['a-2', 'a', 'a-3']);
  });

  it('suffixes the "project" fallback too', () => {
    expect(uniqueSlugs(['日本', '', 'Project', '🚀'])).toEqual([
      'project',
      'project-2',
      'project-3',
      'project-4',
    ]);
  });

  it('keeps suffixed keys within 64 characters', () => {
    const long = 'x'.repeat(80);
    const keys = uniqueSlugs(Array.from({ length: 12 }, () => long));
    expect(keys[0]).toBe('x'.repeat(64));
    expect(keys[1]).toBe(`${'x'.repeat(62)}-2`);
    expect(keys[9]).toBe(`${'x'.repeat(61)}-10`);
    expect(keys[11]).toBe(`${'x'.repeat(61)}-12`);
    for (const key of keys) {
      expect(key.length).toBeLessThanOrEqual(64);
      expect(key).toMatch(PROJECT_KEY_PATTERN);
    }
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('trims a hyphen exposed by shortening for the suffix', () => {
    // Base slug: 61 a's, '-', 'bc' (64 characters); cut to 62 it would end in '-'.
    const name = `${'a'.repeat(61)} bcd`;
    expect(uniqueSlugs([name, name])).toEqual([`${'a'.repeat(61)}-bc`, `${'a'.repeat(61)}-2`]);
  });

  it('returns unique valid keys for any list of names', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 80 }),
            fc.constantFrom('Client A', 'client-a', 'client-a-2', '', '日本'),
          ),
          {
            maxLength: 40,
          },
        ),
        fc.array(fc.constantFrom('client-a', 'client-a-2', 'project', 'x'), { maxLength: 4 }),
        (names, taken) => {
          const keys = uniqueSlugs(names, taken);
          expect(keys).toHaveLength(names.length);
          expect(new Set([...keys, ...taken]).size).toBe(keys.length + new Set(taken).size);
          for (const key of keys) expect(key).toMatch(PROJECT_KEY_PATTERN);
        },
      ),
      { numRuns: 300 },
    );
  });
});
