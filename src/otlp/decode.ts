/**
 * OTLP/HTTP trace export requests, read from either encoding into one plain shape: spans with
 * hex ids, nanosecond times as bigints, and attributes as JavaScript values.
 *
 * - `application/x-protobuf`: ExportTraceServiceRequest, decoded with protobufjs from the
 *   official opentelemetry-proto files vendored in proto/ (Apache-2.0, see proto/README.md).
 * - `application/json`: the OTLP/JSON mapping (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 *   lowerCamelCase names (the proto names are accepted too), trace and span ids as hex, 64-bit
 *   integers as decimal strings or numbers, unknown fields ignored.
 *
 * Answers (ExportTraceServiceResponse) and errors (google.rpc.Status) are encoded here too,
 * in the encoding of the request.
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { JsonInputError, parseJsonInput } from '../domain/json';

/** A body that is not an OTLP export request: the receiver answers 400. */
export class OtlpDecodeError extends Error {}

export type AttributeValue = string | number | boolean | bigint | null | AttributeValue[] | AttributeMap;
export interface AttributeMap {
  [key: string]: AttributeValue;
}

export interface OtlpSpan {
  /** 32 lower-case hex digits ('' when the span has none). */
  traceId: string;
  /** 16 lower-case hex digits ('' when the span has none). */
  spanId: string;
  name: string;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: AttributeMap;
  /** The attributes of the span's resource (service.name, ...). */
  resource: AttributeMap;
}

/** proto/, from src/otlp (tsx, jest) and from dist/src/otlp (npm run compile copies it). */
const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');

let types:
  | {
      request: protobuf.Type;
      response: protobuf.Type;
      status: protobuf.Type;
    }
  | undefined;

function protoTypes() {
  if (!types) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => path.join(PROTO_DIR, target);
    root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
    // google.rpc.Status, the body of OTLP/HTTP error answers: only the fields this server sets
    // (code = 1, message = 2; details = 3 is never sent).
    const status = new protobuf.Type('Status')
      .add(new protobuf.Field('code', 1, 'int32'))
      .add(new protobuf.Field('message', 2, 'string'));
    new protobuf.Root().define('google.rpc').add(status);
    oneofPerMember(root.lookupType('opentelemetry.proto.common.v1.AnyValue'), 'value');
    types = {
      request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
      response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
      status,
    };
  }
  return types;
}

/**
 * Gives each member of `type`'s oneof `name` a oneof of its own (as proto3 `optional` fields
 * have), so that decoding keeps what the wire holds, a false or a 0 included, and protoValue
 * reads the member a message holds as its own property. protobufjs's setter of a oneof with
 * several members, run for every member it decodes, deletes the others from the message,
 * which turns each AnyValue (about ten per span) into a slow dictionary object: two thirds of
 * the decoding time of a GenAI span. Must run before the type's first use.
 */
function oneofPerMember(type: protobuf.Type, name: string): void {
  const oneof = type.oneofs[name];
  const members = [...oneof.fieldsArray];
  for (const field of members) oneof.remove(field);
  type.remove(oneof);
  for (const field of members) type.add(new protobuf.OneOf(`_${field.name}`, [field.name]));
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A member by its lowerCamelCase name or its proto name. */
function get(obj: Json, camel: string, snake?: string): unknown {
  return obj[camel] ?? (snake === undefined ? undefined : obj[snake]);
}

function list(obj: Json, camel: string, snake: string | undefined, where: string): Json[] {
  const value = get(obj, camel, snake);
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new OtlpDecodeError(`${where}.${camel} must be an array`);
  value.forEach((v, i) => {
    if (!isObject(v)) throw new OtlpDecodeError(`${where}.${camel}[${i}] must be an object`);
  });
  return value as Json[];
}

/** A 64-bit unsigned integer: a decimal string, a safe integer, or a protobufjs Long. */
function uint64(value: unknown, where: string): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'bigint' && value >= 0n) return value;
  if (isObject(value) && typeof value.low === 'number' && typeof value.high === 'number') {
    return (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  }
  throw new OtlpDecodeError(`${where} must be an unsigned 64-bit integer`);
}

