/**
 * What clients see of errors: ServiceErrors become GraphQL errors with their code; anything
 * unexpected is logged in full here and reaches the client only as INTERNAL_SERVER_ERROR,
 * with no SQL, stack or secret.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from '../logger';
import { RateLimitedError, ServiceError } from '../services/errors';

/** Codes that Apollo or graphql-js themselves produce for bad requests: passed through. */
const CLIENT_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'RATE_LIMITED',
]);

/** graphql-js's parser message when a document has more tokens than parseOptions.maxTokens. */
const TOKEN_LIMIT = /Document contains more tha[nt] (\d+) tokens/;

/**
 * A ServiceError as a GraphQLError, for errors raised outside resolvers (building the
 * context): Apollo passes a GraphQLError through as it is, where it would report any other
 * error as a failure of its own. UNAUTHENTICATED answers HTTP 401.
 */
export function asGraphQLError(err: ServiceError): GraphQLError {
  return new GraphQLError(err.message, {
    extensions: {
      code: err.code,
      ...(err.field ? { field: err.field } : {}),
      ...(err.code === 'UNAUTHENTICATED' ? { http: { status: 401 } } : {}),
      ...(err instanceof RateLimitedError
        ? {
            retryAfterSeconds: err.retryAfterSeconds,
            limit: err.limit,
            http: { status: 429, headers: new Map([['retry-after', String(err.retryAfterSeconds)]]) },
          }
        : {}),
    },
  });
}

/**
 * graphql-js's hints (" Did you mean "first"?", " Did you mean the enum value "DAY"?", " Did you
 * mean to use an inline fragment on "X"?") name fields, arguments, types and enum values of the
 * schema. Each ends the sentence at a "?", and what they quote are GraphQL names, which hold none.
 */
const SUGGESTION = / Did you mean [^?]*\?/g;

/**
 * What clients see of an error. With `hideSuggestions` (wherever introspection is off), no
 * message carries graphql-js's "Did you mean" hints, whichever step raised it: validation,
 * variable coercion or execution.
 */
export function formatError(logger: Logger, opts: { hideSuggestions: boolean }) {
  const format = clientError(logger);
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const result = format(formatted, error);
    return opts.hideSuggestions ? { ...result, message: result.message.replace(SUGGESTION, '') } : result;
  };
}

/**
 * A literal that a scalar refuses with a code of its own (a prototype key in a JSONObject) fails
 * validation, which Apollo reports as GRAPHQL_VALIDATION_FAILED; the same value sent as a variable
 * is BAD_USER_INPUT. The scalar's code wins, so both spellings of one input get one code.
 */
function scalarCode(error: unknown): string | undefined {
  const cause = error instanceof GraphQLError ? error.originalError : undefined;
  const code = cause instanceof GraphQLError ? cause.extensions?.code : undefined;
  return code === 'BAD_USER_INPUT' ? code : undefined;
}

function clientError(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof ServiceError) {
      return {
        message: original.message,
        locations: formatted.locations,
        path: formatted.path,
        extensions: {
          code: original.code,
          ...(original.field ? { field: original.field } : {}),
          ...(original instanceof RateLimitedError
            ? { retryAfterSeconds: original.retryAfterSeconds, limit: original.limit }
            : {}),
        },
      };
    }
    const code = scalarCode(error) ?? formatted.extensions?.code;
    if (typeof code === 'string' && CLIENT_CODES.has(code)) {
      const extensions: Record<string, unknown> = { ...formatted.extensions, code };
      delete extensions.stacktrace;
      const tokens = code === 'GRAPHQL_PARSE_FAILED' && TOKEN_LIMIT.exec(formatted.message);
      if (tokens) {
        return {
          ...formatted,
          message: `Token limit of ${tokens[1]} exceeded: the document is too long (the server's limit, set by LLMRING_MAX_TOKENS).`,
          extensions: { ...extensions, limit: 'LLMRING_MAX_TOKENS' },
        };
      }
      return { ...formatted, extensions };
    }
    logger.error({ err: original, path: formatted.path }, 'unexpected error while serving a GraphQL request');
    return {
      message: 'Internal server error',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

/**
 * UNAUTHENTICATED answers with HTTP 401 wherever it was raised (context or resolver), and
 * RATE_LIMITED with 429 and Retry-After.
 */
export function httpStatusPlugin<T extends object>(): ApolloServerPlugin<T> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, response }) {
          const unauthenticated = errors.some((e) => {
            const original = unwrapResolverError(e);
            return (
              (original instanceof ServiceError && original.code === 'UNAUTHENTICATED') ||
              (e instanceof GraphQLError && e.extensions?.code === 'UNAUTHENTICATED')
            );
          });
          if (unauthenticated && response.http) response.http.status = 401;
          // Over a rate limit (raised by the context or a resolver): 429 and when to retry.
          const limited = errors
            .map((e) => unwrapResolverError(e))
            .find((e): e is RateLimitedError => e instanceof RateLimitedError);
          if (limited && response.http) {
            response.http.status = 429;
            response.http.headers.set('retry-after', String(limited.retryAfterSeconds));
          }
        },
      };
    },
  };
}
