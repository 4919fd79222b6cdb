/**
 * The OTLP/HTTP traces receiver, end to end: the OpenTelemetry JS SDK records GenAI spans and
 * its OTLP exporters (JSON over HTTP, gzip; protobuf) send them to the test server over
 * loopback; the usage, with its cost, appears in usageStats and usageLogs. Raw requests made
 * with the SDK's own serializers check the answers (partialSuccess, errors) byte for byte.
 */
import { gzipSync } from 'node:zlib';
import { SpanKind } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import {
  asAdmin,
  createProjectWithKey,
  dataOf,
  startTestServer,
  withKey,
  type TestServer,
} from '../helpers/server';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

type Attributes = Record<string, string | number | boolean>;

/** Spans as the SDK records them: ended `agoMs` before now, lasting `durationMs`. */
function recordSpans(
  service: string,
  specs: Array<{ name: string; attributes: Attributes; agoMs?: number; durationMs?: number }>,
): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('llmring-otlp-test');
  for (const spec of specs) {
    const end = Date.now() - (spec.agoMs ?? 60_000);
    const span = tracer.startSpan(spec.name, {
      kind: SpanKind.CLIENT,
      startTime: end - (spec.durationMs ?? 1234),
      attributes: spec.attributes,
    });
    span.end(end);
  }
  return memory.getFinishedSpans();
}

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

const url = () => `${server.baseUrl}/v1/traces`;

async function stats(key: string) {
  const res = await server.gql(
    `{ usageStats { summary { requests inputTokens outputTokens cachedInputTokens cost } } }`,
    {},
    withKey(key),
  );
  return dataOf(res).usageStats.summary;
}

async function logs(key: string) {
  const res = await server.gql(
    `{ usageLogs(first: 100) { edges { node {
        provider model aliasName origin inputTokens outputTokens cachedInputTokens cacheWriteTokens
        reasoningTokens cost costSource latencyMs occurredAt idAtOrigin metadata warnings } } } }`,
    {},
    withKey(key),
  );
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the test reads loosely typed JSON
  return dataOf(res).usageLogs.edges.map((e: any) => e.node);
}

const chat = (model: string, extra: Attributes = {}): Attributes => ({
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': 'openai',
  'gen_ai.request.model': model,
  'gen_ai.response.model': model,
  ...extra,
});

describe('the OpenTelemetry SDK exports GenAI spans', () => {
  test('over OTLP/HTTP JSON with gzip: each GenAI span is one priced log; other spans are ignored', async () => {
    const { secret } = await createProjectWithKey(server, 'otel-json');
    const spans = recordSpans('checkout-api', [
      {
        name: 'chat gpt-4o-mini',
        durationMs: 1500,
        attributes: chat('gpt-4o-mini', {
          'gen_ai.usage.input_tokens': 1000,
          'gen_ai.usage.output_tokens': 500,
          'gen_ai.usage.cache_read.input_tokens': 200,
          'gen_ai.response.id': 'chatcmpl-123',
          'llmring.alias': 'summarizer',
          'llmring.metadata.team': 'payments',
        }),
      },
      {
        name: 'chat gpt-4o-mini',
        attributes: chat('gpt-4o-mini', {
          'gen_ai.usage.input_tokens': 2000000,
          'gen_ai.usage.output_tokens': 0,
        }),
      },
      { name: 'GET /checkout', attributes: { 'http.request.method': 'GET' } },
    ]);
    const exporter = new JsonExporter({
      url: url(),
      headers: { Authorization: `Bearer ${secret}` },
      compression: CompressionAlgorithm.GZIP,
    });
    const result = await exportWith(exporter, spans);
    expect(result.error).toBeUndefined();
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    await exporter.shutdown();

    // gpt-4o-mini: input 0.15, cached input 0.075, output 0.6 USD per million tokens.
    // First call: 800 x 0.15 + 200 x 0.075 + 500 x 0.6 = 120 + 15 + 300 = 435 per million = 0.000435.
    // Second: 2,000,000 x 0.15 per million = 0.3.
    const summary = await stats(secret);
    expect(summary.requests).toBe(2);
    expect(summary.inputTokens).toBe(2001000);
    expect(summary.cachedInputTokens).toBe(200);
    expect(summary.cost).toBeCloseTo(0.300435, 9);

    const stored = await logs(secret);
    const first = stored.find((l: { inputTokens: number }) => l.inputTokens === 1000);
    expect(first).toMatchObject({
      provider: 'openai',
      model: 'gpt-4o-mini',
      aliasName: 'summarizer',
      origin: 'checkout-api',
      outputTokens: 500,
      cachedInputTokens: 200,
      costSource: 'REGISTRY',
      latencyMs: 1500,
      idAtOrigin: 'chatcmpl-123',
      warnings: [],
    });
    expect(first.cost).toBeCloseTo(0.000435, 12);
    expect(first.metadata).toMatchObject({
      team: 'payments',
      operation: 'chat',
      'otel.span_name': 'chat gpt-4o-mini',
      'otel.trace_id': spans[0].spanContext().traceId,
      'otel.span_id': spans[0].spanContext().spanId,
    });
    const endMs = spans[0].endTime[0] * 1000 + Math.floor(spans[0].endTime[1] / 1e6);
    expect(new Date(first.occurredAt).getTime()).toBe(endMs);
  });

  test('over OTLP/HTTP protobuf: the older attribute names, and a cost the instrumentation sent (CLIENT)', async () => {
    const { secret } = await createProjectWithKey(server, 'otel-proto');
    const spans = recordSpans('batch-worker', [
      {
        name: 'chat claude',
        attributes: {
          'gen_ai.system': 'anthropic',
          'gen_ai.request.model': 'claude-3-5-haiku-20241022',
          'gen_ai.usage.prompt_tokens': 300,
          'gen_ai.usage.completion_tokens': 40,
          'gen_ai.usage.cache_creation.input_tokens': 100,
          'gen_ai.usage.cost': 0.0125,
        },
      },
    ]);
    const exporter = new ProtoExporter({ url: url(), headers: { 'X-API-Key': secret } });
    const result = await exportWith(exporter, spans);
    expect(result.error).toBeUndefined();
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    await exporter.shutdown();

    const [log] = await logs(secret);
    expect(log).toMatchObject({
      provider: 'anthropic',
      model: 'claude-3-5-haiku-20241022',
      origin: 'batch-worker',
      inputTokens: 300,
      cacheWriteTokens: 100,
      outputTokens: 40,
      costSource: 'CLIENT',
      cost: 0.0125,
    });
    expect((await stats(secret)).cost).toBeCloseTo(0.0125, 9);
  });

  test('a retried export stores nothing twice (idempotent on trace id + span id), in either encoding', async () => {
    const { secret } = await createProjectWithKey(server, 'otel-retry');
    const spans = recordSpans('svc', [
      {
        name: 'a',
        attributes: chat('gpt-4o-mini', { 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 }),
      },
      {
        name: 'b',
        attributes: chat('gpt-4o-mini', { 'gen_ai.usage.input_tokens': 20, 'gen_ai.usage.output_tokens': 5 }),
      },
    ]);
    const json = new JsonExporter({ url: url(), headers: { 'X-API-Key': secret } });
    const proto = new ProtoExporter({ url: url(), headers: { 'X-API-Key': secret } });
    for (const exporter of [json, proto, json]) {
      expect((await exportWith(exporter, spans)).code).toBe(ExportResultCode.SUCCESS);
    }
    await Promise.all([json.shutdown(), proto.shutdown()]);
    expect((await stats(secret)).requests).toBe(2);
    expect((await stats(secret)).inputTokens).toBe(30);
  });
});

