/**
 * The rules for JSON that clients send, in one place: request bodies (src/http/server.ts) and the
 * JSONObject scalar of GraphQL, as a variable or written in the document (src/graphql/schema.ts),
 * all apply them, so no input path can let through what another refuses.
 *
 * Prototype keys: a "__proto__" key, or a "constructor" key whose value is an object holding a
 * "prototype" key, anywhere in a value, is refused. Stored and served back, such metadata would
 * poison the prototype of whichever client merges it into an object by assignment.
 */

/** The message's tail, the same on every path: what is refused, where, and why. */
export const PROTOTYPE_KEY_RULE =
  'which this server refuses anywhere in JSON input (metadata included), as a guard against prototype poisoning';

/** Paths in messages are cut to their last characters: a path is as long as the input is deep. */
const PATH_SHOWN = 120;

/** `root` (or nothing) followed by the selectors of `steps`, as `variables.d[2].cost`, shortened. */
function spell(root: string, steps: Array<string | number>): string {
  const selectors = steps.map((step) => (typeof step === 'number' ? `[${step}]` : `.${step}`));
  let shown = '';
  for (let i = selectors.length - 1; i >= 0; i--) {
    if (shown.length + selectors[i].length > PATH_SHOWN) return `…${shown}`;
    shown = selectors[i] + shown;
  }
  const path = root + shown;
  return root === '' && path.startsWith('.') ? path.slice(1) : path;
}

/** The place of the `at`-th container that findPrototypeKey listed, then `key`. */
function pathOf(
  at: number,
  key: string,
  parents: number[],
  keys: Array<string | number>,
  root: string,
): string {
  const steps: Array<string | number> = [key];
  for (let i = at; i > 0; i = parents[i]) steps.push(keys[i]);
  return spell(root, steps.reverse());
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The first prototype key of `value`, shallowest first, described with its path (`a "__proto__"
 * key at metadata.__proto__`), or undefined. `root` names where `value` sits (e.g. "variables"),
 * '' for nowhere. The walk lists every object and array once, with its parent and key, instead
 * of recursing, so no nesting depth can overflow the call stack, and a path is only spelled out
 * for the key it reports.
 */
export function findPrototypeKey(value: unknown, root = ''): string | undefined {
  return walk(value, root).prototypeKey;
}

/** findPrototypeKey's walk, which also counts the members of every object it passes. */
function walk(value: unknown, root: string): { prototypeKey?: string; members: number } {
  const containers: unknown[] = [value];
  const parents: number[] = [-1];
  const keys: Array<string | number> = [''];
  let members = 0;
  const list = (child: unknown, parent: number, key: string | number) => {
    if (typeof child !== 'object' || child === null) return;
    containers.push(child);
    parents.push(parent);
    keys.push(key);
  };
  for (let at = 0; at < containers.length; at++) {
    const node = containers[at];
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) list(node[i], at, i);
    } else if (isObject(node)) {
      const names = Object.keys(node);
      members += names.length;
      for (const key of names) {
        const member = node[key];
        const refused =
          key === '__proto__'
            ? 'a "__proto__" key'
            : key === 'constructor' && isObject(member) && Object.hasOwn(member, 'prototype')
              ? 'a "constructor" key holding "prototype"'
              : undefined;
        if (refused)
          return { prototypeKey: `${refused} at ${pathOf(at, key, parents, keys, root)}`, members };
        list(member, at, key);
      }
    }
  }
  return { members };
}

/** The message's tail for a duplicate member name, the same on every path. */
export const DUPLICATE_MEMBER_RULE =
  'and member names must be unique within an object: JSON readers disagree on which value counts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Names an object holds before they go into a Set: below this, comparing in place is faster. */
const FEW_NAMES = 16;

/**
 * The member names of one object of a JSON text, each given as the offsets of its quotes. While
 * they are few and unescaped they are compared in place, without a string per name (most objects
 * of a request body have a dozen members); past FEW_NAMES, or at the first escaped name, they go
 * into a Set, decoded, so that a huge object is still checked in linear time.
 */
class MemberNames {
  /** Start and end offsets of the names so far (in-place mode). */
  private readonly offsets: number[] = [];
  private set?: Set<string>;
  /** Offsets of the latest name, where a child container sits. */
  latestStart = 0;
  latestEnd = 0;

  constructor(private readonly text: string) {}

  /** Adds the name whose quotes are at `start` and `end`; false when the object already has it. */
  add(start: number, end: number, escaped: boolean): boolean {
    this.latestStart = start;
    this.latestEnd = end;
    if (!this.set && (escaped || this.offsets.length >= 2 * FEW_NAMES)) {
      this.set = new Set();
      for (let k = 0; k < this.offsets.length; k += 2)
        this.set.add(this.text.slice(this.offsets[k] + 1, this.offsets[k + 1]));
    }
    if (this.set) {
      const name = nameAt(this.text, start, end);
      if (this.set.has(name)) return false;
      this.set.add(name);
      return true;
    }
    for (let k = 0; k < this.offsets.length; k += 2) {
      if (this.sameText(this.offsets[k], this.offsets[k + 1], start, end)) return false;
    }
    this.offsets.push(start, end);
    return true;
  }

