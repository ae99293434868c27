import type { Config } from '../config/config.js';
import { CLOCK_TOLERANCE_SECONDS } from '../security/access-tokens.js';
import { createSigningKeySet } from '../security/signing-keys.js';
import { migrateCliDatabase, openCliDatabase } from './database.js';
import { cliKeyring } from './keys.js';

/**
 * `rampart keys rotate-signing`: adds a new active access-token signing key. The previous key
 * stops signing at once and keeps verifying until every token it can have signed has expired;
 * running instances pick the change up within their key-cache interval (10 s).
 */
export async function rotateSigningKeyCommand(config: Config, out: (text: string) => void): Promise<number> {
  const database = await openCliDatabase(config);
  try {
    await migrateCliDatabase(database);
    const keys = createSigningKeySet({
      db: database.db,
      keyring: cliKeyring(config),
      tokenLifetimeSeconds: config.tokens.accessTtlSeconds,
      clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
    });
    const { kid, previous } = await keys.rotate();
    out(`New signing key ${kid} is active.`);
    out(previous === null
      ? 'There was no previous key.'
      : `The previous key ${previous.kid} no longer signs; it verifies until ${previous.verifyUntil.toISOString()} and is then retired.`);
    return 0;
  } finally {
    await database.close();
  }
}