const send = (body: Uint8Array | string, headers: Record<string, string>) =>
  server.http('/v1/traces', { method: 'POST', headers, body });

describe('the answers follow OTLP', () => {
  test('partialSuccess counts the rejected spans and says why; the valid ones are stored (protobuf and JSON answers)', async () => {
    const { secret } = await createProjectWithKey(server, 'otel-partial');
    const spans = recordSpans('svc', [
      {
        name: 'ok',
        attributes: chat('gpt-4o-mini', { 'gen_ai.usage.input_tokens': 7, 'gen_ai.usage.output_tokens': 3 }),
      },
      {
        name: 'no model',
        attributes: {
          'gen_ai.provider.name': 'openai',
          'gen_ai.usage.input_tokens': 5,
          'gen_ai.usage.output_tokens': 1,
        },
      },
      {
        name: 'bad parts',
        attributes: chat('gpt-4o-mini', {
          'gen_ai.usage.input_tokens': 5,
          'gen_ai.usage.output_tokens': 1,
          'gen_ai.usage.cost': -1,
        }),
      },
      { name: 'plain', attributes: { 'db.system': 'postgresql' } },
      {
        name: 'poison',
        attributes: chat('gpt-4o-mini', {
          'gen_ai.usage.input_tokens': 5,
          'gen_ai.usage.output_tokens': 1,
          'llmring.metadata.__proto__': 'x',
        }),
      },
    ]);

    const res = await send(ProtobufTraceSerializer.serializeRequest(spans)!, {
      'content-type': 'application/x-protobuf',
      'X-API-Key': secret,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-protobuf/);
    const answer = ProtobufTraceSerializer.deserializeResponse(new Uint8Array(await res.arrayBuffer()));
    expect(Number(answer.partialSuccess?.rejectedSpans)).toBe(3);
    const message = answer.partialSuccess?.errorMessage ?? '';
    expect(message).toContain(`span ${spans[1].spanContext().traceId}/${spans[1].spanContext().spanId}`);
    expect(message).toContain('gen_ai.response.model (or gen_ai.request.model) is required');
    expect(message).toContain('cost: must be a finite number');
    expect(message).toContain('1 span(s) without GenAI usage (gen_ai.usage.*) ignored');
    expect(message).toContain('prototype poisoning');
    expect((await stats(secret)).requests).toBe(1);

    const again = await send(gzipSync(JsonTraceSerializer.serializeRequest(spans)!), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'X-API-Key': secret,
    });
    expect(again.status).toBe(200);
    expect(again.headers.get('content-type')).toMatch(/^application\/json/);
    const json = (await again.json()) as { partialSuccess: { rejectedSpans: string } };
    expect(json.partialSuccess.rejectedSpans).toBe('3');
    expect((await stats(secret)).requests).toBe(1); // the valid span again: replayed, not stored

    const metrics = await (await server.http('/metrics')).text();
    expect(metrics).toMatch(/llmring_otlp_spans_total\{outcome="ignored"\} [1-9]/);
    expect(metrics).toMatch(/llmring_otlp_spans_total\{outcome="rejected"\} [1-9]/);
    expect(metrics).toMatch(/llmring_otlp_spans_total\{outcome="replayed"\} [1-9]/);
  });

  test('a fully accepted export of GenAI spans only answers an empty ExportTraceServiceResponse', async () => {
    const { secret } = await createProjectWithKey(server, 'otel-empty');
    const spans = recordSpans('svc', [
      {
        name: 'ok',
        attributes: chat('gpt-4o-mini', { 'gen_ai.usage.input_tokens': 1, 'gen_ai.usage.output_tokens': 1 }),
      },
    ]);
    const res = await send(JsonTraceSerializer.serializeRequest(spans)!, {
      'content-type': 'application/json',
      'X-API-Key': secret,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
  });

  test('401 without a key, 400 for a body that is not OTLP, 415 for another type, 413 over the limit', async () => {
    const spans = recordSpans('svc', [
      {
        name: 'ok',
        attributes: chat('gpt-4o-mini', { 'gen_ai.usage.input_tokens': 1, 'gen_ai.usage.output_tokens': 1 }),
      },
    ]);
    const unauth = await send(JsonTraceSerializer.serializeRequest(spans)!, {
      'content-type': 'application/json',
    });
    expect(unauth.status).toBe(401);
    expect(await unauth.json()).toEqual({ code: 16, message: expect.stringContaining('API key') });

    const bad = await send(Buffer.from([0x0a, 0xff, 0xff, 0xff]), {
      'content-type': 'application/x-protobuf',
      'X-API-Key': server.firstKey,
    });
    expect(bad.status).toBe(400);

    for (const body of [
      'not json',
      '[1,2]',
      '{"resourceSpans": 3}',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}',
    ]) {
      const res = await send(body, { 'content-type': 'application/json', 'X-API-Key': server.firstKey });
      expect(res.status).toBe(400);
      const status = (await res.json()) as { code: number; message: unknown };
      expect(status.code).toBe(3);
      expect(typeof status.message).toBe('string');
    }

    const badGzip = await send('plain text', {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'X-API-Key': server.firstKey,
    });
    expect(badGzip.status).toBe(400);

    const text = await send('{}', { 'content-type': 'text/plain', 'X-API-Key': server.firstKey });
    expect(text.status).toBe(415);

    const big = await send(Buffer.alloc(5 * 1024 * 1024, 0x20), {
      'content-type': 'application/json',
      'X-API-Key': server.firstKey,
    });
    expect(big.status).toBe(413);

    // Small on the wire, over the limit once decompressed.
    const bomb = await send(gzipSync(Buffer.alloc(5 * 1024 * 1024, 0x20)), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'X-API-Key': server.firstKey,
    });
    expect(bomb.status).toBe(413);
    expect(((await bomb.json()) as { message: string }).message).toContain('LLMRING_MAX_BODY_BYTES');
  });
});

