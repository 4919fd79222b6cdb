/**
 * schema.graphql against the public contract: nothing of the contract renamed, dropped or made
 * incompatible; no alias or sync API; a description on everything a developer reads in Apollo
 * Sandbox; enum values mapped one-to-one onto the domain values.
 *
 * The contract is a copy of ../shared/spec/api-contract.graphql kept in test/fixtures, so this
 * runs without the shared folder; when that folder is present, the copy must be current.
 */
import {
  WEBHOOK_EVENTS,
  type BudgetPeriod,
  type DeliveryStatus,
  type WebhookEventType,
} from '../src/domain/alerts';
import fs from 'node:fs';
import path from 'node:path';
import {
  buildASTSchema,
  buildSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isNonNullType,
  isObjectType,
  parse,
  visit,
  type GraphQLArgument,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { ChangeType, CriticalityLevel, diff, type Change } from '@graphql-inspector/core';
import type { CostSource, PriceSource, TimeBucket, UsageDimension } from '../src/domain/types';
import { LINE_TYPES, type LineType } from '../src/pricing/formula';
import { enumResolvers } from '../src/graphql/mappers';
import { EXPORT_FORMATS, EXPORT_PERIODS, EXPORT_RUN_STATUSES } from '../src/services/exportSchedules';
import { API_KEY_SCOPES, OPERATOR_ROLES, type ApiKeyScope, type OperatorRole } from '../src/domain/access';

const ROOT = path.resolve(__dirname, '..');
const CONTRACT_PATH = path.join(ROOT, 'test', 'fixtures', 'api-contract.graphql');
const SHARED_CONTRACT_PATH = path.resolve(ROOT, '..', 'shared', 'spec', 'api-contract.graphql');
const SCHEMA_PATH = path.join(ROOT, 'schema.graphql');

const contractSdl = fs.readFileSync(CONTRACT_PATH, 'utf8');
const schemaSdl = fs.readFileSync(SCHEMA_PATH, 'utf8');
const contract = buildSchema(contractSdl);
const schema = buildSchema(schemaSdl);

/** Every named element of a schema, with a readable path, for the naming and description checks. */
interface Element {
  kind: 'type' | 'field' | 'argument' | 'input field' | 'enum value';
  path: string;
  name: string;
  description: string | null | undefined;
}

function ownTypes(s: GraphQLSchema): GraphQLNamedType[] {
  return Object.values(s.getTypeMap()).filter((t) => !t.name.startsWith('__'));
}

function elements(s: GraphQLSchema): Element[] {
  const out: Element[] = [];
  for (const type of ownTypes(s)) {
    out.push({ kind: 'type', path: type.name, name: type.name, description: type.description });
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        const fieldPath = `${type.name}.${field.name}`;
        out.push({ kind: 'field', path: fieldPath, name: field.name, description: field.description });
        for (const arg of field.args) {
          out.push({
            kind: 'argument',
            path: `${fieldPath}(${arg.name})`,
            name: arg.name,
            description: arg.description,
          });
        }
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        out.push({
          kind: 'input field',
          path: `${type.name}.${field.name}`,
          name: field.name,
          description: field.description,
        });
      }
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) {
        out.push({
          kind: 'enum value',
          path: `${type.name}.${value.name}`,
          name: value.name,
          description: value.description,
        });
      }
    }
  }
  return out;
}

/** Whether the argument at `path` (Type.field.argument) is nullable and has no default value. */
function optionalWithoutDefault(candidate: GraphQLSchema, path: string | undefined): boolean {
  const [typeName, fieldName, argName] = (path ?? '').split('.');
  const type = candidate.getType(typeName);
  if (!type || !('getFields' in type)) return false;
  const arg = (type.getFields()[fieldName] as { args?: readonly GraphQLArgument[] } | undefined)?.args?.find(
    (a) => a.name === argName,
  );
  return Boolean(arg && !isNonNullType(arg.type) && arg.defaultValue === undefined);
}

