import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * The account lifecycle: pending and undoable email changes, and the devices a user has
 * signed in from. Tokens only as SHA-256; addresses only encrypted (bound to their row) and
 * blind-indexed; a device only as a keyed hash of its cookie or of its user agent and network.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('email_change_tokens')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('token_hash', 'text', (col) => col.notNull().unique())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    // confirm: mailed to the new address, carries it; undo: mailed to the old one, carries that.
    .addColumn('purpose', 'text', (col) => col.notNull())
    .addColumn('email_ciphertext', 'text', (col) => col.notNull())
    .addColumn('email_index', 'text', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('email_change_tokens_purpose', sql`purpose in ('confirm', 'undo')`)
    .addCheckConstraint('email_change_tokens_hash_length', sql`char_length(token_hash) = 64`)
    .addCheckConstraint('email_change_tokens_ciphertext_length', sql`char_length(email_ciphertext) <= 1024`)
    .execute();
  await db.schema.createIndex('email_change_tokens_user_idx').on('email_change_tokens').columns(['user_id', 'purpose']).execute();
  // One pending change per account, held by the database itself (concurrent requests included).
  await db.schema.createIndex('email_change_tokens_one_confirm').on('email_change_tokens').column('user_id').unique()
    .where(sql.ref('purpose'), '=', 'confirm').execute();
  await db.schema.createIndex('email_change_tokens_index_idx').on('email_change_tokens').columns(['email_index', 'purpose']).execute();

  await db.schema
    .createTable('known_devices')
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('device_hash', 'text', (col) => col.notNull())
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('first_seen_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('last_seen_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('known_devices_pk', ['user_id', 'device_hash'])
    .addCheckConstraint('known_devices_kind', sql`kind in ('cookie', 'client')`)
    .addCheckConstraint('known_devices_hash_length', sql`char_length(device_hash) <= 128`)
    .execute();
}
