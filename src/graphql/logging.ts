/**
 * What one HTTP request is about, for its log line and its metrics: the GraphQL operation it
 * ran and who called. Each request gets one RequestInfo (`requestInfoOf`); the GraphQL context
 * carries it to this Apollo plugin, the REST routes fill it in from their request, and the
 * onResponse hook in src/http/metrics.ts logs and counts it. It is passed explicitly rather
 * than through AsyncLocalStorage, whose promise hooks cost every request about a fifth of its
 * CPU time.
 *
 * Only names go in: the project's key (its public slug), never an API key or token.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import { Kind, type GraphQLError, type OperationDefinitionNode } from 'graphql';
import type { Principal } from '../domain/principal';
import { ServiceError } from '../services/errors';

export interface RequestInfo {
  /** A bounded label for metrics: operation type and root fields, e.g. 'mutation logUsage'. */
  operation?: string;
  /** The client's operationName, for logs only (it is client-chosen, so never a metric label). */
  operationName?: string;
  /** The calling project's key (its public slug). */
  projectKey?: string;
  /** True when the admin token authenticated the request. */
  admin?: boolean;
  /** The operator's name when an operator token authenticated it (never the token). */
  operator?: string;
  /** GraphQL error codes of the response, if any. */
  errorCodes?: string[];
  /**
   * Codes of the GraphQL errors raised before any resolver ran (unparsable, invalid, or
   * variables of the wrong type): such a logUsage call never reached the usage service.
   */
  requestErrorCodes?: string[];
  /** Set by a REST route once the usage service counted the outcome of its call. */
  usageCounted?: boolean;
}

const infos = new WeakMap<object, RequestInfo>();

/** The RequestInfo of a request (the Fastify request object), created on first use. */
export function requestInfoOf(request: object): RequestInfo {
  let info = infos.get(request);
  if (!info) {
    info = {};
    infos.set(request, info);
  }
  return info;
}

/** Records who called: the project's key or the admin flag, nothing secret. */
export function noteCaller(info: RequestInfo, principal: Principal): void {
  if (principal.kind === 'project') info.projectKey = principal.project.key;
  else if (principal.kind === 'admin') info.admin = true;
  else if (principal.kind === 'operator') info.operator = principal.operator.name;
}

const MAX_FIELDS_IN_LABEL = 3;
const MAX_OPERATION_NAME = 100;

/** 'query usageStats', 'mutation logUsage', 'query projects,usageStats': field names, never aliases. */
export function operationLabel(operation: OperationDefinitionNode): string {
  const names = new Set<string>();
  for (const selection of operation.selectionSet.selections) {
    names.add(selection.kind === Kind.FIELD ? selection.name.value : '(fragment)');
  }
  const sorted = [...names].sort();
  const shown = sorted.slice(0, MAX_FIELDS_IN_LABEL).join(',');
  return `${operation.operation} ${shown}${sorted.length > MAX_FIELDS_IN_LABEL ? ',+' : ''}`;
}

function errorCode(error: GraphQLError): string {
  const original = unwrapResolverError(error);
  if (original instanceof ServiceError) return original.code;
  const code = error.extensions?.code;
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}

export function loggingPlugin<
  T extends { principal: Principal; requestInfo?: RequestInfo },
>(): ApolloServerPlugin<T> {
  return {
    async requestDidStart({ contextValue }) {
      const info = contextValue.requestInfo;
      if (!info) return;
      noteCaller(info, contextValue.principal);
      return {
        async didResolveOperation({ operation, operationName }) {
          info.operation = operation ? operationLabel(operation) : 'invalid';
          if (operationName) info.operationName = operationName.slice(0, MAX_OPERATION_NAME);
        },
        async didEncounterErrors({ errors }) {
          info.errorCodes = errors.map(errorCode);
          info.requestErrorCodes = errors.filter((e) => e.path === undefined).map(errorCode);
          if (!info.operation) info.operation = 'invalid';
        },
      };
    },
  };
}
