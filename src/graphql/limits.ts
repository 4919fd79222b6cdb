/**
 * What one GraphQL operation may ask for, enforced with graphql-armor before anything runs:
 * depth, aliases, directives and cost as validation rules, tokens while parsing. Each limit
 * comes from the configuration (Config.limits) and a rejection says which limit, by how much,
 * and which setting raises it, with code GRAPHQL_VALIDATION_FAILED (HTTP 400) or, for the
 * token limit, GRAPHQL_PARSE_FAILED (HTTP 400).
 *
 * The defaults let every documented query through: the dashboard's (depth 5, cost ~1,200,
 * one directive), the API tests' largest (depth 6, 180 aliases, ~2,500 tokens, cost ~44,000
 * for two pages of 500), a page of 500 logs or receipts with every field (cost ~103,000, as
 * armor multiplies a subtree by a literal `first`), and a 1000-item logUsageBatch written
 * inline with every field (~50,000 tokens; the limit is twice that). A cycle such as
 * log → receipt → log … six levels deep under `first: 500` costs ~555,000 and is refused.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationRule } from 'graphql';
import type { Config } from '../config';

/** "Syntax Error: Query depth limit of 10 exceeded, found 12." → a message naming the setting. */
function explain(error: GraphQLError, setting: string): string {
  const text = error.message.replace(/^Syntax Error:\s*/, '').replace(/\.$/, '');
  return `${text} (the server's limit, set by ${setting}).`;
}

type ArmorConfig = NonNullable<ConstructorParameters<typeof ApolloArmor>[0]>;
type RejectCallbacks = NonNullable<NonNullable<ArmorConfig['maxDepth']>['onReject']>;

/** Reports a rejection as a validation error of the request instead of throwing. */
const reportAs = (setting: string): RejectCallbacks => [
  (context, error) =>
    context?.reportError(
      new GraphQLError(explain(error, setting), {
        extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit: setting },
      }),
    ),
];

export interface OperationLimits {
  validationRules: ValidationRule[];
  plugins: ApolloServerPlugin[];
}

export function operationLimits(config: Config): OperationLimits {
  const { limits } = config;
  const armor = new ApolloArmor({
    maxDepth: {
      n: limits.queryDepth,
      propagateOnRejection: false,
      onReject: reportAs('LLMRING_MAX_QUERY_DEPTH'),
    },
    maxAliases: { n: limits.aliases, propagateOnRejection: false, onReject: reportAs('LLMRING_MAX_ALIASES') },
    maxDirectives: {
      n: limits.directives,
      propagateOnRejection: false,
      onReject: reportAs('LLMRING_MAX_DIRECTIVES'),
    },
    costLimit: {
      maxCost: limits.queryCost,
      propagateOnRejection: false,
      onReject: reportAs('LLMRING_MAX_QUERY_COST'),
    },
    // Tokens are counted by graphql-js's own parser (below): armor's Apollo plugin for it parses
    // every document a second time and its rejection surfaces as an HTTP 500.
    maxTokens: { enabled: false },
    // Suggestions ("Did you mean ...?") reveal the schema; hide them where introspection is off.
    blockFieldSuggestion: { enabled: !config.http.introspection },
  });
  const { validationRules, plugins } = armor.protect();
  return { validationRules, plugins };
}
