import { sql, type Kysely } from 'kysely';

/**
 * Second factors. The TOTP secret is stored only encrypted (AES-256-GCM bound to its row and
 * column); `last_step` is the last time step a code was accepted for, so a code is accepted once.
 * Recovery codes are stored only as keyed hashes (HMAC-SHA-256) and deleted when used.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('mfa_totp')
    .addColumn('user_id', 'uuid', (col) => col.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('secret_ciphertext', 'text', (col) => col.notNull())
    .addColumn('enabled_at', 'timestamptz')
    .addColumn('last_step', 'bigint')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('mfa_totp_secret_length', sql`char_length(secret_ciphertext) <= 512`)
    .execute();

  await db.schema
    .createTable('mfa_recovery_codes')
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('mfa_recovery_codes_pk', ['user_id', 'code_hash'])
    .addCheckConstraint('mfa_recovery_codes_hash_length', sql`char_length(code_hash) = 64`)
    .execute();
}
