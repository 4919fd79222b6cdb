/**
 * The RFC 8785 (JCS) text of a JSON value: members sorted by UTF-16 code units, no
 * whitespace, strings and numbers as ECMAScript's JSON.stringify writes them.
 *
 * The canonicalize library is the implementation. It sorts every object again, which costs
 * several microseconds a receipt on the ingest path; so a value whose members already come in
 * canonical order (the server builds its own documents that way) takes a fast path:
 * JSON.stringify writes members in Object.keys order and values exactly as JCS does, so for
 * such a value its text is the JCS text. Anything else (a document a client sent to verify,
 * non-finite numbers, values that are not plain JSON) goes to the library.
 * test/receipts-jcs.test.ts compares both on generated documents.
 */
import canonicalize from 'canonicalize';

export function canonicalJson(value: unknown): string {
  if (inCanonicalOrder(value)) return JSON.stringify(value);
  const text = canonicalize(value);
  if (text === undefined) throw new Error('document does not canonicalize');
  return text;
}

/** Whether a value is plain JSON (finite numbers) whose objects list their members in JCS order. */
function inCanonicalOrder(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (Array.isArray(value)) return value.every(inCanonicalOrder);
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      const record = value as Record<string, unknown>;
      let previous: string | null = null;
      for (const key of Object.keys(record)) {
        if (previous !== null && !(previous < key)) return false;
        if (!inCanonicalOrder(record[key])) return false;
        previous = key;
      }
      return true;
    }
    default:
      return false;
  }
}
