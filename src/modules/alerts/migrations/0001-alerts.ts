import { sql, type Kysely } from 'kysely';

/** Fired alerts and the dead letters of their webhook deliveries. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('alerts')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('rule', 'text', (col) => col.notNull())
    .addColumn('alert_key', 'text', (col) => col.notNull())
    .addColumn('severity', 'text', (col) => col.notNull())
    .addColumn('summary', 'text', (col) => col.notNull())
    .addColumn('details', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('count', 'integer', (col) => col.notNull())
    .addColumn('fired_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('delivery_state', 'text', (col) => col.notNull())
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('mail_state', 'text', (col) => col.notNull())
    // While a webhook delivery is pending or retrying: when any instance may take its next
    // attempt (the instance holding it renews this; a stopped instance's alerts fall due).
    .addColumn('next_attempt_at', 'timestamptz')
    .addCheckConstraint('alerts_rule_length', sql`char_length(rule) between 1 and 64`)
    .addCheckConstraint('alerts_key_length', sql`char_length(alert_key) between 1 and 512`)
    .addCheckConstraint('alerts_summary_length', sql`char_length(summary) between 1 and 500`)
    .addCheckConstraint('alerts_severity', sql`severity in ('info', 'warn', 'error', 'critical')`)
    .addCheckConstraint('alerts_count', sql`count >= 1`)
    .addCheckConstraint('alerts_delivery_state', sql`delivery_state in ('pending', 'retrying', 'delivered', 'dead', 'disabled')`)
    .addCheckConstraint('alerts_mail_state', sql`mail_state in ('pending', 'sent', 'failed', 'none')`)
    .addCheckConstraint('alerts_last_error_length', sql`char_length(last_error) <= 500`)
    .execute();
  await db.schema.createIndex('alerts_fired_at').on('alerts').column('fired_at').execute();
  await db.schema.createIndex('alerts_due').on('alerts').column('next_attempt_at')
    .where(sql.ref('delivery_state'), 'in', sql`('pending', 'retrying')`).execute();
  await db.schema
    .createTable('alert_dead_letters')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('alert_id', 'uuid', (col) => col.notNull().references('alerts.id').onDelete('cascade'))
    .addColumn('attempts', 'integer', (col) => col.notNull())
    .addColumn('last_error', 'text', (col) => col.notNull())
    .addColumn('payload', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('alert_dead_letters_error_length', sql`char_length(last_error) <= 500`)
    .addCheckConstraint('alert_dead_letters_payload_length', sql`char_length(payload) <= 16384`)
    .execute();
}
