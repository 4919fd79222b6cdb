/**
 * Both OTLP encodings decode to the same spans: the protobuf reader walks protobufjs's
 * messages, the JSON one the OTLP/JSON mapping, so every kind of attribute value is checked
 * through both, from requests the OpenTelemetry SDK's own serializers make and from one that
 * holds the kinds the SDK never sends (kvlists, bytes, integers past 2^53, NaN).
 */
import path from 'node:path';
import protobuf from 'protobufjs';
import { SpanKind } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { decodeTraces, OtlpDecodeError } from '../../src/otlp/decode';

function requestType(): protobuf.Type {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(__dirname, '..', '..', 'proto', target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  return root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
}

const TRACE = '0af7651916cd43dd8448eb211c80319c';
const SPAN = 'b7ad6b7169203331';

/** One request with every AnyValue kind, as OTLP/JSON and as a protobufjs object. */
function everyKind() {
  const values = (ids: (hex: string) => unknown, bytes: unknown, int: (s: string) => unknown) => ({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: ids(TRACE),
                spanId: ids(SPAN),
                name: 'chat',
                startTimeUnixNano: int('1767225600000000000'),
                endTimeUnixNano: int('18446744073709551615'),
                attributes: [
                  { key: 's', value: { stringValue: 'text' } },
                  { key: 'b', value: { boolValue: false } },
                  { key: 'i', value: { intValue: int('-42') } },
                  { key: 'big', value: { intValue: int('9223372036854775807') } },
                  { key: 'd', value: { doubleValue: 0.25 } },
                  { key: 'bytes', value: { bytesValue: bytes } },
                  {
                    key: 'array',
                    value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: int('7') }, {}] } },
                  },
                  {
                    key: 'kv',
                    value: {
                      kvlistValue: {
                        values: [
                          {
                            key: 'nested',
                            value: { kvlistValue: { values: [{ key: 'x', value: { boolValue: true } }] } },
                          },
                        ],
                      },
                    },
                  },
                  { key: 'empty', value: {} },
                ],
              },
              { name: 'no ids, no times' },
            ],
          },
        ],
      },
    ],
  });
  const json = values(
    (hex) => hex,
    Buffer.from([1, 2, 255]).toString('base64'),
    (s) => s,
  );
  const type = requestType();
  const proto = Buffer.from(
    type
      .encode(
        type.fromObject(
          values(
            (hex) => Buffer.from(hex, 'hex'),
            Buffer.from([1, 2, 255]),
            (s) => s,
          ),
        ),
      )
      .finish(),
  );
  return { json: Buffer.from(JSON.stringify(json)), proto };
}

describe('OTLP requests decode to the same spans from either encoding', () => {
  test('every kind of attribute value', () => {
    const { json, proto } = everyKind();
    const fromProto = decodeTraces(proto, 'protobuf');
    expect(fromProto).toEqual(decodeTraces(json, 'json'));
    expect(fromProto[0]).toEqual({
      traceId: TRACE,
      spanId: SPAN,
      name: 'chat',
      startTimeUnixNano: 1767225600000000000n,
      endTimeUnixNano: 18446744073709551615n,
      attributes: {
        s: 'text',
        b: false,
        i: -42,
        big: 9223372036854775807n,
        d: 0.25,
        bytes: 'AQL/',
        array: ['a', 7, null],
        kv: { nested: { x: true } },
        empty: null,
      },
      resource: { 'service.name': 'svc' },
    });
    expect(fromProto[1]).toMatchObject({
      traceId: '',
      spanId: '',
      startTimeUnixNano: 0n,
      endTimeUnixNano: 0n,
    });
  });

  test("the OpenTelemetry SDK's serializers", () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'sdk-app', 'deployment.environment': 'test' }),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
    const tracer = provider.getTracer('decode-test');
    for (let i = 0; i < 3; i++) {
      const span = tracer.startSpan(`chat ${i}`, {
        kind: SpanKind.CLIENT,
        startTime: 1_767_225_600_000 + i,
        attributes: {
          'gen_ai.provider.name': 'openai',
          'gen_ai.usage.input_tokens': 1000 + i,
          'llmring.cost': 0.125,
          'gen_ai.request.stop_sequences': ['a', 'b'],
          'gen_ai.is_stream': true,
        },
      });
      span.end(1_767_225_601_500 + i);
    }
    const spans = memory.getFinishedSpans();
    const fromProto = decodeTraces(Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)!), 'protobuf');
    const fromJson = decodeTraces(Buffer.from(JsonTraceSerializer.serializeRequest(spans)!), 'json');
    expect(fromProto).toEqual(fromJson);
    expect(
      fromProto.map((s) => [s.name, s.attributes['gen_ai.usage.input_tokens'], s.endTimeUnixNano]),
    ).toEqual([
      ['chat 0', 1000, 1_767_225_601_500_000_000n],
      ['chat 1', 1001, 1_767_225_601_501_000_000n],
      ['chat 2', 1002, 1_767_225_601_502_000_000n],
    ]);
    expect(fromProto[0].resource).toEqual({ 'service.name': 'sdk-app', 'deployment.environment': 'test' });
  });

  test('a NaN double is no value in either encoding', () => {
    const type = requestType();
    const request = (d: unknown) => ({
      resourceSpans: [
        { scopeSpans: [{ spans: [{ name: 'x', attributes: [{ key: 'd', value: { doubleValue: d } }] }] }] },
      ],
    });
    const proto = Buffer.from(type.encode(type.fromObject(request(NaN))).finish());
    expect(decodeTraces(proto, 'protobuf')[0].attributes).toEqual({ d: null });
    expect(decodeTraces(Buffer.from(JSON.stringify(request('NaN'))), 'json')[0].attributes).toEqual({
      d: null,
    });
  });

  test('ids of the wrong length are refused in either encoding', () => {
    const type = requestType();
    const proto = Buffer.from(
      type
        .encode(
          type.fromObject({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.alloc(5) }] }] }] }),
        )
        .finish(),
    );
    expect(() => decodeTraces(proto, 'protobuf')).toThrow(OtlpDecodeError);
    expect(() => decodeTraces(proto, 'protobuf')).toThrow(
      'resourceSpans[0].scopeSpans[0].spans[0].traceId must be 16 bytes',
    );
    const json = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'abc' }] }] }] });
    expect(() => decodeTraces(Buffer.from(json), 'json')).toThrow('must be 32 hex digits');
  });
});
