import type { Config } from '../config/config.js';
import { openDatabase, type Database } from '../platform/database.js';
import type { StateStore } from '../platform/store.js';

/**
 * The configured database for a CLI command, with its warnings and errors on stderr. Loaded
 * lazily by the commands that need it: the database drivers take most of the CLI's start-up time.
 */
export function openCliDatabase(config: Config): Promise<Database> {
  const logger = {
    info: () => undefined,
    warn: (_: object, msg: string) => { process.stderr.write(`warning: ${msg}\n`); },
    error: (_: object, msg: string) => { process.stderr.write(`error: ${msg}\n`); },
  };
  return openDatabase({
    url: config.database.url ?? undefined,
    migrationUrl: config.database.migrationUrl ?? undefined,
    dataDir: config.database.url === null ? `${config.dataDir}/pglite` : undefined,
    logger,
  });
}

/** Applies the kernel's and every module's pending migrations (the list app.ts composes). */
export async function migrateCliDatabase(database: Database): Promise<{ applied: string[] }> {
  const { rampartMigrations } = await import('../app.js');
  return database.migrate(rampartMigrations());
}

/** The configured shared store (Redis, or a memory store when none is configured: then only this process would see a marker). */
export async function openCliStore(config: Config): Promise<StateStore> {
  if (config.store.redisUrl === null) {
    const { createMemoryStore } = await import('../platform/memory-store.js');
    return createMemoryStore();
  }
  const { createRedisStore } = await import('../platform/redis-store.js');
  return createRedisStore({ url: config.store.redisUrl, keyPrefix: config.store.keyPrefix });
}
