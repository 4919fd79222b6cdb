/**
 * OTLP trace ingest: each span that carries GenAI usage (src/otlp/genai.ts) becomes one usage
 * log, stored through UsageService like any other call, with the idempotency key
 * `otlp:<traceId>:<spanId>` so that a retried export stores nothing twice. Spans without GenAI
 * usage are ignored (and counted); invalid GenAI spans are rejected one by one, the others
 * stored: the answer is OTLP's partial success.
 */
import { readSpan } from '../otlp/genai';
import type { OtlpSpan } from '../otlp/decode';
import type { Caller, LogUsageInput, UsageService } from './usage';
import { ServiceError } from './errors';

export interface OtlpExportResult {
  stored: number;
  /** Spans stored by an earlier export (same trace and span id). */
  replayed: number;
  /** Spans without GenAI usage. */
  ignored: number;
  rejected: number;
  /** Why spans were rejected (the first few reasons), or a note on ignored spans; null when neither. */
  errorMessage: string | null;
}

/** Reasons quoted in one answer; the rest are counted. */
const MAX_REASONS = 5;

export type SpanOutcome = 'stored' | 'replayed' | 'ignored' | 'rejected';

export class OtlpService {
  private readonly listeners: Array<(outcome: SpanOutcome, spans: number) => void> = [];

  constructor(private readonly deps: { usage: UsageService }) {}

  /** Calls `listener` with the spans of each outcome of every export (metrics). */
  onSpans(listener: (outcome: SpanOutcome, spans: number) => void): void {
    this.listeners.push(listener);
  }

  async exportTraces(caller: Caller, spans: OtlpSpan[]): Promise<OtlpExportResult> {
    const reasons: string[] = [];
    const inputs: LogUsageInput[] = [];
    const labels: string[] = [];
    let ignored = 0;
    for (const span of spans) {
      const reading = readSpan(span);
      if (reading.kind === 'ignored') ignored++;
      else if (reading.kind === 'rejected') reasons.push(reading.reason);
      else {
        inputs.push(reading.input);
        labels.push(`span ${span.traceId}/${span.spanId}`);
      }
    }
    let stored = 0;
    let replayed = 0;
    const results = await this.deps.usage.recordEach(caller, inputs, 'spans');
    results.forEach((r, i) => {
      if (r instanceof ServiceError) {
        // The field is the usage field the span's attribute became: say which span and what.
        reasons.push(
          `${labels[i]}: ${r.field ? `${r.field.replace(/^spans\[\d+\]\./, '')}: ${r.problem}` : r.message}`,
        );
      } else if (r.replayed) replayed++;
      else stored++;
    });
    const rejected = reasons.length;
    for (const [outcome, n] of [
      ['stored', stored],
      ['replayed', replayed],
      ['ignored', ignored],
      ['rejected', rejected],
    ] as const) {
      if (n > 0) for (const l of this.listeners) l(outcome, n);
    }
    const parts: string[] = [];
    if (rejected > 0) {
      parts.push(
        `${rejected} span(s) rejected: ${reasons.slice(0, MAX_REASONS).join('; ')}${rejected > MAX_REASONS ? `; and ${rejected - MAX_REASONS} more` : ''}`,
      );
    }
    if (ignored > 0) parts.push(`${ignored} span(s) without GenAI usage (gen_ai.usage.*) ignored`);
    return { stored, replayed, ignored, rejected, errorMessage: parts.length ? parts.join('. ') : null };
  }
}