  private sameText(aStart: number, aEnd: number, bStart: number, bEnd: number): boolean {
    if (aEnd - aStart !== bEnd - bStart) return false;
    for (let a = aStart + 1, b = bStart + 1; a < aEnd; a++, b++) {
      if (this.text.charCodeAt(a) !== this.text.charCodeAt(b)) return false;
    }
    return true;
  }
}

/** The name, decoded, whose quotes are at `start` and `end`. */
function nameAt(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end);
  return raw.includes('\\') ? (JSON.parse(text.slice(start, end + 1)) as string) : raw;
}

/** Whether text[from, to) holds a backslash (an escape), looking at those characters only. */
function hasBackslash(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === BACKSLASH) return true;
  return false;
}

/** Where the string that opens at `start` (a quote) closes: the next quote not escaped. */
function stringEnd(text: string, start: number): number {
  let end = text.indexOf('"', start + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return end;
    end = text.indexOf('"', end + 1);
  }
}

const COLON = 0x3a;
/** JSON's whitespace: space, tab, line feed, carriage return. */
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * How many member names `text` holds (JSON that JSON.parse accepted): the strings followed by
 * a colon. Fewer keys in the parsed value than names means some object holds a name twice.
 */
function countMemberNames(text: string): number {
  let names = 0;
  for (let i = text.indexOf('"'); i !== -1;) {
    let next = stringEnd(text, i) + 1;
    while (next < text.length && isSpace(text.charCodeAt(next))) next++;
    if (text.charCodeAt(next) === COLON) names++;
    i = text.indexOf('"', next);
  }
  return names;
}

/** An object (its names) or an array (its current index) that the scan is inside of. */
type Container = MemberNames | { index: number };

/**
 * The first member name that `text` gives twice within one object, described with where
 * (`the member "cost" twice, in variables.d`), or undefined. JSON.parse keeps the last of
 * such members, other readers the first, so a document could say one thing to the server and
 * another to a person or a verifier; and no reviver can see them.
 *
 * `text` must be JSON that JSON.parse accepted: the scan then needs only to skip strings and
 * follow the brackets. A string is a member name when it comes first in an object or after a
 * comma in one; names are compared as JSON.parse decodes them ("\u0063ost" is "cost").
 */
export function findDuplicateMember(text: string, root = ''): string | undefined {
  const stack: Container[] = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (expectName) {
        const names = stack[stack.length - 1] as MemberNames;
        const escaped = hasBackslash(text, i + 1, end);
        if (!names.add(i, end, escaped)) {
          return `the member ${JSON.stringify(nameAt(text, i, end))} twice, ${placeOf(text, stack, root)}`;
        }
        expectName = false;
      }
      i = end;
    } else if (c === OPEN_OBJECT) {
      stack.push(new MemberNames(text));
      expectName = true;
    } else if (c === OPEN_ARRAY) {
      stack.push({ index: 0 });
      expectName = false;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop();
      expectName = false;
    } else if (c === COMMA) {
      const container = stack[stack.length - 1];
      if (container instanceof MemberNames) expectName = true;
      else container.index++;
    }
  }
  return undefined;
}

/** "in variables.d[2]" for the innermost object of `stack`, or "at the top level". */
function placeOf(text: string, stack: Container[], root: string): string {
  const steps = stack
    .slice(0, -1)
    .map((c) => (c instanceof MemberNames ? nameAt(text, c.latestStart, c.latestEnd) : c.index));
  const path = spell(root, steps);
  return path === '' ? 'at the top level' : `in ${path}`;
}

/** JSON text a client sent that breaks a rule here; the message says which, and where. */
export class JsonInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonInputError';
  }
}

/**
 * JSON text from a client, parsed and held to the rules above; `what` names it in the message
 * ("The request body"). A leading byte order mark is ignored, as RFC 8259 allows.
 */
export function parseJsonInput(text: string, what: string): unknown {
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new JsonInputError(`${what} is not valid JSON`);
  }
  const { prototypeKey, members } = walk(value, '');
  // Each member name of the text is a key of its object, except a repeated one: when the
  // counts agree there is none, and the scan that finds and places it is not needed.
  if (countMemberNames(json) !== members) {
    const duplicate = findDuplicateMember(json);
    if (duplicate) throw new JsonInputError(`${what} has ${duplicate}, ${DUPLICATE_MEMBER_RULE}`);
  }
  if (prototypeKey) throw new JsonInputError(`${what} has ${prototypeKey}, ${PROTOTYPE_KEY_RULE}`);
  return value;
}
