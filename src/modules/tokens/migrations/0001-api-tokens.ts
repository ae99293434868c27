import { sql, type Kysely } from 'kysely';

/**
 * API tokens: refresh tokens and personal access tokens, stored only as SHA-256. (Released as
 * `0003-api-tokens`, which also created the kernel's signing_keys table.)
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('refresh_tokens')
    .addColumn('token_hash', 'text', (col) => col.primaryKey())
    .addColumn('family_id', 'uuid', (col) => col.notNull())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('scope', 'text', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('used_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('refresh_tokens_hash_length', sql`char_length(token_hash) = 64`)
    .addCheckConstraint('refresh_tokens_scope_length', sql`char_length(scope) <= 512`)
    .execute();
  await db.schema.createIndex('refresh_tokens_user_idx').on('refresh_tokens').column('user_id').execute();
  await db.schema.createIndex('refresh_tokens_family_idx').on('refresh_tokens').column('family_id').execute();

  await db.schema
    .createTable('personal_access_tokens')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('token_hash', 'text', (col) => col.notNull().unique())
    .addColumn('scope', 'text', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('personal_access_tokens_name_length', sql`char_length(name) between 1 and 100`)
    .addCheckConstraint('personal_access_tokens_hash_length', sql`char_length(token_hash) = 64`)
    .addCheckConstraint('personal_access_tokens_scope_length', sql`char_length(scope) <= 512`)
    .execute();
  await db.schema.createIndex('personal_access_tokens_user_idx').on('personal_access_tokens').column('user_id').execute();
}
