import type { ColumnType } from 'kysely';

/**
 * A user's WebAuthn credential (passkey). The public key is not a secret; the private key never
 * leaves the authenticator. `counter` is the authenticator's signature counter (0 for
 * authenticators that keep none, as synced passkeys do); `transports` is a comma-separated list
 * of the hints the browser gave at registration.
 */
export interface PasskeysTable {
  id: string;
  user_id: string;
  credential_id: string;
  public_key: Uint8Array;
  counter: ColumnType<string, number, number>;
  transports: string;
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean;
  name: string;
  created_at: ColumnType<Date, Date | undefined, never>;
  last_used_at: ColumnType<Date | null, Date | null | undefined, Date>;
}

/** The passkeys module's table. */
export interface PasskeysTables {
  passkeys: PasskeysTable;
}
