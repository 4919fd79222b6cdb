/**
 * The dashboard's only way to the server: POST /graphql (the public API) with JSON. Every secret
 * goes as `Authorization: Bearer`: the server treats the admin token as admin and anything else as
 * a project API key.
 */
import type { TokenCounts } from './format';
import {
  BUDGETS_QUERY,
  dashboardQuery,
  DELIVERIES_SHOWN,
  LOGS_QUERY,
  PRICE_HISTORY_QUERY,
  PRICES_QUERY,
  SESSION_QUERY,
} from './queries';
export { LOG_PAGE, METADATA_GROUPS, METADATA_VALUES } from './queries';
import type { Bucket } from './time';

export type ErrorKind = 'auth' | 'forbidden' | 'input' | 'network' | 'server';

export class ApiError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphQLBody<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

/** /graphql next to /dashboard, so that a reverse proxy's path prefix is kept. */
const endpoint = (): string => new URL('graphql', window.location.href).toString();

export async function request<T>(
  query: string,
  variables: Record<string, unknown>,
  secret: string | null,
  signal?: AbortSignal,
): Promise<T> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
  };
  if (secret) headers.authorization = `Bearer ${secret}`;
  let response: Response;
  try {
    response = await fetch(endpoint(), {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
      credentials: 'omit',
      cache: 'no-store',
      signal,
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError('network', 'The server could not be reached. Check your connection and try again.');
  }
  let body: GraphQLBody<T>;
  try {
    body = (await response.json()) as GraphQLBody<T>;
  } catch {
    throw new ApiError('server', `The server answered with HTTP ${response.status} and no GraphQL response.`);
  }
  const error = body.errors?.[0];
  if (error) {
    const code = error.extensions?.code;
    if (code === 'UNAUTHENTICATED' || response.status === 401) {
      throw new ApiError(
        'auth',
        'This key was not accepted: it is unknown or revoked, or its project is archived.',
      );
    }
    if (code === 'FORBIDDEN') throw new ApiError('forbidden', `Not allowed: ${error.message}`);
    if (code === 'BAD_USER_INPUT' || code === 'GRAPHQL_VALIDATION_FAILED') {
      throw new ApiError('input', error.message);
    }
    throw new ApiError('server', `The server could not answer (${code ?? `HTTP ${response.status}`}).`);
  }
  if (!response.ok || !body.data) {
    throw new ApiError('server', `The server could not answer (HTTP ${response.status}).`);
  }
  return body.data;
}

export interface ProjectRef {
  id: string;
  key: string;
  name: string;
  archivedAt: string | null;
}

export interface Session {
  admin: boolean;
  currentProject: ProjectRef | null;
  projects: ProjectRef[];
  /** The metadata keys promoted to dimensions: each gets a filter and a breakdown. */
  metadataDimensions: string[];
}

/** Who the secret belongs to: a project key sees its project; the admin token sees every project. */
export async function whoAmI(secret: string): Promise<Session> {
  const data = await request<{
    currentProject: ProjectRef | null;
    projects: ProjectRef[];
    metadataDimensions: string[];
  }>(SESSION_QUERY, {}, secret);
  return {
    admin: data.currentProject === null,
    currentProject: data.currentProject,
    projects: data.projects,
    metadataDimensions: data.metadataDimensions,
  };
}

export interface MetadataFilter {
  key: string;
  values: Array<string | null>;
}

export interface UsageFilter {
  projectId?: string;
  startDate: string;
  endDate: string;
  aliasNames?: Array<string | null>;
  models?: string[];
  origins?: string[];
  metadata?: MetadataFilter[];
}

/** Every row of usage: its calls, token totals and exact cost (costDecimal, a Decimal string). */
export interface Usage extends TokenCounts {
  requests: number;
  costDecimal: string;
}

export interface Summary extends Usage {
  totalTokens: number;
  uniqueModels: number;
  uniqueAliases: number;
  uniqueOrigins: number;
}

export interface PeriodRow extends Usage {
  periodStart: string;
  topModel: string | null;
}

export interface AliasRow extends Usage {
  aliasName: string | null;
  models: string[];
}

export interface ModelRow extends Usage {
  provider: string;
  model: string;
}

export interface OriginRow extends Usage {
  origin: string | null;
}

export interface MetadataRow extends Usage {
  metadata: Array<{ key: string; value: string | null }>;
}

export interface Stats {
  summary: Summary;
  byPeriod: PeriodRow[];
  byAlias: AliasRow[];
  byModel: ModelRow[];
  byOrigin: OriginRow[];
  /** Every log committed up to this instant is counted. */
  asOf: string;
  fromReplica: boolean;
}

export interface Facets {
  byAlias: Array<{ aliasName: string | null }>;
  byModel: Array<{ model: string }>;
  byOrigin: Array<{ origin: string | null }>;
}

export interface ProjectUsage extends ProjectRef {
  usage: { costDecimal: string; requests: number };
}

export interface MetadataBreakdown {
  key: string;
  /** The groups under the filter, most expensive first (at most METADATA_GROUPS). */
  groups: MetadataRow[];
  /** The values to filter by: those of the period and project, whatever the other criteria. */
  values: Array<string | null>;
}

export interface DashboardData {
  stats: Stats;
  facets: Facets;
  projects?: ProjectUsage[];
  metadata: MetadataBreakdown[];
  logs: LogPage;
}

type MetadataAnswer = Record<string, { breakdown: MetadataRow[] } | undefined>;

/**
 * Everything in one round trip: the stats under the filter and how fresh they are, the values the
 * filter can choose from (the same period and project without the alias, model, origin and
 * metadata criteria), a breakdown per promoted metadata key, the first page of logs, and for
 * admins every project's usage over the period.
 */
export async function loadDashboard(
  secret: string,
  options: {
    filter: UsageFilter;
    bucket: Bucket;
    timeZone: string;
    admin: boolean;
    metadataKeys: string[];
    logs: number;
  },
  signal?: AbortSignal,
): Promise<DashboardData> {
  const { filter, bucket, timeZone, admin, metadataKeys } = options;
  const facetFilter: UsageFilter = {
    projectId: filter.projectId,
    startDate: filter.startDate,
    endDate: filter.endDate,
  };
  const variables: Record<string, unknown> = {
    filter,
    facetFilter,
    groupBy: bucket,
    timeZone,
    admin,
    startDate: filter.startDate,
    endDate: filter.endDate,
    logs: options.logs,
  };
  metadataKeys.forEach((key, i) => (variables[`key${i}`] = key));
  const data = await request<Omit<DashboardData, 'metadata'> & MetadataAnswer>(
    dashboardQuery(metadataKeys.length),
    variables,
    secret,
    signal,
  );
  return {
    stats: data.stats,
    facets: data.facets,
    projects: data.projects,
    logs: data.logs,
    metadata: metadataKeys.map((key, i) => ({
      key,
      groups: data[`metadata${i}`]?.breakdown ?? [],
      values: (data[`metadataValues${i}`]?.breakdown ?? []).map((g) => g.metadata[0]?.value ?? null),
    })),
  };
}

export interface ChargeLine {
  type: string;
  tokens: number;
  perMillion: string;
  amount: string;
}

export interface Adjustment {
  adjustmentId: string;
  receiptId: string | null;
  previousCost: string;
  newCost: string;
  difference: string;
  costSource: string;
  priceBookVersion: number;
  createdAt: string;
  document: Record<string, unknown>;
}

export interface LogRow extends TokenCounts {
  id: string;
  occurredAt: string;
  aliasName: string | null;
  provider: string;
  model: string;
  origin: string | null;
  costDecimal: string;
  /** The cost first charged, when a re-pricing changed it since. */
  originalCost: string | null;
  costSource: string;
  project: { key: string };
  receipt: {
    receiptId: string;
    document: Record<string, unknown>;
    /** Where the receipt is in its project's ledger; null until the integrator appends it. */
    ledger: { leafIndex: number } | null;
  } | null;
  pricing: {
    source: string;
    version: string | null;
    longContext: boolean;
    lines: ChargeLine[];
  } | null;
  adjustments: Adjustment[];
}

export interface LogPage {
  edges: Array<{ node: LogRow }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** The next page of logs ("Show more"); the first one comes with loadDashboard. */
export async function loadLogs(
  secret: string,
  filter: UsageFilter,
  first: number,
  after: string | null,
  signal?: AbortSignal,
): Promise<LogPage> {
  const data = await request<{ usageLogs: LogPage }>(LOGS_QUERY, { filter, first, after }, secret, signal);
  return data.usageLogs;
}

/** A model's prices per million tokens as exact Decimal strings; null where none is listed. */
export interface PriceDecimals {
  input: string | null;
  output: string | null;
  cachedInput: string | null;
  cacheWrite: string | null;
  cacheWrite1h: string | null;
  reasoning: string | null;
  inputLongContext: string | null;
  outputLongContext: string | null;
}

export interface ModelPrice {
  provider: string;
  model: string;
  source: 'REGISTRY' | 'PRICE_BOOK';
  priceBookVersion: number | null;
  longContextThresholdTokens: number | null;
  prices: PriceDecimals;
}

/** The prices in effect now for a project (or every project), and where each comes from. */
export interface BudgetRow {
  id: string;
  name: string;
  amount: string;
  period: 'DAY' | 'WEEK' | 'MONTH' | 'TOTAL';
  timeZone: string;
  thresholds: number[];
  project: { key: string };
  status: {
    periodStart: string;
    periodEnd: string | null;
    spent: string;
    percent: number;
    thresholdsCrossed: number[];
    forecast: string | null;
  };
}

export interface DeliveryRow {
  id: string;
  eventType: string;
  status: 'PENDING' | 'DELIVERED' | 'FAILED';
  attempts: number;
  createdAt: string;
  lastStatusCode: number | null;
  lastError: string | null;
  /** The webhook's URL (added here: the query nests deliveries under their webhook). */
  url: string;
}

/** Budgets and, for the admin, the newest webhook deliveries first. */
export async function loadBudgets(
  secret: string,
  projectId: string | null,
  admin: boolean,
): Promise<{ budgets: BudgetRow[]; deliveries: DeliveryRow[] }> {
  const data = await request<{
    budgets: BudgetRow[];
    webhooks?: Array<{ url: string; deliveries: Array<Omit<DeliveryRow, 'url'>> }>;
  }>(BUDGETS_QUERY, { projectId, admin, deliveries: DELIVERIES_SHOWN }, secret);
  const deliveries = (data.webhooks ?? [])
    .flatMap((w) => w.deliveries.map((d) => ({ ...d, url: w.url })))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .slice(0, DELIVERIES_SHOWN);
  return { budgets: data.budgets, deliveries };
}

export async function loadPrices(secret: string, projectId: string | null): Promise<ModelPrice[]> {
  const data = await request<{ modelPricing: ModelPrice[] }>(PRICES_QUERY, { projectId }, secret);
  return data.modelPricing;
}

export interface PriceBookEntry {
  id: string;
  version: number;
  project: { key: string; name: string } | null;
  provider: string;
  model: string;
  inputPerMillion: string;
  outputPerMillion: string;
  cachedInputPerMillion: string | null;
  cacheWritePerMillion: string | null;
  cacheWrite1hPerMillion: string | null;
  reasoningPerMillion: string | null;
  inputLongContextPerMillion: string | null;
  outputLongContextPerMillion: string | null;
  longContextThresholdTokens: number | null;
  effectiveFrom: string;
  effectiveTo: string | null;
  note: string | null;
}

/** One model's price-book entries, oldest first. */
export async function loadPriceHistory(
  secret: string,
  provider: string,
  model: string,
  projectId: string | null,
): Promise<PriceBookEntry[]> {
  const data = await request<{ modelPrices: PriceBookEntry[] }>(
    PRICE_HISTORY_QUERY,
    { provider, model, projectId },
    secret,
  );
  return data.modelPrices;
}

export interface Verification {
  valid: boolean;
  keyId: string | null;
  reason: string | null;
}

/** Asks the server to check a receipt document's signature. Needs no key. */
export async function verifyReceipt(document: Record<string, unknown>): Promise<Verification> {
  const data = await request<{ verifyReceipt: Verification }>(
    'query DashboardVerify($document: JSONObject!) { verifyReceipt(document: $document) { valid keyId reason } }',
    { document },
    null,
  );
  return data.verifyReceipt;
}
