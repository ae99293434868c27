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
}

/** Accounts: the email only encrypted and blind-indexed, the password only hashed. */
export interface UsersTable {
  id: string;
  name: string;
  email_ciphertext: string;
  email_index: string;
  password_hash: string;
  role: ColumnType<string, string | undefined, string>;
  email_verified_at: Date | null;
  disabled_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

/** One-time verification and reset tokens, stored only as SHA-256; a used token is deleted. */
export interface AccountTokensTable {
  token_hash: string;
  user_id: string;
  purpose: 'verify_email' | 'reset_password';
  expires_at: Date;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** Every table the application reads or writes, as Kysely sees it. */
export interface DatabaseSchema {
  security_events: SecurityEventsTable;
  users: UsersTable;
  account_tokens: AccountTokensTable;
}
