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

/** A member name followed by its place, as `a.b[2].c`. */
function pathOf(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The first prototype key of `value`, described with its path (`a "__proto__" key at
 * metadata.__proto__`), or undefined. Walks with a stack of its own, so no nesting depth can
 * overflow the call stack. `root` names where `value` sits (e.g. "variables"), '' for nowhere.
 */
export function findPrototypeKey(value: unknown, root = ''): string | undefined {
  const stack: Array<[unknown, string]> = [[value, root]];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push([node[i], pathOf(path, i)]);
    } else if (isObject(node)) {
      const keys = Object.keys(node);
      for (const key of keys) {
        if (key === '__proto__') return `a "__proto__" key at ${pathOf(path, key)}`;
        const member = node[key];
        if (key === 'constructor' && isObject(member) && Object.hasOwn(member, 'prototype')) {
          return `a "constructor" key holding "prototype" at ${pathOf(path, key)}`;
        }
      }
      // Children go on the stack last first, so that they are looked at in document order.
      for (let i = keys.length - 1; i >= 0; i--) stack.push([node[keys[i]], pathOf(path, keys[i])]);
    }
  }
  return undefined;
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
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    throw new JsonInputError(`${what} is not valid JSON`);
  }
  const prototypeKey = findPrototypeKey(value);
  if (prototypeKey) throw new JsonInputError(`${what} has ${prototypeKey}, ${PROTOTYPE_KEY_RULE}`);
  return value;
}
