import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Access-token revocations in PostgreSQL as well as in the shared store: after Redis loses its
 * data (a restart without persistence), a missing marker sends every instance here, so a
 * revoked token never becomes valid again. Kernel tables: no reference to the users table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('access_token_cutoffs')
    .addColumn('user_id', 'uuid', (col) => col.primaryKey())
    .addColumn('not_before', 'timestamptz', (col) => col.notNull())
    .execute();

  await db.schema
    .createTable('revoked_access_tokens')
    .addColumn('jti', 'text', (col) => col.primaryKey())
    .addColumn('user_id', 'uuid', (col) => col.notNull())
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addCheckConstraint('revoked_access_tokens_jti_format', sql`jti ~ '^[A-Za-z0-9_-]{22}$'`)
    .execute();
  await db.schema.createIndex('revoked_access_tokens_user_idx').on('revoked_access_tokens').columns(['user_id', 'expires_at']).execute();
}