const describe_ = (changes: Change[]) => changes.map((c) => `${c.criticality.level} ${c.type}: ${c.message}`);

describe('schema.graphql against the API contract', () => {
  it('has no breaking change from the contract', async () => {
    const changes = await diff(contract, schema);
    const breaking = changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
    expect(describe_(breaking)).toEqual([]);
  });

  /**
   * Changed argument or input-field defaults and added enum values are DANGEROUS, not BREAKING;
   * so is any argument or input field added. Additions the issues ask for are allowed: an
   * optional argument without a default (every query of the contract means what it meant), an
   * optional input field (LogUsageInput's token parts, default 0), an enum value (CostSource's
   * PRICE_BOOK, which a client's exhaustive switch must learn). Anything that changes what
   * the contract already has stays refused.
   */
  const ADDITIONS = new Set<string>([ChangeType.InputFieldAdded, ChangeType.EnumValueAdded]);
  const dangerousChanges = async (candidate: GraphQLSchema) =>
    (await diff(contract, candidate)).filter(
      (c) =>
        c.criticality.level === CriticalityLevel.Dangerous &&
        !ADDITIONS.has(c.type) &&
        !(c.type === ChangeType.FieldArgumentAdded && optionalWithoutDefault(candidate, c.path)),
    );

  it('keeps every default value and enum value of the contract (no dangerous change either)', async () => {
    expect(describe_(await dangerousChanges(schema))).toEqual([]);
  });

  it('detects a changed default (the check above can fail)', async () => {
    const changedDefault = buildASTSchema(parse(schemaSdl.replace('first: Int = 50', 'first: Int = 51')));
    expect(describe_(await dangerousChanges(changedDefault))).not.toEqual([]);
  });

  it('detects a breaking change (the check above can fail)', async () => {
    const withoutField = buildASTSchema(
      visit(parse(schemaSdl), {
        FieldDefinition: (node) => (node.name.value === 'receiptPublicKeys' ? null : undefined),
      }),
    );
    expect(withoutField.getQueryType()?.getFields().receiptPublicKeys).toBeUndefined();
    const changes = await diff(contract, withoutField);
    expect(changes.some((c) => c.criticality.level === CriticalityLevel.Breaking)).toBe(true);
  });

  (fs.existsSync(SHARED_CONTRACT_PATH) ? it : it.skip)(
    'uses a current copy of ../shared/spec/api-contract.graphql',
    () => {
      expect(contractSdl).toBe(fs.readFileSync(SHARED_CONTRACT_PATH, 'utf8'));
    },
  );
});

describe('no alias or sync API', () => {
  // The server records the alias *name* a client used and aggregates by it; nothing else may
  // mention aliases. These names come from the contract.
  const ALIAS_NAMES_ALLOWED: Record<Element['kind'], string[]> = {
    type: ['AliasUsage'],
    field: ['aliasName', 'aliasNames', 'byAlias', 'uniqueAliases'],
    argument: [],
    'input field': ['aliasName', 'aliasNames'],
    'enum value': ['ALIAS'],
  };

  it('has no Alias type and nothing named after aliases but the alias-name statistics', () => {
    const offending = elements(schema)
      .filter((e) => /alias/i.test(e.name) && !ALIAS_NAMES_ALLOWED[e.kind].includes(e.name))
      .map((e) => `${e.kind} ${e.path}`);
    expect(offending).toEqual([]);
    expect(schema.getType('Alias')).toBeUndefined();
  });

  it('has no query or mutation about aliases', () => {
    const rootFields = [
      schema.getQueryType(),
      schema.getMutationType(),
      schema.getSubscriptionType(),
    ].flatMap((t) => (t ? Object.keys(t.getFields()) : []));
    expect(rootFields.filter((f) => /alias/i.test(f))).toEqual([]);
  });

  it('has nothing named after sync', () => {
    const offending = elements(schema)
      .filter((e) => /sync/i.test(e.name))
      .map((e) => `${e.kind} ${e.path}`);
    expect(offending).toEqual([]);
  });
});

