/**
 * A lean GraphQL-over-HTTP client: an undici connection pool with keep-alive sockets. The load
 * generator shares the machine's cores with the server and Postgres it measures, so it should
 * cost as little CPU as possible; undici's client costs about half of node:http's per request.
 */
import { Pool } from 'undici';

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export class GraphQLError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'GraphQLError';
  }
}

export class GraphQLClient {
  private readonly pool: Pool;
  private readonly timeoutMs: number;

  constructor(
    baseUrl: string,
    private readonly options: {
      headers?: Record<string, string>;
      maxSockets?: number;
      timeoutMs?: number;
    } = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.pool = new Pool(new URL(baseUrl).origin, {
      connections: options.maxSockets ?? 64,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** POSTs a prepared JSON body; resolves with the HTTP status and the response text. */
  async post(body: string, headers?: Record<string, string>): Promise<{ status: number; text: string }> {
    const res = await this.pool.request({
      path: '/graphql',
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.options.headers, ...headers },
      body,
    });
    return { status: res.statusCode, text: await res.body.text() };
  }

  /** Runs one operation; throws GraphQLError on an HTTP error or any GraphQL error. */
  async request<T>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<T> {
    const { status, text } = await this.post(JSON.stringify({ query, variables }), headers);
    let parsed: GraphQLResponse<T>;
    try {
      parsed = JSON.parse(text) as GraphQLResponse<T>;
    } catch {
      throw new GraphQLError(`HTTP ${status}: ${text.slice(0, 300)}`, status);
    }
    if (parsed.errors?.length) {
      const e = parsed.errors[0];
      throw new GraphQLError(`HTTP ${status}: ${e.extensions?.code ?? 'ERROR'}: ${e.message}`, status);
    }
    if (status !== 200 || parsed.data == null)
      throw new GraphQLError(`HTTP ${status}: ${text.slice(0, 300)}`, status);
    return parsed.data;
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

export async function getJson(url: string, timeoutMs = 2_000): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body };
}
