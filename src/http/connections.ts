/**
 * How long the server waits for slow clients, as Fastify options, and what a client hears when
 * it was too slow. Without these, a connection that sends `Content-Length: 100000` and then a
 * byte now and then, or nothing at all, stays open for as long as the client likes: Fastify
 * turns Node's request timeout off.
 *
 * Node's http server enforces them:
 * - headersTimeout and requestTimeout (both LLMRING_REQUEST_TIMEOUT_MS) bound the arrival of one
 *   request, its headers and then its body, counted from the request's first byte (on a new
 *   connection, from its opening, so a silent connection is closed too). The work after the body
 *   has arrived (resolvers, SQL, writing the answer) is not counted: a long statistics query is
 *   never cut off, but a large logUsageBatch body must be uploaded within the limit.
 * - keepAliveTimeout (LLMRING_KEEPALIVE_TIMEOUT_MS) closes a connection that waits idle for its
 *   next request; the request timeout starts again with that request.
 * Node looks for overdue requests every connectionsCheckingInterval (30 s by default, which
 * would let a request overrun a short limit by that much): here four times per limit, and at
 * least once a second.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyHttpOptions, FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import type { Config } from '../config';

type ConnectionOptions = Pick<
  FastifyHttpOptions<Server>,
  'requestTimeout' | 'keepAliveTimeout' | 'http' | 'clientErrorHandler'
>;

export function connectionOptions(config: Config): ConnectionOptions {
  const { requestTimeoutMs, keepAliveTimeoutMs } = config.http;
  return {
    requestTimeout: requestTimeoutMs,
    keepAliveTimeout: keepAliveTimeoutMs,
    http: {
      // Set together at creation: Node refuses a headersTimeout above the requestTimeout.
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(requestTimeoutMs / 4))),
    },
    clientErrorHandler: clientErrorAnswer(requestTimeoutMs),
  };
}

/**
 * What a client gets when Node cannot hand its request to Fastify: Fastify's answers (400, 431),
 * but a timeout says which limit it ran into and which setting raises it. Written on the raw
 * socket, which is then closed.
 */
function clientErrorAnswer(requestTimeoutMs: number) {
  return function answer(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, message] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [
            408,
            `The request did not arrive in full within ${requestTimeoutMs} ms (the server's limit, set by LLMRING_REQUEST_TIMEOUT_MS)`,
          ]
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Exceeded maximum allowed HTTP header size']
          : [400, 'Client Error'];
    const code = status === 408 ? 'REQUEST_TIMEOUT' : undefined;
    const body = JSON.stringify({
      statusCode: status,
      ...(code ? { code } : {}),
      error: STATUS_CODES[status],
      message,
    });
    // A timeout is worth seeing (a slow link, or someone holding connections open); other
    // client errors are mostly network noise, as Fastify treats them.
    if (code) this.log.info({ remoteAddress: socket.remoteAddress, limitMs: requestTimeoutMs }, message);
    else this.log.debug({ err: error }, 'client error');
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    socket.destroy(error);
  };
}
