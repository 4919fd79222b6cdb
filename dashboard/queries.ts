/**
 * The GraphQL documents the dashboard sends. No DOM, so the server-side tests send them too
 * (test/dashboard.test.ts checks that they stay within the server's limits).
 */

export const PROJECT_FIELDS = 'id key name archivedAt';

/** Who a secret belongs to, and the metadata keys the server promotes: once, at sign-in. */
export const SESSION_QUERY = `query DashboardSession { currentProject { ${PROJECT_FIELDS} } projects(includeArchived: true) { ${PROJECT_FIELDS} } metadataDimensions }`;

const TOKENS =
  'inputTokens outputTokens cachedInputTokens cacheWriteTokens cacheWrite1hTokens reasoningTokens';
const USAGE = `requests ${TOKENS} costDecimal`;

/** Logs per page of the latest calls (the first comes with the statistics, then "Show more"). */
export const LOG_PAGE = 20;

/** Most groups of a metadata breakdown, and most values offered by its filter. */
export const METADATA_GROUPS = 100;
export const METADATA_VALUES = 200;

const LOG_FIELDS = /* GraphQL */ `
  fragment DashboardLog on UsageLog {
    id
    occurredAt
    aliasName
    provider
    model
    origin
    ${TOKENS}
    costDecimal
    originalCost
    costSource
    project {
      key
    }
    receipt {
      receiptId
      document
      ledger {
        leafIndex
      }
    }
    pricing {
      source
      version
      longContext
      lines {
        type
        tokens
        perMillion
        amount
      }
    }
    adjustments {
      adjustmentId
      receiptId
      previousCost
      newCost
      difference
      costSource
      priceBookVersion
      createdAt
      document
    }
  }
`;

/**
 * The dashboard's one request per refresh. A usageStats field is one statement; each promoted
 * metadata key gets fields of its own (its breakdown under the filter, and its values for the
 * filter), because the rollups hold one key per row: one field naming two keys would read raw
 * logs for everything in it. Keys go as variables, so the document depends only on their number.
 */
export function dashboardQuery(metadataKeys: number): string {
  const keys = Array.from({ length: metadataKeys }, (_, i) => i);
  return /* GraphQL */ `
  query Dashboard(
    $filter: UsageFilter!
    $facetFilter: UsageFilter!
    $groupBy: TimeBucket!
    $timeZone: String!
    $admin: Boolean!
    $startDate: DateTime!
    $endDate: DateTime!
    $logs: Int!
    ${keys.map((i) => `$key${i}: String!`).join(' ')}
  ) {
    stats: usageStats(filter: $filter, groupBy: $groupBy, timeZone: $timeZone) {
      summary { ${USAGE} totalTokens uniqueModels uniqueAliases uniqueOrigins }
      byPeriod { periodStart ${USAGE} topModel }
      byAlias { aliasName ${USAGE} models }
      byModel { provider model ${USAGE} }
      byOrigin { origin ${USAGE} }
      asOf
      fromReplica
    }
    facets: usageStats(filter: $facetFilter) {
      byAlias { aliasName }
      byModel { model }
      byOrigin { origin }
    }
    ${keys
      .map(
        (i) => `
    metadata${i}: usageStats(filter: $filter) {
      breakdown(by: [], metadataKeys: [$key${i}], limit: ${METADATA_GROUPS}) { metadata { key value } ${USAGE} }
    }
    metadataValues${i}: usageStats(filter: $facetFilter) {
      breakdown(by: [], metadataKeys: [$key${i}], limit: ${METADATA_VALUES}) { metadata { value } }
    }`,
      )
      .join('')}
    projects(includeArchived: true) @include(if: $admin) {
      ${PROJECT_FIELDS}
      usage(startDate: $startDate, endDate: $endDate) { costDecimal requests }
    }
    logs: usageLogs(filter: $filter, first: $logs) {
      edges { node { ...DashboardLog } }
      pageInfo { hasNextPage endCursor }
    }
  }
  ${LOG_FIELDS}
`;
}

export const LOGS_QUERY = /* GraphQL */ `
  query DashboardLogs($filter: UsageFilter!, $first: Int!, $after: String) {
    usageLogs(filter: $filter, first: $first, after: $after) {
      edges {
        node {
          ...DashboardLog
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
  ${LOG_FIELDS}
`;

/** The prices in effect now, with where each comes from (admin: the price book's or the registry's). */
export const PRICES_QUERY = /* GraphQL */ `
  query DashboardPrices($projectId: UUID) {
    modelPricing(projectId: $projectId) {
      provider
      model
      source
      priceBookVersion
      longContextThresholdTokens
      prices {
        input
        output
        cachedInput
        cacheWrite
        cacheWrite1h
        reasoning
        inputLongContext
        outputLongContext
      }
    }
  }
`;

/** One model's price-book entries, oldest first: global ones and (with projectId) the project's. */
export const PRICE_HISTORY_QUERY = /* GraphQL */ `
  query DashboardPriceHistory($provider: String!, $model: String!, $projectId: UUID) {
    modelPrices(provider: $provider, model: $model, projectId: $projectId) {
      id
      version
      project {
        key
        name
      }
      provider
      model
      inputPerMillion
      outputPerMillion
      cachedInputPerMillion
      cacheWritePerMillion
      cacheWrite1hPerMillion
      reasoningPerMillion
      inputLongContextPerMillion
      outputLongContextPerMillion
      longContextThresholdTokens
      effectiveFrom
      effectiveTo
      note
    }
  }
`;

/**
 * Budgets with their current status (a project key: its own; the admin: one project's or all),
 * and for the admin the webhooks' latest deliveries.
 */
export const BUDGETS_QUERY = /* GraphQL */ `
  query DashboardBudgets($projectId: UUID, $admin: Boolean!, $deliveries: Int!) {
    budgets(projectId: $projectId) {
      id
      name
      amount
      period
      timeZone
      thresholds
      project {
        key
      }
      status {
        periodStart
        periodEnd
        spent
        percent
        thresholdsCrossed
        forecast
      }
    }
    webhooks(projectId: $projectId) @include(if: $admin) {
      id
      url
      deliveries(first: $deliveries) {
        id
        eventType
        status
        attempts
        createdAt
        lastStatusCode
        lastError
      }
    }
  }
`;

/** Deliveries shown per webhook (the newest of all are listed). */
export const DELIVERIES_SHOWN = 10;
