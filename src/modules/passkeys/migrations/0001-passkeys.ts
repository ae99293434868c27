import { sql, type Kysely } from 'kysely';

/**
 * Passkeys: WebAuthn credentials, several per user. The credential id is unique across all users
 * (an authenticator's id names one key pair); the bounds repeat the API's and the spec's
 * (a credential id is at most 1023 bytes, 1364 base64url characters; the counter is 32 bits).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('passkeys')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('credential_id', 'text', (col) => col.notNull().unique())
    .addColumn('public_key', 'bytea', (col) => col.notNull())
    .addColumn('counter', 'bigint', (col) => col.notNull().defaultTo(0))
    .addColumn('transports', 'text', (col) => col.notNull().defaultTo(''))
    .addColumn('device_type', 'text', (col) => col.notNull())
    .addColumn('backed_up', 'boolean', (col) => col.notNull())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz')
    .addCheckConstraint('passkeys_credential_id_format', sql`credential_id ~ '^[A-Za-z0-9_-]+$' and char_length(credential_id) between 16 and 1364`)
    .addCheckConstraint('passkeys_public_key_length', sql`octet_length(public_key) between 1 and 2048`)
    .addCheckConstraint('passkeys_counter_range', sql`counter between 0 and 4294967295`)
    .addCheckConstraint('passkeys_transports_length', sql`char_length(transports) <= 200`)
    .addCheckConstraint('passkeys_device_type', sql`device_type in ('singleDevice', 'multiDevice')`)
    .addCheckConstraint('passkeys_name_length', sql`char_length(name) between 1 and 100`)
    .execute();
  await db.schema.createIndex('passkeys_user_idx').on('passkeys').columns(['user_id', 'created_at']).execute();
}
