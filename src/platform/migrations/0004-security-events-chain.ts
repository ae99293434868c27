import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * The security event log becomes a hash chain: each new row carries the MAC of the row before
 * it (`chain_prev`) and its own MAC (`chain_mac`, HMAC-SHA256 under a key derived from the root
 * secret) over its fields except `client_ip`. `security_events_chain` records, once, the first
 * id the chain covers: rows before it were written before this migration and stay unchained;
 * every row from it on must be chained. The application role may only read that table (see
 * database-privileges.ts), so it cannot move the boundary to hide an edit.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('security_events').addColumn('chain_prev', 'text').execute();
  await db.schema.alterTable('security_events').addColumn('chain_mac', 'text').execute();
  await db.schema
    .createTable('security_events_chain')
    .addColumn('genesis_id', 'bigint', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`insert into security_events_chain (genesis_id) select coalesce(max(id), 0) + 1 from security_events`.execute(db);
}
