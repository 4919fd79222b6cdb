/**
 * Configuration: read from the environment once, validated with zod.
 * Nothing else in the codebase reads process.env.
 */
import path from 'node:path';
import { z } from 'zod';

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((v) => (v === undefined ? fallback : ['true', '1', 'yes'].includes(v)));

const optionalBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .optional()
  .transform((v) => (v === undefined ? undefined : ['true', '1', 'yes'].includes(v)));

const port = z.coerce.number().int().min(0).max(65535);

/** A metadata key that may be promoted to a dimension. */
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_READ_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(500).default(10),
  DATABASE_INGEST_STATEMENTS: z.coerce.number().int().min(1).max(500).default(2),
  LLMRING_DATA_DIR: z.string().min(1).default('./.llmring/data'),
  LLMRING_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  LLMRING_AUTO_MIGRATE: bool(true),
  LLMRING_ACCEPT_CLIENT_KEYS: bool(false),
  LLMRING_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters long').optional(),
  LLMRING_INTROSPECTION: optionalBool,
  LLMRING_LANDING_PAGE: optionalBool,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LLMRING_RECEIPTS_PRIVATE_KEY: z.string().min(1).optional(),
  LLMRING_RECEIPTS_KEY_ID: z.string().min(1).max(64).optional(),
  LLMRING_RECEIPTS_VERIFY_KEYS: z.string().optional(),
  LLMRING_REGISTRY_URL: z.string().min(1).optional(),
  LLMRING_ROLLUP_INTERVAL_MS: z.coerce.number().int().min(50).max(3_600_000).default(2000),
  LLMRING_ALERT_INTERVAL_MS: z.coerce.number().int().min(50).max(3_600_000).default(5000),
  LLMRING_WEBHOOK_ALLOWED_HOSTS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((h) => h.trim())
        .filter((h) => h !== ''),
    )
    .pipe(
      z.array(
        z.string().regex(/^(\*\.)?[A-Za-z0-9.:[\]_-]{1,253}$/, 'hosts are names, addresses or *.domain'),
      ),
    )
    .default([]),
  LLMRING_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  LLMRING_WEBHOOK_POLL_MS: z.coerce.number().int().min(50).max(3_600_000).default(1000),
  LLMRING_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(5000),
  LLMRING_WEBHOOK_RETRY_FOR_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(30 * 86_400_000)
    .default(3 * 86_400_000),
  LLMRING_REGISTRY_TTL_SECONDS: z.coerce.number().int().min(10).default(3600),
  LLMRING_PRICE_BOOK_REFRESH_MS: z.coerce.number().int().min(100).max(3_600_000).default(5000),
  // Request limits (see Config.limits). The defaults let the dashboard, the CLI and every
  // documented query through with room to spare.
  LLMRING_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(1024 ** 3)
    .default(4 * 1024 * 1024),
  LLMRING_MAX_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(1000),
  // Rate limits (issue 21): 0 is no limit; a project may override each (setProjectRateLimits).
  LLMRING_RATE_LIMIT_KEY_RPS: z.coerce.number().int().min(0).max(1_000_000).default(0),
  LLMRING_RATE_LIMIT_PROJECT_RPS: z.coerce.number().int().min(0).max(1_000_000).default(0),
  LLMRING_RATE_LIMIT_KEY_LOGS_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
  LLMRING_RATE_LIMIT_PROJECT_LOGS_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
  LLMRING_MAX_QUERY_DEPTH: z.coerce.number().int().min(1).max(1000).default(10),
  LLMRING_MAX_ALIASES: z.coerce.number().int().min(0).max(100_000).default(200),
  LLMRING_MAX_TOKENS: z.coerce.number().int().min(10).max(10_000_000).default(100_000),
  LLMRING_MAX_QUERY_COST: z.coerce.number().int().min(1).max(1e12).default(200_000),
  LLMRING_MAX_DIRECTIVES: z.coerce.number().int().min(0).max(100_000).default(50),
  LLMRING_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  LLMRING_METADATA_DIMENSIONS: z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k !== ''),
    )
    .pipe(
      z
        .array(z.string().regex(METADATA_KEY, 'keys are 1-64 letters, digits, _, - or . each'))
        .refine((keys) => new Set(keys).size === keys.length, 'a key is listed twice'),
    )
    .default([]),
  LLMRING_MAX_METADATA_DIMENSIONS: z.coerce.number().int().min(0).max(32).default(5),
  LLMRING_METADATA_DIMENSION_MAX_LENGTH: z.coerce.number().int().min(1).max(1000).default(100),
  // Slow clients (see Config.http): a request's headers and body must arrive within the first;
  // an idle keep-alive connection is closed after the second (Fastify's default; keep it above a
  // load balancer's idle timeout).
  LLMRING_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
  LLMRING_KEEPALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(72_000),
  // Scheduled exports (docs/exports.md): the folder they write under (unset: none can be made),
  // how long after a period ends its file is written, how often the worker looks.
  LLMRING_EXPORT_DIR: z.string().optional(),
  LLMRING_EXPORT_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .default(900),
  LLMRING_EXPORT_INTERVAL_MS: z.coerce.number().int().min(1000).max(86_400_000).default(60_000),
  // The usage ledger (docs/ledger.md).
  LLMRING_LEDGER_MAX_DELAY_MS: z.coerce.number().int().min(100).max(3_600_000).default(5000),
  LLMRING_LEDGER_CHECK_INTERVAL_MS: z.coerce.number().int().min(1000).max(86_400_000).default(600_000),
  LLMRING_LEDGER_NAME: z
    .string()
    .regex(/^[^\s+]+$/u, 'must contain no spaces and no +')
    .default('llmring-server'),
});

