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
import { GraphQLScalarType, type GraphQLSchema } from 'graphql';
import { Query } from './resolvers/query';
import { Mutation } from './resolvers/mutation';
import { typeResolvers } from './resolvers/types';
import { enumResolvers } from './mappers';

/** A graphql-scalars implementation under the schema's own name and description. */
function scalar(implementation: GraphQLScalarType): Partial<GraphQLScalarType> {
  const { serialize, parseValue, parseLiteral } = implementation;
  return { serialize, parseValue, parseLiteral };
}

export const SCHEMA_PATH = path.resolve(__dirname, '..', '..', 'schema.graphql');

export function buildSchema(): GraphQLSchema {
  return makeExecutableSchema({
    typeDefs: fs.readFileSync(SCHEMA_PATH, 'utf8'),
    resolvers: [
      {
        DateTime: scalar(DateTimeResolver),
        UUID: scalar(UUIDResolver),
        JSONObject: scalar(JSONObjectResolver),
        NonNegativeInt: scalar(NonNegativeIntResolver),
        NonNegativeFloat: scalar(NonNegativeFloatResolver),
        SafeInt: scalar(SafeIntResolver),
      },
      enumResolvers,
      { Query, Mutation },
      typeResolvers,
    ],
  });
}
