import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Accounts. The email is stored only encrypted (AES-256-GCM bound to its row) and found
 * through its blind index; the password only as a PHC hash; one-time tokens only as SHA-256.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('email_ciphertext', 'text', (col) => col.notNull())
    .addColumn('email_index', 'text', (col) => col.notNull().unique())
    .addColumn('password_hash', 'text', (col) => col.notNull())
    .addColumn('role', 'text', (col) => col.notNull().defaultTo('author'))
    .addColumn('email_verified_at', 'timestamptz')
    .addColumn('disabled_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('users_name_length', sql`char_length(name) between 1 and 100`)
    .addCheckConstraint('users_role', sql`role in ('author', 'moderator', 'admin')`)
    .addCheckConstraint('users_email_ciphertext_length', sql`char_length(email_ciphertext) <= 1024`)
    .addCheckConstraint('users_password_hash_length', sql`char_length(password_hash) <= 512`)
    .execute();
  await db.schema.createIndex('users_role_idx').on('users').column('role').execute();

  await db.schema
    .createTable('account_tokens')
    .addColumn('token_hash', 'text', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'text', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('account_tokens_purpose', sql`purpose in ('verify_email', 'reset_password')`)
    .addCheckConstraint('account_tokens_hash_length', sql`char_length(token_hash) = 64`)
    .execute();
  await db.schema.createIndex('account_tokens_user_purpose_idx').on('account_tokens').columns(['user_id', 'purpose']).execute();
}
