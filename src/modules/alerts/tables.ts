import type { ColumnType, Generated } from 'kysely';

/** Where an alert's webhook delivery stands. */
export type DeliveryState = 'pending' | 'retrying' | 'delivered' | 'dead' | 'disabled';

/**
 * One fired alert: a rule crossed its threshold for one key (an account, an IP, a user). Within
 * the deduplication window later matching events add to `count` instead of firing again.
 */
export interface AlertsTable {
  id: string;
  rule: string;
  /** What the rule counted by: an IP, an account's email index, a user id, a finding id. */
  alert_key: string;
  severity: string;
  summary: string;
  /** `jsonb`; written as a JSON string. */
  details: ColumnType<Record<string, unknown>, string, string>;
  count: number;
  fired_at: ColumnType<Date, Date | undefined, never>;
  delivery_state: DeliveryState;
  attempts: Generated<number>;
  last_error: string | null;
  delivered_at: Date | null;
  /** `sent`, `failed`, or `none` (no mailto: security contact configured). */
  mail_state: string;
  /** Pending or retrying: from when another instance may take the next attempt; otherwise null. */
  next_attempt_at: Date | null;
}

/** An alert whose webhook gave up after every attempt, with the payload to replay by hand. */
export interface AlertDeadLettersTable {
  id: Generated<string>;
  alert_id: string;
  attempts: number;
  last_error: string;
  payload: string;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** The alerts module's tables. */
export interface AlertsTables {
  alerts: AlertsTable;
  alert_dead_letters: AlertDeadLettersTable;
}
