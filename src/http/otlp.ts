/**
 * The OTLP/HTTP traces receiver, POST /v1/traces (the path OTLP exporters append to the
 * server's base URL), per https://opentelemetry.io/docs/specs/otlp/#otlphttp:
 *
 * - bodies `application/x-protobuf` or `application/json`, plain or `Content-Encoding: gzip`;
 *   the body limit (LLMRING_MAX_BODY_BYTES) holds before and after decompression (413);
 * - the project's API key in `X-API-Key` or `Authorization: Bearer` (401 without);
 * - 200 with an ExportTraceServiceResponse in the request's encoding, its partialSuccess
 *   counting rejected spans and saying why (or noting ignored spans); 400 for a body that is
 *   not an export request, 415 for another content type; errors carry a google.rpc.Status.
 *
 * The route lives in its own Fastify scope: its bodies are read as bytes, not by the server's
 * JSON parser, since they may be protobuf or compressed.
 */
import { promisify } from 'node:util';
import { gunzip as gunzipCb, inflate as inflateCb } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../services';
import { requireProjectCaller } from '../services/authz';
import { RateLimitedError, ServiceError } from '../services/errors';
import { restCaller } from './rest/common';
import {
  decodeTraces,
  encodeResponse,
  encodeStatus,
  encodingOf,
  OtlpDecodeError,
  RPC,
  type OtlpEncoding,
} from '../otlp/decode';

const gunzip = promisify(gunzipCb);
const inflate = promisify(inflateCb);

export const OTLP_TRACES_PATH = '/v1/traces';

const CONTENT_TYPE: Record<OtlpEncoding, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

function fail(reply: FastifyReply, encoding: OtlpEncoding, status: number, code: number, message: string) {
  return reply
    .code(status)
    .type(CONTENT_TYPE[encoding])
    .send(encodeStatus(encoding, code, message));
}

/**
 * A rate limit reached: 429 with Retry-After, which OTLP exporters honour by retrying the same
 * export later (nothing of it was stored).
 */
function rateLimited(reply: FastifyReply, encoding: OtlpEncoding, err: RateLimitedError) {
  reply.header('retry-after', String(err.retryAfterSeconds));
  return fail(reply, encoding, 429, RPC.RESOURCE_EXHAUSTED, err.message);
}

export async function registerOtlp(
  app: FastifyInstance,
  deps: { services: Services; bodyBytes: number },
): Promise<void> {
  const { services, bodyBytes } = deps;
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    scope.setErrorHandler((error, request, reply) => {
      const encoding = encodingOf(request.headers['content-type']) ?? 'json';
      if ((error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return fail(
          reply,
          encoding,
          413,
          RPC.RESOURCE_EXHAUSTED,
          `The request body is larger than the server's limit of ${bodyBytes} bytes (LLMRING_MAX_BODY_BYTES)`,
        );
      }
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== undefined && status >= 400 && status < 500) {
        return fail(reply, encoding, status, RPC.INVALID_ARGUMENT, (error as Error).message);
      }
      request.log.error({ err: error }, 'unexpected error in the OTLP receiver');
      return fail(reply, encoding, 500, RPC.INTERNAL, 'Internal server error');
    });

    scope.post(OTLP_TRACES_PATH, async (request: FastifyRequest, reply) => {
      const encoding = encodingOf(request.headers['content-type']);
      if (encoding === undefined) {
        return fail(
          reply,
          'json',
          415,
          RPC.INVALID_ARGUMENT,
          'Unsupported content type: send application/x-protobuf or application/json',
        );
      }
      let caller;
      try {
        caller = requireProjectCaller(await restCaller(services, request));
      } catch (err) {
        if (err instanceof RateLimitedError) return rateLimited(reply, encoding, err);
        if (err instanceof ServiceError) {
          // A key without the INGEST scope is refused like any other surface refuses it.
          if (err.code === 'FORBIDDEN') return fail(reply, encoding, 403, RPC.PERMISSION_DENIED, err.message);
          return fail(reply, encoding, 401, RPC.UNAUTHENTICATED, err.message);
        }
        throw err;
      }
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const contentEncoding = String(request.headers['content-encoding'] ?? 'identity')
        .trim()
        .toLowerCase();
      let body: Buffer;
      try {
        if (contentEncoding === 'gzip' || contentEncoding === 'x-gzip') {
          body = await gunzip(raw, { maxOutputLength: bodyBytes });
        } else if (contentEncoding === 'deflate') {
          body = await inflate(raw, { maxOutputLength: bodyBytes });
        } else if (contentEncoding === 'identity' || contentEncoding === '') {
          body = raw;
        } else {
          return fail(
            reply,
            encoding,
            415,
            RPC.INVALID_ARGUMENT,
            `Unsupported Content-Encoding '${contentEncoding.slice(0, 40)}': send gzip or none`,
          );
        }
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
          return fail(
            reply,
            encoding,
            413,
            RPC.RESOURCE_EXHAUSTED,
            `The decompressed request body is larger than the server's limit of ${bodyBytes} bytes (LLMRING_MAX_BODY_BYTES)`,
          );
        }
        return fail(
          reply,
          encoding,
          400,
          RPC.INVALID_ARGUMENT,
          `The body is not valid ${contentEncoding} data`,
        );
      }
      let spans;
      try {
        spans = decodeTraces(body, encoding);
      } catch (err) {
        if (err instanceof OtlpDecodeError)
          return fail(reply, encoding, 400, RPC.INVALID_ARGUMENT, err.message);
        throw err;
      }
      let result;
      try {
        result = await services.otlp.exportTraces(caller, spans);
      } catch (err) {
        if (err instanceof RateLimitedError) return rateLimited(reply, encoding, err);
        throw err;
      }
      request.log.debug({ otlp: { ...result, errorMessage: undefined } }, 'OTLP traces export');
      const partial =
        result.errorMessage === null
          ? null
          : { rejectedSpans: result.rejected, errorMessage: result.errorMessage };
      return reply.code(200).type(CONTENT_TYPE[encoding]).send(encodeResponse(encoding, partial));
    });
  });
}