function int64(value: unknown, where: string): bigint {
  if (typeof value === 'string' && /^-?\d{1,19}$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  if (isObject(value) && typeof value.low === 'number' && typeof value.high === 'number') {
    return BigInt.asIntN(64, (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0));
  }
  throw new OtlpDecodeError(`${where} must be a 64-bit integer`);
}

const HEX = /^[0-9a-fA-F]*$/;

/** An id: hex in JSON, bytes in protobuf; '' when absent. */
function id(value: unknown, bytes: number, where: string): string {
  if (value === undefined || value === null || value === '') return '';
  if (value instanceof Uint8Array) {
    if (value.length === 0) return '';
    if (value.length !== bytes) throw new OtlpDecodeError(`${where} must be ${bytes} bytes`);
    return Buffer.from(value).toString('hex');
  }
  if (typeof value === 'string' && value.length === bytes * 2 && HEX.test(value)) {
    return value.toLowerCase();
  }
  throw new OtlpDecodeError(`${where} must be ${bytes * 2} hex digits`);
}

/** MAX depth of nested attribute values (arrays, kvlists) read; deeper ones are refused. */
const MAX_DEPTH = 16;

function anyValue(value: unknown, where: string, depth: number): AttributeValue {
  if (depth > MAX_DEPTH) throw new OtlpDecodeError(`${where} nests too deeply`);
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw new OtlpDecodeError(`${where} must be an AnyValue object`);
  const s = get(value, 'stringValue', 'string_value');
  if (s !== undefined && s !== null) {
    if (typeof s !== 'string') throw new OtlpDecodeError(`${where}.stringValue must be a string`);
    return s;
  }
  const b = get(value, 'boolValue', 'bool_value');
  if (b !== undefined && b !== null) {
    if (typeof b !== 'boolean') throw new OtlpDecodeError(`${where}.boolValue must be a boolean`);
    return b;
  }
  const i = get(value, 'intValue', 'int_value');
  if (i !== undefined && i !== null) {
    const n = int64(i, `${where}.intValue`);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  const d = get(value, 'doubleValue', 'double_value');
  if (d !== undefined && d !== null) {
    // JSON may carry NaN and the infinities as strings; they are no use as counts or costs.
    if (typeof d === 'number') return d;
    if (typeof d === 'string' && ['NaN', 'Infinity', '-Infinity'].includes(d)) return null;
    throw new OtlpDecodeError(`${where}.doubleValue must be a number`);
  }
  const a = get(value, 'arrayValue', 'array_value');
  if (a !== undefined && a !== null) {
    if (!isObject(a)) throw new OtlpDecodeError(`${where}.arrayValue must be an object`);
    const values = get(a, 'values') ?? [];
    if (!Array.isArray(values)) throw new OtlpDecodeError(`${where}.arrayValue.values must be an array`);
    return values.map((v, k) => anyValue(v, `${where}.arrayValue.values[${k}]`, depth + 1));
  }
  const kv = get(value, 'kvlistValue', 'kvlist_value');
  if (kv !== undefined && kv !== null) {
    if (!isObject(kv)) throw new OtlpDecodeError(`${where}.kvlistValue must be an object`);
    return attributes(kv, 'values', `${where}.kvlistValue`, depth + 1);
  }
  const bytes = get(value, 'bytesValue', 'bytes_value');
  if (bytes !== undefined && bytes !== null) {
    return bytes instanceof Uint8Array ? Buffer.from(bytes).toString('base64') : String(bytes);
  }
  return null;
}

function attributes(obj: Json, member: string, where: string, depth = 0): AttributeMap {
  const out: AttributeMap = Object.create(null) as AttributeMap;
  for (const [k, kv] of list(obj, member, undefined, where).entries()) {
    const key = kv.key;
    if (typeof key !== 'string') throw new OtlpDecodeError(`${where}.${member}[${k}].key must be a string`);
    out[key] = anyValue(kv.value, `${where}.${member}[${k}].value`, depth);
  }
  return out;
}

/** The spans of a request already parsed into objects (JSON, or protobufjs messages). */
function spansOf(request: unknown): OtlpSpan[] {
  if (!isObject(request)) throw new OtlpDecodeError('the body must be an ExportTraceServiceRequest object');
  const spans: OtlpSpan[] = [];
  list(request, 'resourceSpans', 'resource_spans', 'body').forEach((rs, r) => {
    const at = `resourceSpans[${r}]`;
    const res = get(rs, 'resource');
    const resource = isObject(res) ? attributes(res, 'attributes', `${at}.resource`) : {};
    list(rs, 'scopeSpans', 'scope_spans', at).forEach((ss, s) => {
      list(ss, 'spans', undefined, `${at}.scopeSpans[${s}]`).forEach((span, k) => {
        const where = `${at}.scopeSpans[${s}].spans[${k}]`;
        const name = get(span, 'name');
        spans.push({
          traceId: id(get(span, 'traceId', 'trace_id'), 16, `${where}.traceId`),
          spanId: id(get(span, 'spanId', 'span_id'), 8, `${where}.spanId`),
          name: typeof name === 'string' ? name : '',
          startTimeUnixNano: uint64(
            get(span, 'startTimeUnixNano', 'start_time_unix_nano'),
            `${where}.startTimeUnixNano`,
          ),
          endTimeUnixNano: uint64(
            get(span, 'endTimeUnixNano', 'end_time_unix_nano'),
            `${where}.endTimeUnixNano`,
          ),
          attributes: attributes(span, 'attributes', where),
          resource,
        });
      });
    });
  });
  return spans;
}

/**
 * The decoded protobuf messages, as protobufjs makes them: every field present (absent ones
 * read their defaults from the prototype), 64-bit integers as Long, bytes as Uint8Array, and
 * a oneof's name (`value`) naming its member that is set.
 */
interface ProtoLong {
  low: number;
  high: number;
  unsigned: boolean;
}
/** An AnyValue as oneofPerMember has it decoded: the member on the wire is an own property. */
interface ProtoAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: ProtoLong | number;
  doubleValue?: number;
  arrayValue?: { values: ProtoAnyValue[] } | null;
  kvlistValue?: { values: ProtoKeyValue[] } | null;
  bytesValue?: Uint8Array;
}
interface ProtoKeyValue {
  key: string;
  value: ProtoAnyValue | null;
}
interface ProtoSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  name: string;
  startTimeUnixNano: ProtoLong | number;
  endTimeUnixNano: ProtoLong | number;
  attributes: ProtoKeyValue[];
}
interface ProtoRequest {
  resourceSpans: Array<{
    resource: { attributes: ProtoKeyValue[] } | null;
    scopeSpans: Array<{ spans: ProtoSpan[] }>;
  }>;
}

