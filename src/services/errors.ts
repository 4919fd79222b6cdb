/**
 * Errors services raise for the caller to see. The GraphQL layer maps them to GraphQLError
 * codes, the REST routes and the CLI to status codes; anything else is unexpected and
 * reaches clients only as INTERNAL_SERVER_ERROR.
 */

export type ServiceErrorCode =
  'BAD_USER_INPUT' | 'NOT_FOUND' | 'FORBIDDEN' | 'UNAUTHENTICATED' | 'RATE_LIMITED';

export class ServiceError extends Error {
  constructor(
    public readonly code: ServiceErrorCode,
    message: string,
    /** The input field at fault, as GraphQL names it, e.g. 'input.model' or 'inputs[3].cost'. */
    public readonly field?: string,
    /**
     * What is wrong with the field, without its name ('must be a non-negative integer'): a
     * surface that names fields otherwise (REST, CLI options) writes `<its name>: <problem>`.
     */
    public readonly problem?: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export const badInput = (field: string, problem: string) =>
  new ServiceError('BAD_USER_INPUT', `${field}: ${problem}`, field, problem);
export const notFound = (what: string) => new ServiceError('NOT_FOUND', `${what} not found`);
export const forbidden = (why: string) => new ServiceError('FORBIDDEN', why);
export const unauthenticated = (why = 'a valid API key is required') =>
  new ServiceError('UNAUTHENTICATED', why);

/** A call over a rate limit: HTTP 429 with Retry-After on every surface (REST, GraphQL). */
export class RateLimitedError extends ServiceError {
  constructor(
    message: string,
    /** Whole seconds until the window that refused the call ends (at least 1). */
    public readonly retryAfterSeconds: number,
    /** Which limit: 'key_requests', 'project_requests', 'key_logs', 'project_logs'. */
    public readonly limit: string,
  ) {
    super('RATE_LIMITED', message);
  }
}
