/**
 * What one HTTP request is about, for its log line and its metrics: the GraphQL operation it
 * ran and who called. The Fastify hooks in src/http/metrics.ts open a RequestInfo per request
 * (AsyncLocalStorage, so it follows the request through Apollo and the resolvers); this
 * Apollo plugin and the REST routes fill it in; the onResponse hook logs and counts it.
 *
 * Only names go in: the project's key (its public slug), never an API key or token.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
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
  /** GraphQL error codes of the response, if any. */
  errorCodes?: string[];
  /** Set once the usage service counted the outcome of a logged call in this request. */
  usageCounted?: boolean;
}

export const requestInfoStorage = new AsyncLocalStorage<RequestInfo>();

/** The RequestInfo of the request being served, if any. */
export function currentRequestInfo(): RequestInfo | undefined {
  return requestInfoStorage.getStore();
}

/** Records who called: the project's key or the admin flag, nothing secret. */
export function noteCaller(info: RequestInfo, principal: Principal): void {
  if (principal.kind === 'project') info.projectKey = principal.project.key;
  else if (principal.kind === 'admin') info.admin = true;
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

export function loggingPlugin<T extends { principal: Principal }>(): ApolloServerPlugin<T> {
  return {
    async requestDidStart({ contextValue }) {
      const info = currentRequestInfo();
      if (!info) return;
      noteCaller(info, contextValue.principal);
      return {
        async didResolveOperation({ operation, operationName }) {
          info.operation = operation ? operationLabel(operation) : 'invalid';
          if (operationName) info.operationName = operationName.slice(0, MAX_OPERATION_NAME);
        },
        async didEncounterErrors({ errors }) {
          info.errorCodes = errors.map(errorCode);
          if (!info.operation) info.operation = 'invalid';
        },
      };
    },
  };
}
