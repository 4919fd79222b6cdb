/**
 * The JSON input rules (src/domain/json.ts) on their own, with random JSON from fast-check: the
 * duplicate-member scan never flags JSON that JSON.stringify wrote (it cannot hold duplicates),
 * however it is spaced or escaped, and always finds a member added twice, wherever it is.
 */
import fc from 'fast-check';
import {
  DUPLICATE_MEMBER_RULE,
  findDuplicateMember,
  findPrototypeKey,
  parseJsonInput,
} from '../src/domain/json';

/** `text` with every character of every string written as a \uXXXX escape. */
function escapeEverything(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(/"((?:[^"\\]|\\.)*)"/g, (_m, body: string) => {
    const decoded = JSON.parse(`"${body}"`) as string;
    return `"${[...decoded].map((ch) => [...ch].map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')).join('')}"`;
  });
}

/** parseJsonInput's message when it refuses `text` for a repeated member, else undefined. */
function duplicateRefusal(text: string): string | undefined {
  try {
    parseJsonInput(text, 'The body');
  } catch (err) {
    if ((err as Error).message.includes(' twice, ')) return (err as Error).message;
  }
  return undefined;
}

// Keys of every kind: quotes, backslashes, controls, non-ASCII, empty.
const json = fc.jsonValue({ maxDepth: 4 });

test('JSON.stringify output never has a duplicate member, plain, spaced or escaped', () => {
  fc.assert(
    fc.property(json, (value) => {
      for (const text of [
        JSON.stringify(value),
        JSON.stringify(value, null, 2),
        escapeEverything(value, 1),
      ]) {
        expect(findDuplicateMember(text)).toBeUndefined();
        // parseJsonInput counts names against keys first, and must agree.
        expect(duplicateRefusal(text)).toBeUndefined();
      }
    }),
    { numRuns: 500 },
  );
});

test('a member given twice is found, with its place, however deep', () => {
  const object = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1 });
  const place = fc.array(fc.oneof(fc.string({ minLength: 1 }), fc.nat(3)), { maxLength: 4 });
  fc.assert(
    fc.property(object, place, (members, steps) => {
      const name = Object.keys(members)[0];
      const inner = JSON.stringify(members);
      // The repeated member goes first, so JSON.parse keeps the later one, as in the forged receipt.
      let text = `{${JSON.stringify(name)}:"forged",${inner.slice(1)}`;
      let path = '';
      for (const step of [...steps].reverse()) {
        text =
          typeof step === 'number' ? `[${'0,'.repeat(step)}${text}]` : `{${JSON.stringify(step)}:${text}}`;
        path = (typeof step === 'number' ? `[${step}]` : `.${step}`) + path;
      }
      const where = path === '' ? 'at the top level' : `in ${path.replace(/^\./, '')}`;
      expect(findDuplicateMember(text)).toBe(`the member ${JSON.stringify(name)} twice, ${where}`);
      expect(duplicateRefusal(text)).toContain(`the member ${JSON.stringify(name)} twice, ${where}`);
    }),
    { numRuns: 500 },
  );
});

test('names are compared as JSON.parse decodes them', () => {
  expect(findDuplicateMember('{"\\u0063ost": 1, "cost": 2}')).toBe(
    'the member "cost" twice, at the top level',
  );
  expect(findDuplicateMember('{"cost": 1, "\\u0063ost": 2}')).toBe(
    'the member "cost" twice, at the top level',
  );
  expect(findDuplicateMember('{"a\\"b": 1, "a\\u0022b": 2}')).toBe(
    'the member "a\\"b" twice, at the top level',
  );
  expect(findDuplicateMember('{"a\\\\": {"x": 1}, "b": [{"x": 1, "y": "\\"x\\": 2"}]}')).toBeUndefined();
  // parseJsonInput counts names against keys before it scans: spaced out and escaped, it agrees.
  expect(duplicateRefusal('{"\\u0063ost" :\n 1,\t"cost"\r\n: 2}')).toBe(
    `The body has the member "cost" twice, at the top level, ${DUPLICATE_MEMBER_RULE}`,
  );
  expect(duplicateRefusal('{"a\\\\": {"x": 1}, "b": [{"x": 1, "y": "\\"x\\": 2"}]}')).toBeUndefined();
  // Many members: past the few compared in place, a Set keeps the check linear.
  const many = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
  expect(findDuplicateMember(JSON.stringify(many))).toBeUndefined();
  expect(findDuplicateMember(`{${JSON.stringify(many).slice(1, -1)},"k0":0}`)).toBe(
    'the member "k0" twice, at the top level',
  );
  expect(findDuplicateMember(`{${JSON.stringify(many).slice(1, -1)},"k4999":0}`)).toBe(
    'the member "k4999" twice, at the top level',
  );
});

test('prototype keys are found at any depth without recursion, and parseJsonInput applies both rules', () => {
  const deep = `${'['.repeat(100_000)}{"__proto__": 1}${']'.repeat(100_000)}`;
  // Its path is as long as the input is deep: the message shows its end.
  expect(findPrototypeKey(JSON.parse(deep))).toBe(`a "__proto__" key at …${'[0]'.repeat(36)}.__proto__`);
  expect(findPrototypeKey({ a: [{ b: 1 }, { __proto__: null }] })).toBeUndefined(); // a literal __proto__ sets the prototype
  expect(findPrototypeKey(JSON.parse('[{"b": 1}, {"__proto__": null}]'))).toBe(
    'a "__proto__" key at [1].__proto__',
  );
  expect(() => parseJsonInput('{"a": 1, "a": 2}', 'The body')).toThrow(
    /^The body has the member "a" twice, at the top level, and member names must be unique/,
  );
  expect(() => parseJsonInput('{"a": {"constructor": {"prototype": {}}}}', 'The body')).toThrow(
    /^The body has a "constructor" key holding "prototype" at a\.constructor, which this server refuses/,
  );
  expect(() => parseJsonInput('{"a": ', 'The body')).toThrow(/^The body is not valid JSON$/);
  expect(parseJsonInput('\ufeff{"a": [1, "x"]}', 'The body')).toEqual({ a: [1, 'x'] });
});
