/**
 * Writes a migrated PGlite, once per run, before any test file starts, so tests start from
 * copies instead of migrating again: its dump (PGlite's uncompressed data directory) to the
 * file named by the first argument, for the embedded apps' in-memory databases, and, with a
 * second argument, the same database as an on-disk data directory there, for the CLI and
 * server children (test/helpers/pglite-template.ts reads both through
 * RAMPART_TEST_PGLITE_TEMPLATE and RAMPART_TEST_PGLITE_DATA_DIR).
 */
import { writeFile } from 'node:fs/promises';
import { rampartMigrations } from '../src/app.js';
import { createPgliteTemplate } from '../src/platform/database.js';
import { writeMigratedDataDirectory } from '../test/helpers/pglite-template.js';

const [out, dataDir] = process.argv.slice(2);
if (out === undefined) throw new Error('usage: pglite-template.ts <output file> [<output data directory>]');
const template = await createPgliteTemplate({ migrations: rampartMigrations() });
await writeFile(out, new Uint8Array(await template.dataDir.arrayBuffer()), { mode: 0o600 });
if (dataDir !== undefined) await writeMigratedDataDirectory(dataDir, template);
