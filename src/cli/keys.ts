import type { Config } from '../config/config.js';
import type { Database } from '../platform/database.js';
import { CLOCK_TOLERANCE_SECONDS } from '../security/access-tokens.js';
import { rebuildBlindIndex, reencryptColumn, type ColumnOutcome } from '../security/key-maintenance.js';
import { createKeyring, type Keyring } from '../security/keyring.js';
import { createSigningKeySet, type SigningKeySet } from '../security/signing-keys.js';
import { migrateCliDatabase, openCliDatabase, openCliStore } from './database.js';
import { progressReporter } from './progress.js';

/** The keyring of the configuration, for commands (no security events: failures are reported by the command). */
export function cliKeyring(config: Config): Keyring {
  return createKeyring({ secretKey: config.secrets.secretKey, secretKeyFallbacks: config.secrets.secretKeyFallbacks, encryptionKeys: config.secrets.encryptionKeys });
}

async function withDatabase<T>(config: Config, use: (database: Database) => Promise<T>): Promise<T> {
  const database = await openCliDatabase(config);
  try {
    await migrateCliDatabase(database);
    return await use(database);
  } finally {
    await database.close();
  }
}

function signingKeys(config: Config, database: Database, keyring: Keyring, store?: Parameters<typeof createSigningKeySet>[0]['store']): SigningKeySet {
  return createSigningKeySet({ db: database.db, keyring, tokenLifetimeSeconds: config.tokens.accessTtlSeconds, clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS, store });
}

/** Prints what went wrong in a column; true when anything did. */
function reportProblems(outcome: ColumnOutcome, out: (text: string) => void): boolean {
  const shown = (ids: readonly string[]) => `${ids.slice(0, 10).join(', ')}${ids.length > 10 ? `, … (${ids.length - 10} more)` : ''}`;
  if (outcome.failed.length > 0) out(`  ${outcome.column}: ${outcome.failed.length} row(s) did not decrypt with the configured keys (tampered, or under a key no longer configured): ${shown(outcome.failed)}`);
  if (outcome.conflicts.length > 0) out(`  ${outcome.column}: ${outcome.conflicts.length} row(s) share their address with another row (registered twice during the rotation): ${shown(outcome.conflicts)}`);
  return outcome.failed.length > 0 || outcome.conflicts.length > 0;
}

/**
 * `rampart keys rotate-encryption`: re-encrypts every declared encrypted column under the
 * active key (the first of RAMPART_ENCRYPTION_KEYS), in resumable batches. Exit 0 when nothing
 * is left under another key; 1 when some rows did not decrypt (named).
 */
export async function rotateEncryptionCommand(config: Config, out: (text: string) => void): Promise<number> {
  const keyring = cliKeyring(config);
  const { rampartEncryptedColumns } = await import('../app.js');
  return withDatabase(config, async (database) => {
    const progress = progressReporter();
    let problems = false;
    out(`Re-encrypting under the active key "${keyring.activeKeyId}".`);
    for (const column of rampartEncryptedColumns()) {
      const outcome = await reencryptColumn(database.db, keyring, column, { onProgress: (line) => { progress.update(line); } });
      progress.end();
      out(`  ${outcome.column}: ${outcome.changed} row(s) re-encrypted.`);
      problems = reportProblems(outcome, out) || problems;
    }
    if (problems) {
      out('Some rows were not re-encrypted: keep their keys configured until they are repaired or removed.');
      return 1;
    }
    const others = keyring.keyIds.filter((id) => id !== keyring.activeKeyId);
    out(others.length === 0
      ? 'Every encrypted value is under the active key.'
      : `Every encrypted value is under the active key: ${others.map((id) => `"${id}"`).join(', ')} may now be removed from RAMPART_ENCRYPTION_KEYS.`);
    return 0;
  });
}

/**
 * `rampart keys rebuild-index`: after a root-secret rotation, rewrites every blind index and
 * reseals the signing keys' MACs under the current RAMPART_SECRET_KEY. Exit 0 when everything
 * derived from a fallback secret is gone; then the fallback may be removed.
 */
export async function rebuildIndexCommand(config: Config, out: (text: string) => void): Promise<number> {
  const keyring = cliKeyring(config);
  const { rampartEncryptedColumns } = await import('../app.js');
  return withDatabase(config, async (database) => {
    const progress = progressReporter();
    let problems = false;
    for (const column of rampartEncryptedColumns().filter((c) => c.blindIndex !== undefined)) {
      const outcome = await rebuildBlindIndex(database.db, keyring, column, { onProgress: (line) => { progress.update(line); } });
      progress.end();
      out(`  ${outcome.column}: ${outcome.changed} index value(s) rebuilt.`);
      problems = reportProblems(outcome, out) || problems;
    }
    const resealed = await signingKeys(config, database, keyring).resealMacs();
    out(`  signing_keys.integrity_mac: ${resealed} MAC(s) resealed.`);
    if (problems) return 1;
    out(config.secrets.secretKeyFallbacks.length === 0
      ? 'Every index is under RAMPART_SECRET_KEY.'
      : 'Every index is under RAMPART_SECRET_KEY. Remove RAMPART_SECRET_KEY_FALLBACKS once the tokens, cursors and forms made before the switch no longer matter (see the README).');
    return 0;
  });
}

/**
 * `rampart keys retire-signing <kid> --now`: retires a signing key at once (a compromise): every
 * token it signed is refused on every instance from their next bearer request, through the
 * version marker in the shared store; a new key takes its place when it was the active one.
 */
export async function retireSigningKeyCommand(config: Config, kid: string, out: (text: string) => void): Promise<number> {
  const keyring = cliKeyring(config);
  return withDatabase(config, async (database) => {
    const store = await openCliStore(config);
    try {
      const retired = await signingKeys(config, database, keyring, store).retire(kid);
      if (retired === null) {
        process.stderr.write(`No signing key ${kid} verifies tokens now: nothing to retire (\`/.well-known/jwks.json\` lists the keys that do).\n`);
        return 1;
      }
      out(`Signing key ${retired.kid} is retired: every token it signed is refused from now on, on every instance.`);
      if (retired.replacedBy !== null) out(`It was the active key: ${retired.replacedBy} signs from now on.`);
      return 0;
    } finally {
      await store.close();
    }
  });
}
