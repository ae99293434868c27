/**
 * The run's one migrated PGlite, in the two forms tests start from. scripts/test.mjs migrates
 * it once per run (scripts/pglite-template.ts) and names both in the environment; a file run
 * some other way makes its own, once per process.
 *
 * - {@link migratedTemplate}: PGlite's dump, copied into every embedded app's in-memory database.
 * - {@link seedMigratedDataDirectory}: a migrated on-disk data directory, for a child process
 *   (the CLI, a server) whose test is about something other than a first start: creating and
 *   migrating PGlite in every such child was most of those tests' CPU time. Tests of a first
 *   start (`rampart migrate`, a fresh clone's server) keep an empty data directory.
 */
import { rmSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PgliteTemplate } from '../../src/platform/database.js';

let template: Promise<PgliteTemplate> | undefined;
let directory: Promise<string> | undefined;

async function loadTemplate(): Promise<PgliteTemplate> {
  const file = process.env.RAMPART_TEST_PGLITE_TEMPLATE;
  if (file === undefined || file === '') {
    const [{ createPgliteTemplate }, { rampartMigrations }] = await Promise.all([import('../../src/platform/database.js'), import('../../src/app.js')]);
    return createPgliteTemplate({ migrations: rampartMigrations() });
  }
  return { dataDir: new Blob([await readFile(file)]) };
}

/** The migrated database as PGlite's dump (see BuildOptions.pgliteTemplate). */
export function migratedTemplate(): Promise<PgliteTemplate> {
  template ??= loadTemplate();
  return template;
}

/** Writes the dump out as an on-disk PGlite data directory at `dir`, as `rampart migrate` leaves it. */
export async function writeMigratedDataDirectory(dir: string, dump: PgliteTemplate): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pglite = await PGlite.create({ dataDir: dir, loadDataDir: dump.dataDir });
  await pglite.close();
}

async function makeDirectory(): Promise<string> {
  const given = process.env.RAMPART_TEST_PGLITE_DATA_DIR;
  if (given !== undefined && given !== '') return given;
  const parent = await mkdtemp(join(tmpdir(), 'rampart-migrated-'));
  process.once('exit', () => {
    rmSync(parent, { recursive: true, force: true });
  });
  const dir = join(parent, 'pglite');
  await writeMigratedDataDirectory(dir, await migratedTemplate());
  return dir;
}

/**
 * Gives `dataDir` (a RAMPART_DATA_DIR) a migrated embedded database, `<dataDir>/pglite`, as a
 * copy of the run's: what an earlier `rampart migrate` or server start would have left there.
 * Secrets are not copied: the child generates its own, as on any first use of the directory.
 */
export async function seedMigratedDataDirectory(dataDir: string): Promise<void> {
  directory ??= makeDirectory();
  const source = await directory;
  // As the app makes it: the directory holds the database and the generated secrets.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await cp(source, join(dataDir, 'pglite'), { recursive: true, errorOnExist: true, force: false });
}
