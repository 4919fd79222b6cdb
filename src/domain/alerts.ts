/** Budgets, spike alerts and webhooks, as the services and the API see them (docs/budgets.md). */

export type BudgetPeriod = 'day' | 'week' | 'month' | 'total';

/** What a budget counts, beyond its project: a statistics filter's lists. */
export interface BudgetFilter {
  /** null inside the list selects calls logged without an alias. */
  aliasNames?: Array<string | null>;
  models?: string[];
  origins?: string[];
  /** Promoted metadata keys' values (every entry must match). */
  metadata?: Array<{ key: string; values: Array<string | null> }>;
}

export interface Budget {
  id: string;
  projectId: string;
  name: string;
  /** USD, a decimal string with 8 fractional digits. */
  amount: string;
  period: BudgetPeriod;
  timeZone: string;
  /** Percentages of the amount, ascending, e.g. [50, 80, 100]. */
  thresholds: number[];
  filter: BudgetFilter;
  createdAt: Date;
  updatedAt: Date;
}

export interface BudgetStatus {
  budget: Budget;
  periodStart: Date;
  /** Exclusive; null for a total budget. */
  periodEnd: Date | null;
  /** Decimal strings, 8 fractional digits. remaining is amount − spent (negative once over). */
  spent: string;
  remaining: string;
  percent: number;
  /** The thresholds the spending has reached in this period. */
  thresholdsCrossed: number[];
  /** The period's spending at its end at the run-rate so far; null for a total budget. */
  forecast: string | null;
  /** The instant the status is for. */
  asOf: Date;
}

export interface SpikeAlert {
  id: string;
  projectId: string;
  /** null: the whole project. */
  aliasName: string | null;
  /** The day so far must exceed this many times the trailing 7 days' average of the same hours. */
  factor: number;
  /** …and be at least this much (USD, decimal string), so that cents do not page anyone. */
  minimumCost: string;
  timeZone: string;
  createdAt: Date;
}

export const WEBHOOK_EVENTS = [
  'budget.threshold_crossed',
  'budget.period_reset',
  'usage.spike',
  'webhook.test',
  'export.written',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

export interface Webhook {
  id: string;
  /** null: every project's events. */
  projectId: string | null;
  url: string;
  events: WebhookEventType[];
  description: string | null;
  createdAt: Date;
  disabledAt: Date | null;
  disabledReason: string | null;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookAttempt {
  attemptedAt: Date;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export interface WebhookDelivery {
  /** The webhook-id the receiver sees, the same on every attempt. */
  id: string;
  webhookId: string;
  eventType: WebhookEventType;
  /** The exact JSON body sent. */
  body: string;
  status: DeliveryStatus;
  attempts: number;
  createdAt: Date;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
}