/** A Long (or a number, without long.js) as a bigint, signed or not as the field is. */
function longOf(value: ProtoLong | number): bigint {
  if (typeof value === 'number') return BigInt(value);
  const bits = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return value.unsigned ? bits : BigInt.asIntN(64, bits);
}

function protoValue(value: ProtoAnyValue | null, where: string, depth: number): AttributeValue {
  if (depth > MAX_DEPTH) throw new OtlpDecodeError(`${where} nests too deeply`);
  if (!value) return null;
  // The member read last, when the wire held several of the oneof (protobuf's rule).
  const members = Object.keys(value) as Array<keyof ProtoAnyValue>;
  switch (members[members.length - 1]) {
    case 'stringValue':
      return value.stringValue!;
    case 'boolValue':
      return value.boolValue!;
    case 'doubleValue':
      // NaN and the infinities are no use as counts or costs (as in JSON, where they are strings).
      return Number.isFinite(value.doubleValue) ? value.doubleValue! : null;
    case 'intValue': {
      const n = longOf(value.intValue!);
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case 'arrayValue':
      return (value.arrayValue?.values ?? []).map((v, k) =>
        protoValue(v, `${where}.arrayValue.values[${k}]`, depth + 1),
      );
    case 'kvlistValue':
      return protoAttributes(value.kvlistValue?.values ?? [], `${where}.kvlistValue`, 'values', depth + 1);
    case 'bytesValue':
      return Buffer.from(value.bytesValue!).toString('base64');
    default:
      return null;
  }
}

function protoAttributes(list: ProtoKeyValue[], where: string, member: string, depth = 0): AttributeMap {
  const out: AttributeMap = Object.create(null) as AttributeMap;
  list.forEach((kv, k) => (out[kv.key] = protoValue(kv.value, `${where}.${member}[${k}].value`, depth)));
  return out;
}

/** A bytes field, or undefined when unset (its default is an empty plain array). */
const present = (bytes: Uint8Array) => (bytes.length ? bytes : undefined);

/**
 * The spans of a decoded protobuf request, read from the messages themselves: what toObject
 * would make of them and spansOf then read, without copying every message first.
 */
function spansOfMessage(request: ProtoRequest): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  request.resourceSpans.forEach((rs, r) => {
    const at = `resourceSpans[${r}]`;
    const resource = rs.resource
      ? protoAttributes(rs.resource.attributes, `${at}.resource`, 'attributes')
      : {};
    rs.scopeSpans.forEach((ss, s) => {
      ss.spans.forEach((span, k) => {
        const where = `${at}.scopeSpans[${s}].spans[${k}]`;
        spans.push({
          traceId: id(present(span.traceId), 16, `${where}.traceId`),
          spanId: id(present(span.spanId), 8, `${where}.spanId`),
          name: span.name,
          startTimeUnixNano: longOf(span.startTimeUnixNano),
          endTimeUnixNano: longOf(span.endTimeUnixNano),
          attributes: protoAttributes(span.attributes, where, 'attributes'),
          resource,
        });
      });
    });
  });
  return spans;
}

