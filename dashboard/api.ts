/**
 * The dashboard's only way to the server: POST /graphql (the public API) with JSON. Every secret
 * goes as `Authorization: Bearer`: the server treats the admin token as admin and anything else as
 * a project API key.
 */
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
}

const PROJECT_FIELDS = 'id key name archivedAt';

/** Who the secret belongs to: a project key sees its project; the admin token sees every project. */
export async function whoAmI(secret: string): Promise<Session> {
  const data = await request<{ currentProject: ProjectRef | null; projects: ProjectRef[] }>(
    `query DashboardSession { currentProject { ${PROJECT_FIELDS} } projects(includeArchived: true) { ${PROJECT_FIELDS} } }`,
    {},
    secret,
  );
  return {
    admin: data.currentProject === null,
    currentProject: data.currentProject,
    projects: data.projects,
  };
}

export interface UsageFilter {
  projectId?: string;
  startDate: string;
  endDate: string;
  aliasNames?: Array<string | null>;
  models?: string[];
  origins?: string[];
}

export interface Summary {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  totalTokens: number;
  cost: number;
  uniqueModels: number;
  uniqueAliases: number;
  uniqueOrigins: number;
}

export interface PeriodRow {
  periodStart: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cost: number;
  topModel: string | null;
}

export interface AliasRow {
  aliasName: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cost: number;
  models: string[];
}

export interface ModelRow {
  provider: string;
  model: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cost: number;
}

export interface OriginRow {
  origin: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cost: number;
}

export interface Stats {
  summary: Summary;
  byPeriod: PeriodRow[];
  byAlias: AliasRow[];
  byModel: ModelRow[];
  byOrigin: OriginRow[];
}

export interface Facets {
  byAlias: Array<{ aliasName: string | null }>;
  byModel: Array<{ model: string }>;
  byOrigin: Array<{ origin: string | null }>;
}

export interface ProjectUsage extends ProjectRef {
  usage: { cost: number; requests: number };
}

export interface DashboardData {
  stats: Stats;
  facets: Facets;
  projects?: ProjectUsage[];
}

const DASHBOARD_QUERY = /* GraphQL */ `
  query Dashboard(
    $filter: UsageFilter!
    $facetFilter: UsageFilter!
    $groupBy: TimeBucket!
    $timeZone: String!
    $admin: Boolean!
    $startDate: DateTime!
    $endDate: DateTime!
  ) {
    stats: usageStats(filter: $filter, groupBy: $groupBy, timeZone: $timeZone) {
      summary {
        requests inputTokens outputTokens cachedInputTokens totalTokens cost
        uniqueModels uniqueAliases uniqueOrigins
      }
      byPeriod { periodStart requests inputTokens outputTokens cost topModel }
      byAlias { aliasName requests inputTokens outputTokens cost models }
      byModel { provider model requests inputTokens outputTokens cost }
      byOrigin { origin requests inputTokens outputTokens cost }
    }
    facets: usageStats(filter: $facetFilter) {
      byAlias { aliasName }
      byModel { model }
      byOrigin { origin }
    }
    projects(includeArchived: true) @include(if: $admin) {
      ${PROJECT_FIELDS}
      usage(startDate: $startDate, endDate: $endDate) { cost requests }
    }
  }
`;

/**
 * Everything but the logs in one round trip: the stats under the filter, the values the filter
 * can choose from (the same period and project without the alias, model and origin criteria), and
 * for admins every project's usage over the period.
 */
export function loadDashboard(
  secret: string,
  options: { filter: UsageFilter; bucket: Bucket; timeZone: string; admin: boolean },
  signal?: AbortSignal,
): Promise<DashboardData> {
  const { filter, bucket, timeZone, admin } = options;
  const facetFilter: UsageFilter = {
    projectId: filter.projectId,
    startDate: filter.startDate,
    endDate: filter.endDate,
  };
  return request<DashboardData>(
    DASHBOARD_QUERY,
    {
      filter,
      facetFilter,
      groupBy: bucket,
      timeZone,
      admin,
      startDate: filter.startDate,
      endDate: filter.endDate,
    },
    secret,
    signal,
  );
}

export interface LogRow {
  id: string;
  occurredAt: string;
  aliasName: string | null;
  provider: string;
  model: string;
  origin: string | null;
  inputTokens: number;
  outputTokens: number;
  cost: number;
  costSource: string;
  project: { key: string };
  receipt: { receiptId: string; document: Record<string, unknown> } | null;
}

export interface LogPage {
  edges: Array<{ node: LogRow }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const LOGS_QUERY = /* GraphQL */ `
  query DashboardLogs($filter: UsageFilter!, $first: Int!, $after: String) {
    usageLogs(filter: $filter, first: $first, after: $after) {
      edges {
        node {
          id
          occurredAt
          aliasName
          provider
          model
          origin
          inputTokens
          outputTokens
          cost
          costSource
          project {
            key
          }
          receipt {
            receiptId
            document
          }
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;

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
