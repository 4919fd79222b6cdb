/**
 * What one GraphQL operation may ask for, enforced before anything runs: depth, aliases and
 * directives as graphql-armor validation rules, tokens while parsing, and cost once the
 * operation and its variables are known (cost.ts). Each limit comes from the configuration
 * (Config.limits) and a rejection says which limit, by how much, and which setting raises it,
 * with code GRAPHQL_VALIDATION_FAILED (HTTP 400) or, for the token limit, GRAPHQL_PARSE_FAILED
 * (HTTP 400).
 *
 * The defaults let every documented query through: the dashboard's (depth 5, one directive;
 * its page of 500 logs costs ~40,000), the API tests' largest (depth 6, 180 aliases, ~2,500
 * tokens, cost ~44,000 for two pages of 500), a page of 500 logs or receipts with every field
 * (cost ~103,000: a subtree is multiplied by its page size, whether `first` is written, passed
 * as a variable or left to its default of 50), and a 1000-item logUsageBatch written inline
 * with every field (~50,000 tokens; the limit is twice that). A cycle such as
 * log → receipt → log … six levels deep under `first: 500` costs ~555,000 and is refused.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationRule } from 'graphql';
import type { Config } from '../config';
import { costLimitPlugin } from './cost';

/** "Syntax Error: Query depth limit of 10 exceeded, found 12." → a message naming the setting. */
function explain(message: string, setting: string): string {
  const text = message.replace(/^Syntax Error:\s*/, '').replace(/\.$/, '');
  return `${text} (the server's limit, set by ${setting}).`;
}

type ArmorConfig = NonNullable<ConstructorParameters<typeof ApolloArmor>[0]>;
type RejectCallbacks = NonNullable<NonNullable<ArmorConfig['maxDepth']>['onReject']>;

/** Reports a rejection as a validation error of the request instead of throwing. */
const reportAs = (setting: string): RejectCallbacks => [
  (context, error) =>
    context?.reportError(
      new GraphQLError(explain(error.message, setting), {
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
    maxAliases: {
      n: limits.aliases,
      // armor lets `__typename` aliases through uncounted by default; each is still a field to
      // resolve and answer, so thousands of them would make a large answer out of a tiny document.
      allowList: [],
      propagateOnRejection: false,
      onReject: reportAs('LLMRING_MAX_ALIASES'),
    },
    maxDirectives: {
      n: limits.directives,
      propagateOnRejection: false,
      onReject: reportAs('LLMRING_MAX_DIRECTIVES'),
    },
    // Cost needs the variables, which validation never sees: costLimitPlugin counts it instead.
    costLimit: { enabled: false },
    // Tokens are counted by graphql-js's own parser (below): armor's Apollo plugin for it parses
    // every document a second time and its rejection surfaces as an HTTP 500.
    maxTokens: { enabled: false },
    // Suggestions ("Did you mean ...?") are hidden by formatError (errors.ts), which sees every
    // error; armor's plugin only masked some of them (not enum values).
    blockFieldSuggestion: { enabled: false },
  });
  const { validationRules, plugins } = armor.protect();
  const cost = costLimitPlugin(limits.queryCost, (message) => explain(message, 'LLMRING_MAX_QUERY_COST'));
  return { validationRules, plugins: [...plugins, cost] };
}
