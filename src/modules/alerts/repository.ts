import { sql, type Kysely } from 'kysely';
import type { AlertsTables, DeliveryState } from './tables.js';

/** What every form of a fired alert carries: the table row, the dashboard's view, the webhook payload. */
export interface AlertFields {
  /** Unique per alert: a receiver that remembers ids drops a repeated delivery. */
  readonly id: string;
  readonly rule: string;
  readonly key: string;
  readonly severity: string;
  readonly summary: string;
  readonly count: number;
}

/** An alert as the dashboard shows it. */
export interface AlertRecord extends AlertFields {
  readonly firedAt: Date;
  readonly deliveryState: DeliveryState;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly mailState: string;
}

export interface NewAlert extends AlertFields {
  readonly details: Readonly<Record<string, unknown>>;
  readonly deliveryState: DeliveryState;
  readonly mailState: string;
  /** With a delivery pending: from when another instance may take it (`alerts.next_attempt_at`). */
  readonly nextAttemptAt: Date | null;
}

/** A fired alert taken for a webhook attempt, with what rebuilds its payload. */
export interface DueAlert extends AlertFields {
  readonly details: Readonly<Record<string, unknown>>;
  readonly firedAt: Date;
  /** The attempt this instance now holds (1 for the first). */
  readonly attempt: number;
}

export type AlertsRepository = ReturnType<typeof createAlertsRepository>;

/** The alerts table and its dead letters. */
export function createAlertsRepository(db: Kysely<AlertsTables>) {
  return {
    async insert(alert: NewAlert): Promise<Date> {
      const row = await db.insertInto('alerts').values({
        id: alert.id,
        rule: alert.rule,
        alert_key: alert.key.slice(0, 512),
        severity: alert.severity,
        summary: alert.summary.slice(0, 500),
        details: JSON.stringify(alert.details),
        count: alert.count,
        delivery_state: alert.deliveryState,
        mail_state: alert.mailState,
        next_attempt_at: alert.nextAttemptAt,
      }).returning('fired_at').executeTakeFirstOrThrow();
      return row.fired_at;
    },

    /**
     * Adds events counted after the alert fired (one statement per alert, batched by the caller).
     * Returns the additions whose alert row does not exist (yet): another instance may have
     * claimed the alert in the store a moment before inserting its row.
     */
    async addCounts(counts: ReadonlyMap<string, number>): Promise<Map<string, number>> {
      const missing = new Map<string, number>();
      for (const [id, by] of counts) {
        const result = await db.updateTable('alerts').set({ count: sql<number>`count + ${by}` }).where('id', '=', id).executeTakeFirst();
        if (result.numUpdatedRows === 0n) missing.set(id, by);
      }
      return missing;
    },

    /**
     * Takes the attempt after `made` for this instance until `holdUntil`: false when another
     * instance took it first (or the delivery has ended). The attempt count is the claim.
     */
    async claimAttempt(id: string, made: number, holdUntil: Date): Promise<boolean> {
      const result = await db.updateTable('alerts').set({ attempts: made + 1, next_attempt_at: holdUntil })
        .where('id', '=', id).where('attempts', '=', made).where('delivery_state', 'in', ['pending', 'retrying']).executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },

    /**
     * Takes the deliveries that fell due (their instance stopped, or lost its database while
     * holding them), oldest first, each for its next attempt until `holdUntil`. Concurrent
     * instances take disjoint rows.
     */
    async claimDue(now: Date, holdUntil: Date, limit: number): Promise<DueAlert[]> {
      const rows = await db.updateTable('alerts').set({ attempts: sql<number>`attempts + 1`, next_attempt_at: holdUntil })
        .where('id', 'in', (eb) => eb.selectFrom('alerts').select('id')
          .where('delivery_state', 'in', ['pending', 'retrying']).where('next_attempt_at', '<=', now)
          .orderBy('next_attempt_at').limit(limit).forUpdate().skipLocked())
        .returning(['id', 'rule', 'alert_key', 'severity', 'summary', 'details', 'count', 'fired_at', 'attempts'])
        .execute();
      return rows.map((r) => ({
        id: r.id, rule: r.rule, key: r.alert_key, severity: r.severity, summary: r.summary, details: r.details, count: r.count, firedAt: r.fired_at, attempt: r.attempts,
      }));
    },

    /**
     * Attempt `attempts`'s outcome: `nextAttemptAt` when it will be retried, null when the
     * delivery has ended. False when the row has moved on (another instance took a later
     * attempt): a stale outcome never overwrites a newer one.
     */
    async markDelivery(id: string, change: { state: DeliveryState; attempts: number; lastError: string | null; delivered: boolean; nextAttemptAt: Date | null }): Promise<boolean> {
      const result = await db.updateTable('alerts').set({
        delivery_state: change.state,
        last_error: change.lastError === null ? null : change.lastError.slice(0, 500),
        next_attempt_at: change.nextAttemptAt,
        ...(change.delivered ? { delivered_at: sql<Date>`now()` } : {}),
      }).where('id', '=', id).where('attempts', '=', change.attempts).where('delivery_state', 'in', ['pending', 'retrying']).executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },

    async markMail(id: string, state: 'sent' | 'failed'): Promise<void> {
      await db.updateTable('alerts').set({ mail_state: state }).where('id', '=', id).execute();
    },

    /** The webhook gave up: the alert is dead-lettered with its payload, for a person to replay. */
    async deadLetter(id: string, attempts: number, lastError: string, payload: string): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        // Only while this attempt is still the row's latest (see markDelivery).
        const ended = await trx.updateTable('alerts').set({ delivery_state: 'dead', last_error: lastError.slice(0, 500), next_attempt_at: null })
          .where('id', '=', id).where('attempts', '=', attempts).where('delivery_state', 'in', ['pending', 'retrying']).executeTakeFirst();
        if (ended.numUpdatedRows !== 1n) return false;
        await trx.insertInto('alert_dead_letters').values({ alert_id: id, attempts, last_error: lastError.slice(0, 500), payload }).execute();
        return true;
      });
    },

    async recent(limit: number): Promise<AlertRecord[]> {
      const rows = await db.selectFrom('alerts')
        .select(['id', 'rule', 'alert_key', 'severity', 'summary', 'count', 'fired_at', 'delivery_state', 'attempts', 'last_error', 'mail_state'])
        .orderBy('fired_at', 'desc').orderBy('id').limit(limit).execute();
      return rows.map((r) => ({
        id: r.id, rule: r.rule, key: r.alert_key, severity: r.severity, summary: r.summary, count: r.count, firedAt: r.fired_at,
        deliveryState: r.delivery_state, attempts: r.attempts, lastError: r.last_error, mailState: r.mail_state,
      }));
    },
  };
}
