import type { Config } from '../config/config.js';
import { openDatabase, type Database } from '../platform/database.js';

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
