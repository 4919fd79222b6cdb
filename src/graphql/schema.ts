/** The executable schema: schema.graphql (the source of truth) plus resolvers and scalars. */
import fs from 'node:fs';
import path from 'node:path';
import { makeExecutableSchema } from '@graphql-tools/schema';
import {
  DateTimeResolver,
  JSONObjectResolver,
  NonNegativeFloatResolver,
  NonNegativeIntResolver,
  SafeIntResolver,
  UUIDResolver,
} from 'graphql-scalars';
import { GraphQLError, GraphQLScalarType, Kind, type GraphQLSchema } from 'graphql';
import { Query } from './resolvers/query';
import { Mutation } from './resolvers/mutation';
import { typeResolvers } from './resolvers/types';
import { pricingResolvers } from './resolvers/pricing';
import { alertResolvers } from './resolvers/alerts';
import { ledgerResolvers } from './resolvers/ledger';
import { operatorResolvers } from './resolvers/operators';
import { enumResolvers } from './mappers';
import { PROTOTYPE_KEY_RULE, findPrototypeKey } from '../domain/json';
import { exportResolvers } from './resolvers/exports';

/** A graphql-scalars implementation under the schema's own name and description. */
function scalar(implementation: GraphQLScalarType): Partial<GraphQLScalarType> {
  const { serialize, parseValue, parseLiteral } = implementation;
  return { serialize, parseValue, parseLiteral };
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * The same, but a variable must be a JSON number (and a safe integer for `integer`):
 * graphql-scalars would turn "5", " 7 " and "0x10" into numbers, truncate 1.5 to 1 and read
 * 1e21 as 1, storing what the client never meant. Literals in the document are already strict.
 */
function strictNumber(
  implementation: GraphQLScalarType,
  kind: 'integer' | 'number',
): Partial<GraphQLScalarType> {
  const parseValue = implementation.parseValue.bind(implementation);
  return {
    ...scalar(implementation),
    parseValue(value: unknown) {
      if (typeof value !== 'number' || (kind === 'integer' && !Number.isInteger(value))) {
        throw new GraphQLError(`${implementation.name} must be a JSON ${kind}, not ${describe(value)}`);
      }
      // graphql-scalars parses integers with parseInt(String(value)), which reads 1e21 as 1.
      if (kind === 'integer' && !Number.isSafeInteger(value)) {
        throw new GraphQLError(
          `${implementation.name} must be a safe integer (at most 2^53 - 1), not ${value}`,
        );
      }
      return parseValue(value);
    },
  };
}

/**
 * JSONObject (metadata, receipt documents), refusing prototype keys (src/domain/json.ts) whether
 * the object comes as a variable or is written in the document, as request bodies do.
 */
function guardedJsonObject(): Partial<GraphQLScalarType> {
  const refusePrototypeKeys = (value: unknown) => {
    const found = findPrototypeKey(value);
    if (found) {
      throw new GraphQLError(`JSONObject has ${found}, ${PROTOTYPE_KEY_RULE}`, {
        extensions: { code: 'BAD_USER_INPUT' },
      });
    }
    return value;
  };
  return {
    ...scalar(JSONObjectResolver),
    parseValue: (value) => refusePrototypeKeys(JSONObjectResolver.parseValue(value)),
    parseLiteral: (ast, variables) => refusePrototypeKeys(JSONObjectResolver.parseLiteral(ast, variables)),
  };
}

/** A plain decimal: digits, optionally a point and more digits, optionally negative. */
const DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/**
 * Decimal: exact decimal numbers as strings. Inputs may be strings or numbers (a number's
 * shortest round-trip spelling, String(2.5) = '2.5'; a literal keeps its text exactly);
 * anything else, or an exponent, is refused.
 */
const decimalScalar: Partial<GraphQLScalarType> = {
  serialize: (value: unknown) => String(value),
  parseValue(value: unknown) {
    const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
    if (typeof text !== 'string' || !DECIMAL.test(text.trim())) {
      throw new GraphQLError(`Decimal must be a decimal number such as "2.5", not ${describe(value)}`);
    }
    return text.trim();
  },
  parseLiteral(ast) {
    if (
      (ast.kind === Kind.STRING || ast.kind === Kind.INT || ast.kind === Kind.FLOAT) &&
      DECIMAL.test(ast.value)
    ) {
      return ast.value;
    }
    throw new GraphQLError('Decimal must be a decimal number such as "2.5"');
  },
};

/**
 * Duration: an ISO 8601 duration, carried as its text; the service that takes one parses it
 * (iso8601-duration) and answers BAD_USER_INPUT naming its argument when it is not one.
 */
const durationScalar: Partial<GraphQLScalarType> = {
  serialize: (value: unknown) => String(value),
  parseValue(value: unknown) {
    if (typeof value !== 'string')
      throw new GraphQLError(`Duration must be a string such as "PT1H", not ${describe(value)}`);
    return value;
  },
  parseLiteral(ast) {
    if (ast.kind === Kind.STRING) return ast.value;
    throw new GraphQLError('Duration must be a string such as "PT1H"');
  },
};

export const SCHEMA_PATH = path.resolve(__dirname, '..', '..', 'schema.graphql');

export function buildSchema(): GraphQLSchema {
  return makeExecutableSchema({
    typeDefs: fs.readFileSync(SCHEMA_PATH, 'utf8'),
    resolvers: [
      {
        DateTime: scalar(DateTimeResolver),
        UUID: scalar(UUIDResolver),
        JSONObject: guardedJsonObject(),
        NonNegativeInt: strictNumber(NonNegativeIntResolver, 'integer'),
        NonNegativeFloat: strictNumber(NonNegativeFloatResolver, 'number'),
        SafeInt: scalar(SafeIntResolver),
        Decimal: decimalScalar,
        Duration: durationScalar,
      },
      enumResolvers,
      { Query, Mutation },
      typeResolvers,
      pricingResolvers,
      alertResolvers,
      exportResolvers,
      ledgerResolvers,
      operatorResolvers,
    ],
  });
}
