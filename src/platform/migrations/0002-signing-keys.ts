import { sql, type Kysely } from 'kysely';

/**
 * Access-token signing keys: the private half only encrypted with the keyring (bound to the
 * row), and a MAC over what verification trusts. (Released inside `0003-api-tokens`.)
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
}