describe('descriptions', () => {
  it('describes every type, field, argument, enum value and input field', () => {
    const all = elements(schema);
    expect(all.length).toBeGreaterThan(200); // the walk reaches the whole schema
    const missing = all.filter((e) => !e.description?.trim()).map((e) => `${e.kind} ${e.path}`);
    expect(missing).toEqual([]);
  });

  it('keeps a description wherever the contract has one', () => {
    const ours = new Map(elements(schema).map((e) => [`${e.kind} ${e.path}`, e.description]));
    const dropped = elements(contract)
      .filter((e) => e.description?.trim() && !ours.get(`${e.kind} ${e.path}`)?.trim())
      .map((e) => `${e.kind} ${e.path}`);
    expect(dropped).toEqual([]);
  });
});

describe('enum values map one-to-one onto domain values', () => {
  // The domain unions of src/domain/types.ts; the type annotations make the compiler check them.
  const domain: {
    ApiKeyScope: ApiKeyScope[];
    OperatorRole: OperatorRole[];
    CostSource: CostSource[];
    PriceSource: PriceSource[];
    TokenType: LineType[];
    TimeBucket: TimeBucket[];
    UsageDimension: UsageDimension[];
    BudgetPeriod: BudgetPeriod[];
    WebhookEvent: WebhookEventType[];
    DeliveryStatus: DeliveryStatus[];
  } = {
    ApiKeyScope: [...API_KEY_SCOPES],
    OperatorRole: [...OPERATOR_ROLES],
    CostSource: ['client', 'registry', 'price_book', 'unpriced'],
    PriceSource: ['registry', 'price_book'],
    TokenType: [...LINE_TYPES],
    TimeBucket: ['hour', 'day', 'week', 'month'],
    UsageDimension: ['alias', 'model', 'provider', 'origin', 'profile', 'project'],
    BudgetPeriod: ['day', 'week', 'month', 'total'],
    WebhookEvent: [...WEBHOOK_EVENTS],
    DeliveryStatus: ['pending', 'delivered', 'failed'],
  };

  it.each(Object.keys(enumResolvers) as Array<keyof typeof enumResolvers>)('%s', (enumName) => {
    const type = schema.getType(enumName);
    if (!isEnumType(type)) throw new Error(`${enumName} is not an enum of schema.graphql`);
    const mapping: Record<string, string> = enumResolvers[enumName];
    expect(Object.keys(mapping).sort()).toEqual(
      type
        .getValues()
        .map((v) => v.name)
        .sort(),
    );
    expect(Object.values(mapping).sort()).toEqual([...domain[enumName]].sort());

    // What Apollo will use: the executable schema carries the domain values as internal values.
    const executable = makeExecutableSchema({ typeDefs: schemaSdl, resolvers: enumResolvers });
    const executableEnum = executable.getType(enumName);
    if (!isEnumType(executableEnum)) throw new Error(`${enumName} is not an enum`);
    for (const [graphqlName, domainValue] of Object.entries(mapping)) {
      expect(executableEnum.getValue(graphqlName)?.value).toBe(domainValue);
      expect(executableEnum.serialize(domainValue)).toBe(graphqlName);
    }
  });
});

describe('enums whose GraphQL names are the domain values', () => {
  // Scheduled exports: no run-time mapping, so the schema's values must be the domain's.
  it.each([
    ['ExportFormat', EXPORT_FORMATS],
    ['ExportPeriod', EXPORT_PERIODS],
    ['ExportRunStatus', EXPORT_RUN_STATUSES],
  ] as const)('%s', (enumName, values) => {
    const type = schema.getType(enumName);
    if (!isEnumType(type)) throw new Error(`${enumName} is not an enum of schema.graphql`);
    expect(
      type
        .getValues()
        .map((v) => v.name)
        .sort(),
    ).toEqual([...values].sort());
  });
});
