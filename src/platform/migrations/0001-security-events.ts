import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * The security event log. (Released as `0001-foundation`.) A migration is frozen once released: it describes the schema as
 * it was at that point, so it takes `Kysely<unknown>` rather than today's `KernelSchema`
 * and never imports application constants that may change later.
 *
 * There is no `down`: Rampart migrates forward only, and no tool should be able to drop the
 * audit trail.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('security_events')
    .addColumn('id', 'bigint', (col) => col.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('occurred_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('event', 'text', (col) => col.notNull())
    .addColumn('severity', 'text', (col) => col.notNull())
    .addColumn('actor', 'text')
    .addColumn('client_ip', 'text')
    .addColumn('request_id', 'text')
    .addColumn('details', 'jsonb', (col) => col.notNull().defaultTo(sql`'{}'::jsonb`))
    // Bounds keep a flood of events from storing arbitrarily large rows; the application
    // validates first, these are the last line.
    .addCheckConstraint('security_events_event_length', sql`char_length(event) between 1 and 128`)
    .addCheckConstraint('security_events_severity', sql`severity in ('info', 'warn', 'error', 'critical')`)
    .addCheckConstraint('security_events_actor_length', sql`char_length(actor) <= 256`)
    .addCheckConstraint('security_events_client_ip_length', sql`char_length(client_ip) <= 64`)
    .addCheckConstraint('security_events_request_id_length', sql`char_length(request_id) <= 128`)
    .addCheckConstraint('security_events_details_object', sql`jsonb_typeof(details) = 'object'`)
    .execute();

  // Reads are "recent events", "recent events of a kind" and "recent events of an actor".
  await db.schema.createIndex('security_events_occurred_at_idx').on('security_events').column('occurred_at').execute();
  await db.schema
    .createIndex('security_events_event_occurred_at_idx')
    .on('security_events')
    .columns(['event', 'occurred_at'])
    .execute();
  await db.schema
    .createIndex('security_events_actor_occurred_at_idx')
    .on('security_events')
    .columns(['actor', 'occurred_at'])
    .execute();
}