describe('keys and limits apply to OTLP as to every surface', () => {
  const body = () =>
    JsonTraceSerializer.serializeRequest(
      recordSpans('svc', [
        {
          name: 'chat',
          attributes: chat('gpt-4o-mini', {
            'gen_ai.usage.input_tokens': 3,
            'gen_ai.usage.output_tokens': 2,
          }),
        },
      ]),
    )!;

  test('a key without the INGEST scope gets 403 PERMISSION_DENIED, and nothing is stored', async () => {
    const project = await createProjectWithKey(server, 'otlp-read-only');
    const { createApiKey } = dataOf(
      await server.gql(
        'mutation($p: UUID!) { createApiKey(projectId: $p, name: "dashboard", scopes: [READ]) { secret } }',
        { p: project.id },
        asAdmin,
      ),
    );
    const res = await send(body(), { 'content-type': 'application/json', 'X-API-Key': createApiKey.secret });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ code: 7, message: expect.stringContaining('INGEST') });
    expect((await stats(project.secret)).requests).toBe(0);
  });

  test("over the project's logs per minute: 429 with Retry-After, and the refused export is not stored", async () => {
    const project = await createProjectWithKey(server, 'otlp-limited');
    dataOf(
      await server.gql(
        'mutation($p: UUID!) { setProjectRateLimits(projectId: $p, input: { projectLogsPerMinute: 1 }) { id } }',
        { p: project.id },
        asAdmin,
      ),
    );
    const headers = { 'content-type': 'application/json', 'X-API-Key': project.secret };
    expect((await send(body(), headers)).status).toBe(200);
    const refused = await send(body(), headers);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await refused.json()) as { code: number }).code).toBe(8);
    expect((await stats(project.secret)).requests).toBe(1);
  });
});
