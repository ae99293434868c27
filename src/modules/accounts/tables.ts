import type { ColumnType } from 'kysely';

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

/** Email-change links: `confirm` (to the new address, carrying it) and `undo` (to the old one, carrying that), only as SHA-256. */
export interface EmailChangeTokensTable {
  id: string;
  token_hash: string;
  user_id: string;
  purpose: 'confirm' | 'undo';
  email_ciphertext: string;
  email_index: string;
  expires_at: Date;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** Devices a user has signed in from: a keyed hash of the device cookie, or of the user agent and network for a client without cookies. */
export interface KnownDevicesTable {
  user_id: string;
  device_hash: string;
  kind: 'cookie' | 'client';
  first_seen_at: ColumnType<Date, Date | undefined, never>;
  last_seen_at: ColumnType<Date, Date | undefined, Date>;
}

/** The accounts module's tables. */
export interface AccountsTables {
  users: UsersTable;
  account_tokens: AccountTokensTable;
  email_change_tokens: EmailChangeTokensTable;
  known_devices: KnownDevicesTable;
}
