import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * API tokens. Signing keys keep their private half only encrypted with the keyring (bound to
 * the row) and carry a MAC over what verification trusts; refresh tokens and personal access tokens are stored only as SHA-256.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (col) => col.primaryKey())
    .addColumn('algorithm', 'text', (col) => col.notNull())
    .addColumn('public_jwk', 'text', (col) => col.notNull())
    // Null once the key stops signing: a retired private key has no reason to exist.
    .addColumn('private_key_ciphertext', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('superseded_at', 'timestamptz')
    .addColumn('verify_until', 'timestamptz')
    // HMAC over kid, public key and verify_until: a row planted or edited through SQL is ignored.
    .addColumn('integrity_mac', 'text', (col) => col.notNull())
    .addCheckConstraint('signing_keys_mac_length', sql`char_length(integrity_mac) = 43`)
    .addCheckConstraint('signing_keys_kid_format', sql`kid ~ '^[A-Za-z0-9_-]{43}$'`)
    .addCheckConstraint('signing_keys_algorithm', sql`algorithm = 'EdDSA'`)
    .addCheckConstraint('signing_keys_public_jwk_length', sql`char_length(public_jwk) <= 1024`)
    .addCheckConstraint('signing_keys_private_length', sql`char_length(private_key_ciphertext) <= 1024`)
    .addCheckConstraint('signing_keys_superseded', sql`(superseded_at is null) = (verify_until is null)`)
    .execute();
  // At most one active (signing) key, so instances racing to create the first key cannot both win.
  await sql`create unique index signing_keys_one_active on signing_keys ((true)) where superseded_at is null`.execute(db);

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
