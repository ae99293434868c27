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

/** Refresh tokens, stored only as SHA-256; one-time use within a family. */
export interface RefreshTokensTable {
  token_hash: string;
  family_id: string;
  user_id: string;
  scope: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** Personal access tokens, stored only as SHA-256. */
export interface PersonalAccessTokensTable {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  scope: string;
  expires_at: Date;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** Posts: the Markdown source and the HTML sanitized on write (reads never sanitize). */
export interface PostsTable {
  id: string;
  author_id: string;
  title: string;
  body: string;
  html: string;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  status: 'draft' | 'published';
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
  published_at: Date | null;
}

/** Comments: plain text, never HTML; hidden by a moderator rather than deleted. */
export interface CommentsTable {
  id: string;
  post_id: string;
  author_id: string;
  body: string;
  hidden_at: Date | null;
  hidden_by: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** Every table the application reads or writes, as Kysely sees it. */
export interface DatabaseSchema {
  security_events: SecurityEventsTable;
  users: UsersTable;
  account_tokens: AccountTokensTable;
  signing_keys: SigningKeysTable;
  refresh_tokens: RefreshTokensTable;
  personal_access_tokens: PersonalAccessTokensTable;
  posts: PostsTable;
  comments: CommentsTable;
}
