/**
 * The query cost limit (LLMRING_MAX_QUERY_COST), counted with the page sizes the operation will
 * really run with. graphql-armor's cost rule multiplies a subtree by `first` only when `first` is
 * an integer written in the document, so `usageLogs(first: $n)` with `{"n": 500}`, or a `first`
 * left to its default of 50, cost as one item each: hundreds of aliases of such pages passed.
 * A validation rule cannot do better, since graphql-js validates (and Apollo caches the verdict
 * per document) before variables are known; so the cost is computed here, once the operation is
 * resolved, from the arguments as execution will coerce them (literal, variable or default).
 *
 * The formula is armor's, unchanged, so a document with literal pages costs what it did: a scalar
 * field costs 1; a field with a selection costs 2 plus 1.5 times each child's cost, all times its
 * page size (`first` or `last`, at least 1); a fragment spread costs 1 plus 1.5 times the
 * fragment's selection (counted once per operation, then reused); `__schema` costs nothing.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import {
  GraphQLError,
  Kind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
  getArgumentValues,
  getNamedType,
  getVariableValues,
  isCompositeType,
  isObjectType,
  isInterfaceType,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';

const SCALAR_COST = 1;
const OBJECT_COST = 2;
const DEPTH_FACTOR = 1.5;
/** Arguments that say how many items a field returns. */
const PAGE_ARGUMENTS = ['first', 'last'];

interface CostInput {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fragments: Map<string, FragmentDefinitionNode>;
  /** The request's variables as the client sent them (coerced here only where a page size needs one). */
  variables: Record<string, unknown>;
}

/** A field's definition on `parent`, meta fields included; undefined when the schema has none. */
function fieldDefinition(
  schema: GraphQLSchema,
  parent: GraphQLCompositeType | undefined,
  node: FieldNode,
): GraphQLField<unknown, unknown> | undefined {
  const name = node.name.value;
  if (name === TypeNameMetaFieldDef.name) return TypeNameMetaFieldDef;
  if (parent === schema.getQueryType()) {
    if (name === SchemaMetaFieldDef.name) return SchemaMetaFieldDef;
    if (name === TypeMetaFieldDef.name) return TypeMetaFieldDef;
  }
  return parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined;
}

class CostCounter {
  private readonly fragmentCosts = new Map<string, number>();
  /** Variables coerced so far (only those that page sizes use), and their names. */
  private readonly coerced: Record<string, unknown> = {};
  private readonly coercedNames = new Set<string>();
  /** Set when a page size's variable does not coerce: execution refuses the request anyway. */
  private invalidVariables = false;

  constructor(private readonly input: CostInput) {}

  /** The operation's cost, or undefined when a page size's variable does not coerce. */
  operationCost(): number | undefined {
    const { schema, operation } = this.input;
    const root = schema.getRootType(operation.operation) ?? undefined;
    const cost = this.childrenCost(operation.selectionSet, root, 1);
    return this.invalidVariables ? undefined : cost;
  }

  /** The children of a selection set, each weighted by `factor` (armor's depth factor or 1 at the root). */
  private childrenCost(
    set: SelectionSetNode,
    parent: GraphQLCompositeType | undefined,
    factor: number,
  ): number {
    let cost = 0;
    for (const child of set.selections) cost += factor * this.selectionCost(child, parent);
    return cost;
  }

  private selectionCost(node: SelectionNode, parent: GraphQLCompositeType | undefined): number {
    const { schema } = this.input;
    if (node.kind === Kind.FIELD) {
      if (node.name.value === SchemaMetaFieldDef.name) return 0; // introspection is limited elsewhere
      if (!node.selectionSet) return SCALAR_COST;
      const definition = fieldDefinition(schema, parent, node);
      const type = definition ? getNamedType(definition.type) : undefined;
      const inner = type && isCompositeType(type) ? type : undefined;
      const cost = OBJECT_COST + this.childrenCost(node.selectionSet, inner, DEPTH_FACTOR);
      return cost * this.pageSize(node, definition);
    }
    if (node.kind === Kind.INLINE_FRAGMENT) {
      const named = node.typeCondition ? schema.getType(node.typeCondition.name.value) : parent;
      const inner = named && isCompositeType(named) ? named : undefined;
      return OBJECT_COST + this.childrenCost(node.selectionSet, inner, DEPTH_FACTOR);
    }
    return SCALAR_COST + DEPTH_FACTOR * this.fragmentCost(node.name.value);
  }

  private fragmentCost(name: string): number {
    const known = this.fragmentCosts.get(name);
    if (known !== undefined) return known;
    const fragment = this.input.fragments.get(name);
    if (!fragment) return 0; // validation refuses unknown fragments; nothing runs
    this.fragmentCosts.set(name, 0); // cycles are refused by validation; this only ends the walk
    const type = this.input.schema.getType(fragment.typeCondition.name.value);
    const inner = type && isCompositeType(type) ? type : undefined;
    const cost = OBJECT_COST + this.childrenCost(fragment.selectionSet, inner, DEPTH_FACTOR);
    this.fragmentCosts.set(name, cost);
    return cost;
  }

  /** How many items the field returns: its `first` or `last` as execution will see it, at least 1. */
  private pageSize(node: FieldNode, definition: GraphQLField<unknown, unknown> | undefined): number {
    if (!definition?.args.some((a) => PAGE_ARGUMENTS.includes(a.name))) return 1;
    for (const argument of node.arguments ?? []) {
      if (PAGE_ARGUMENTS.includes(argument.name.value) && argument.value.kind === Kind.VARIABLE) {
        this.coerce(argument.value.name.value);
      }
    }
    let values: Record<string, unknown>;
    try {
      values = getArgumentValues(definition, node, this.coerced);
    } catch {
      this.invalidVariables = true; // e.g. a null for a non-null page size: execution refuses it
      return 1;
    }
    const sizes = PAGE_ARGUMENTS.map((name) => values[name]).filter(
      (v): v is number => typeof v === 'number',
    );
    return Math.max(1, ...sizes);
  }

  /** Coerces one variable as execution will (its default included); once per variable. */
  private coerce(name: string): void {
    if (this.coercedNames.has(name)) return;
    this.coercedNames.add(name);
    const definition = this.input.operation.variableDefinitions?.find((d) => d.variable.name.value === name);
    if (!definition) return;
    const result = getVariableValues(this.input.schema, [definition], this.input.variables, { maxErrors: 1 });
    if (result.coerced) Object.assign(this.coerced, result.coerced);
    else this.invalidVariables = true;
  }
}

/**
 * The cost of running `operation` with `variables`, or undefined when a page size's variable does
 * not coerce (execution then refuses the request with BAD_USER_INPUT before running anything).
 */
export function operationCost(input: CostInput): number | undefined {
  return new CostCounter(input).operationCost();
}

/** Refuses, before anything runs, an operation whose cost is over `maxCost`. */
export function costLimitPlugin<T extends object>(
  maxCost: number,
  explain: (message: string) => string,
): ApolloServerPlugin<T> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          if (!operation) return;
          const fragments = new Map<string, FragmentDefinitionNode>();
          for (const d of document.definitions) {
            if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
          }
          const cost = operationCost({ schema, operation, fragments, variables: request.variables ?? {} });
          if (cost === undefined || cost <= maxCost) return;
          throw new GraphQLError(explain(`Query Cost limit of ${maxCost} exceeded, found ${cost}.`), {
            extensions: {
              code: 'GRAPHQL_VALIDATION_FAILED',
              limit: 'LLMRING_MAX_QUERY_COST',
              http: { status: 400 },
            },
          });
        },
      };
    },
  };
}
