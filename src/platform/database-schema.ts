import type { ColumnType, Generated } from 'kysely';

/**
 * The append-only security event log (OWASP logging vocabulary). The application role may
 * INSERT and SELECT rows, never UPDATE, DELETE or TRUNCATE them (see database-privileges.ts).
 */
export interface SecurityEventsTable {
  /** `bigint` identity; both drivers return it as a string so it never loses precision. */
  id: Generated<string>;
  /** Defaults to `now()` in the database; never updated. */
  occurred_at: ColumnType<Date, Date | undefined, never>;
  /** An event name from the security event vocabulary (1–128 characters). */
  event: string;
  /** One of `info`, `warn`, `error`, `critical` (a CHECK constraint enforces it). */
  severity: string;
  actor: string | null;
  client_ip: string | null;
  request_id: string | null;
  /** `jsonb` object; written as a JSON string (`JSON.stringify`), read back parsed. */
  details: ColumnType<Record<string, unknown>, string, never>;
  /** The previous row's `chain_mac` (or the genesis value); null only before the chain's genesis id. */
  chain_prev: ColumnType<string | null, string | undefined, never>;
  /** HMAC-SHA256 over the row's fields except `client_ip`, and `chain_prev` (see security-event-chain.ts). */
  chain_mac: ColumnType<string | null, string | undefined, never>;
}

/** One row, written by the migration that started the chain: rows from `genesis_id` on are chained. Read-only to the application role. */
export interface SecurityEventsChainTable {
  genesis_id: ColumnType<string, never, never>;
  created_at: ColumnType<Date, never, never>;
}

/** Access-token signing keys: the public JWK in clear, the private key only as keyring ciphertext bound to its row. */
export interface SigningKeysTable {
  kid: string;
  algorithm: 'EdDSA';
  public_jwk: string;
  private_key_ciphertext: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  /** When the key stopped signing; null for the one active key. */
  superseded_at: Date | null;
  /** The key verifies until then (every token it signed has expired), then it is retired. */
  verify_until: Date | null;
  /** HMAC-SHA256 (keyring-derived key) over kid, public_jwk and verify_until. */
  integrity_mac: string;
}

/**
 * Per-user "access tokens issued before this instant are refused", the durable copy of a
 * "revoke all": Redis may lose its data, this table does not.
 */
export interface AccessTokenCutoffsTable {
  user_id: string;
  not_before: Date;
}

/** Access tokens revoked one by one, by jti, until they would have expired anyway. */
export interface RevokedAccessTokensTable {
  jti: string;
  user_id: string;
  expires_at: Date;
}

/**
 * The tables the kernel owns and writes, as Kysely sees them. Modules declare their own
 * (`modules/<name>/tables.ts`) and reach them with `database.db.withTables<…>()`; nothing here
 * names an application table.
 */
export interface KernelSchema {
  security_events: SecurityEventsTable;
  security_events_chain: SecurityEventsChainTable;
  signing_keys: SigningKeysTable;
  access_token_cutoffs: AccessTokenCutoffsTable;
  revoked_access_tokens: RevokedAccessTokensTable;
}
