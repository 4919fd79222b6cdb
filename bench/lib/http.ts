/**
 * A lean GraphQL-over-HTTP client on node:http with keep-alive sockets, so that the load
 * generator costs as little CPU as possible next to the server it measures.
 */
import http from 'node:http';

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
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(
    baseUrl: string,
    private readonly options: {
      headers?: Record<string, string>;
      maxSockets?: number;
      timeoutMs?: number;
    } = {},
  ) {
    this.url = new URL('/graphql', baseUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 });
  }

  /** POSTs a prepared JSON body; resolves with the HTTP status and the response text. */
  post(body: string, headers?: Record<string, string>): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...this.options.headers,
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      const timeoutMs = this.options.timeoutMs ?? 60_000;
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response within ${timeoutMs / 1000} s`)));
      req.on('error', reject);
      req.end(body);
    });
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

  close(): void {
    this.agent.destroy();
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