export type OtlpEncoding = 'protobuf' | 'json';

/** The encoding of a Content-Type, or undefined for one OTLP/HTTP does not define. */
export function encodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return undefined;
}

/** The spans of an export request body (already decompressed). */
export function decodeTraces(body: Buffer, encoding: OtlpEncoding): OtlpSpan[] {
  if (encoding === 'protobuf') {
    const { request } = protoTypes();
    let message: ProtoRequest;
    try {
      message = request.decode(body) as unknown as ProtoRequest;
    } catch (err) {
      throw new OtlpDecodeError(`the body is not an ExportTraceServiceRequest: ${(err as Error).message}`);
    }
    return spansOfMessage(message);
  }
  let parsed: unknown;
  try {
    // The rules every JSON input follows (no duplicate members, no prototype keys).
    parsed = parseJsonInput(body.toString('utf8'), 'The request body');
  } catch (err) {
    if (err instanceof JsonInputError) throw new OtlpDecodeError(err.message);
    throw err;
  }
  return spansOf(parsed);
}

export interface PartialSuccess {
  rejectedSpans: number;
  errorMessage: string;
}

/** ExportTraceServiceResponse: empty when everything was accepted without remark. */
export function encodeResponse(encoding: OtlpEncoding, partial: PartialSuccess | null): Buffer | string {
  if (encoding === 'json') {
    return JSON.stringify(
      partial
        ? {
            partialSuccess: {
              rejectedSpans: String(partial.rejectedSpans),
              errorMessage: partial.errorMessage,
            },
          }
        : {},
    );
  }
  const { response } = protoTypes();
  const message = response.create(
    partial
      ? { partialSuccess: { rejectedSpans: partial.rejectedSpans, errorMessage: partial.errorMessage } }
      : {},
  );
  return Buffer.from(response.encode(message).finish());
}

/** gRPC status codes used in google.rpc.Status bodies. */
export const RPC = {
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAUTHENTICATED: 16,
} as const;

/** google.rpc.Status, the body of an OTLP/HTTP error answer. */
export function encodeStatus(encoding: OtlpEncoding, code: number, message: string): Buffer | string {
  if (encoding === 'json') return JSON.stringify({ code, message });
  const { status } = protoTypes();
  return Buffer.from(status.encode(status.create({ code, message })).finish());
}

/** Decodes an answer (for tests and the bench). */
export function decodeResponse(body: Buffer): {
  partialSuccess?: { rejectedSpans?: unknown; errorMessage?: string };
} {
  const { response } = protoTypes();
  return response.toObject(response.decode(body), { longs: String }) as never;
}

export function decodeStatus(body: Buffer): { code?: number; message?: string } {
  const { status } = protoTypes();
  return status.toObject(status.decode(body)) as never;
}