export type Env = Record<string, string | undefined>;

export interface Config {
  env: 'development' | 'production' | 'test';
  database: {
    url?: string;
    readUrl?: string;
    poolMax: number;
    /** Group-commit INSERT statements in flight at once (Postgres; PGlite runs one). */
    ingestStatements: number;
    dataDir: string;
  };
  http: {
    port: number;
    host: string;
    introspection: boolean;
    landingPage: boolean;
    /**
     * How long a request may take to arrive, headers and body, from its first byte (on a new
     * connection: from its opening); 408 beyond. The handler's work after that is not counted.
     */
    requestTimeoutMs: number;
    /** How long a keep-alive connection may wait, idle, for its next request. */
    keepAliveTimeoutMs: number;
  };
  autoMigrate: boolean;
  adminToken?: string;
  /** Unknown keys of the llmring client's own format create their project on first use. */
  acceptClientKeys: boolean;
  logLevel: string;
  receipts: { privateKey?: string; keyId?: string; verifyKeys?: string };
  registry: { url?: string; ttlSeconds: number };
  /** How often an instance checks the price book for other instances' changes. */
  priceBookRefreshMs: number;
  /** How often the rollup worker folds new logs into hourly rollups. */
  rollupIntervalMs: number;
  /** How often the alert worker evaluates budgets and spike alerts. */
  alertIntervalMs: number;
  webhooks: {
    /** Hosts webhooks may name (empty: any public host); internal addresses only when listed. */
    allowedHosts: string[];
    timeoutMs: number;
    pollMs: number;
    retryBaseMs: number;
    retryForMs: number;
  };
  /** Default rate limits of every key and project (0: none); see src/services/rateLimits.ts. */
  rateLimits: import('./services/rateLimits').RateLimits;
  /** What one request may ask for; each excess is rejected with a message naming the limit. */
  limits: {
    /** Largest request body in bytes (HTTP 413 beyond). */
    bodyBytes: number;
    /** Most items in one logUsageBatch. */
    batchSize: number;
    /** Deepest field nesting of a GraphQL operation. */
    queryDepth: number;
    /** Most aliased fields in an operation. */
    aliases: number;
    /** Most lexical tokens in a GraphQL document (checked while parsing). */
    tokens: number;
    /** Highest graphql-armor cost of an operation (fields weighted by depth and `first`). */
    queryCost: number;
    /** Most directives in an operation. */
    directives: number;
  };
  /** On SIGTERM/SIGINT: how long in-flight requests may take before the process exits anyway (code 1). */
  shutdownTimeoutMs: number;
  /** Metadata keys promoted to dimensions (statistics filter and group by them). */
  metadataDimensions: { keys: string[]; maxValueLength: number };
  /** Scheduled exports: their root folder (absolute; unset: disabled), grace and worker interval. */
  exports: { dir?: string; graceSeconds: number; intervalMs: number };
  /** The usage ledger: most delay of a receipt's leaf, self-check interval, origin prefix. */
  ledger: { maxDelayMs: number; checkIntervalMs: number; name: string };
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates every setting; a bad setting throws a ConfigError naming every problem. */
export function loadConfig(env: Env = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    // Messages name the variable, never its value: a value may be a secret.
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  if (e.DATABASE_INGEST_STATEMENTS > e.DATABASE_POOL_MAX) {
    throw new ConfigError([
      `DATABASE_INGEST_STATEMENTS: must not exceed DATABASE_POOL_MAX (${e.DATABASE_POOL_MAX})`,
    ]);
  }
  if (e.LLMRING_METADATA_DIMENSIONS.length > e.LLMRING_MAX_METADATA_DIMENSIONS) {
    throw new ConfigError([
      `LLMRING_METADATA_DIMENSIONS: lists ${e.LLMRING_METADATA_DIMENSIONS.length} keys; at most LLMRING_MAX_METADATA_DIMENSIONS (${e.LLMRING_MAX_METADATA_DIMENSIONS}) may be promoted`,
    ]);
  }
  if (e.DATABASE_READ_URL && !e.DATABASE_URL) {
    throw new ConfigError(['DATABASE_READ_URL: needs DATABASE_URL too (a replica of what?)']);
  }
  const production = e.LLMRING_ENV === 'production';
  return {
    env: e.LLMRING_ENV,
    database: {
      url: e.DATABASE_URL,
      readUrl: e.DATABASE_READ_URL,
      poolMax: e.DATABASE_POOL_MAX,
      ingestStatements: e.DATABASE_INGEST_STATEMENTS,
      dataDir: path.resolve(e.LLMRING_DATA_DIR),
    },
    http: {
      port: e.PORT,
      host: e.HOST,
      introspection: e.LLMRING_INTROSPECTION ?? !production,
      landingPage: e.LLMRING_LANDING_PAGE ?? !production,
      requestTimeoutMs: e.LLMRING_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.LLMRING_KEEPALIVE_TIMEOUT_MS,
    },
    autoMigrate: e.LLMRING_AUTO_MIGRATE,
    adminToken: e.LLMRING_ADMIN_TOKEN,
    acceptClientKeys: e.LLMRING_ACCEPT_CLIENT_KEYS,
    logLevel: e.LOG_LEVEL,
    receipts: {
      privateKey: e.LLMRING_RECEIPTS_PRIVATE_KEY,
      keyId: e.LLMRING_RECEIPTS_KEY_ID,
      verifyKeys: e.LLMRING_RECEIPTS_VERIFY_KEYS,
    },
    registry: { url: e.LLMRING_REGISTRY_URL, ttlSeconds: e.LLMRING_REGISTRY_TTL_SECONDS },
    priceBookRefreshMs: e.LLMRING_PRICE_BOOK_REFRESH_MS,
    rollupIntervalMs: e.LLMRING_ROLLUP_INTERVAL_MS,
    alertIntervalMs: e.LLMRING_ALERT_INTERVAL_MS,
    webhooks: {
      allowedHosts: e.LLMRING_WEBHOOK_ALLOWED_HOSTS,
      timeoutMs: e.LLMRING_WEBHOOK_TIMEOUT_MS,
      pollMs: e.LLMRING_WEBHOOK_POLL_MS,
      retryBaseMs: e.LLMRING_WEBHOOK_RETRY_BASE_MS,
      retryForMs: e.LLMRING_WEBHOOK_RETRY_FOR_MS,
    },
    rateLimits: {
      keyRequestsPerSecond: e.LLMRING_RATE_LIMIT_KEY_RPS,
      projectRequestsPerSecond: e.LLMRING_RATE_LIMIT_PROJECT_RPS,
      keyLogsPerMinute: e.LLMRING_RATE_LIMIT_KEY_LOGS_PER_MINUTE,
      projectLogsPerMinute: e.LLMRING_RATE_LIMIT_PROJECT_LOGS_PER_MINUTE,
    },
    limits: {
      bodyBytes: e.LLMRING_MAX_BODY_BYTES,
      batchSize: e.LLMRING_MAX_BATCH_SIZE,
      queryDepth: e.LLMRING_MAX_QUERY_DEPTH,
      aliases: e.LLMRING_MAX_ALIASES,
      tokens: e.LLMRING_MAX_TOKENS,
      queryCost: e.LLMRING_MAX_QUERY_COST,
      directives: e.LLMRING_MAX_DIRECTIVES,
    },
    shutdownTimeoutMs: e.LLMRING_SHUTDOWN_TIMEOUT_MS,
    metadataDimensions: {
      keys: e.LLMRING_METADATA_DIMENSIONS,
      maxValueLength: e.LLMRING_METADATA_DIMENSION_MAX_LENGTH,
    },
    exports: {
      dir: e.LLMRING_EXPORT_DIR === undefined ? undefined : path.resolve(e.LLMRING_EXPORT_DIR),
      graceSeconds: e.LLMRING_EXPORT_GRACE_SECONDS,
      intervalMs: e.LLMRING_EXPORT_INTERVAL_MS,
    },
    ledger: {
      maxDelayMs: e.LLMRING_LEDGER_MAX_DELAY_MS,
      checkIntervalMs: e.LLMRING_LEDGER_CHECK_INTERVAL_MS,
      name: e.LLMRING_LEDGER_NAME,
    },
  };
}
