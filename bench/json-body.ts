/**
 * What reading a JSON request body costs on the ingest path: a typical 100-item logUsageBatch
 * body (~100 KB, as a client sends it), through JSON.parse alone and through parseJsonInput
 * (src/domain/json.ts: JSON.parse, then the duplicate-member scan and the prototype-key walk),
 * as median microseconds per body.
 *
 *   npx tsx bench/json-body.ts [items]     # default 100
 */
import { parseJsonInput } from '../src/domain/json';

function batchBody(items: number): string {
  const inputs = Array.from({ length: items }, (_, i) => ({
    provider: 'openai',
    model: 'gpt-4o-2024-08-06',
    aliasName: `summarizer-${i % 7}`,
    inputTokens: 1200 + i,
    outputTokens: 300 + i,
    cachedInputTokens: 200,
    cost: 0.0123,
    latencyMs: 850 + i,
    origin: 'llmring',
    idAtOrigin: `resp_${i.toString(16).padStart(24, '0')}`,
    profile: 'prod',
    occurredAt: new Date(Date.UTC(2025, 5, 1, 12, 0, i)).toISOString(),
    idempotencyKey: `batch-7f3a-${i}`,
    metadata: {
      model_alias: 'openai:gpt-4o',
      finish_reason: 'stop',
      request_id: `req_${i}_a8f0c2d4e6b8`,
      team: 'core',
      tags: ['summaries', 'nightly', `shard-${i % 4}`],
      user: { id: `u_${i}`, plan: 'pro', region: 'eu-west-1' },
      prompt_preview: 'Summarise the following support conversation in three bullet points. '.repeat(7),
    },
  }));
  return JSON.stringify({
    query:
      'mutation Batch($inputs: [LogUsageInput!]!) { logUsageBatch(inputs: $inputs) { results { replayed usageLog { id } receipt { receiptId } } } }',
    operationName: 'Batch',
    variables: { inputs },
  });
}

/** Median microseconds per call of `fn`, after a warm-up. */
function median(fn: () => unknown, runs = 3000): number {
  for (let i = 0; i < 300; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

const body = batchBody(Number(process.argv[2] ?? 100));
console.log(`body: ${body.length.toLocaleString('en-US')} bytes`);
console.log(`JSON.parse alone:  ${median(() => JSON.parse(body)).toFixed(0)} µs`);
console.log(`parseJsonInput:    ${median(() => parseJsonInput(body, 'The request body')).toFixed(0)} µs`);
