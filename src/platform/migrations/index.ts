import type { Migration, MigrationProvider } from 'kysely';
import * as foundation from './0001-foundation.js';
import * as accounts from './0002-accounts.js';
import * as apiTokens from './0003-api-tokens.js';
import * as publishing from './0004-publishing.js';

/**
 * Every migration, by name. Imported statically so that the same list works from the
 * TypeScript sources (tsx) and from the build in `dist/`, with no filesystem globbing that
 * could pick up a stray file.
 *
 * Adding a migration: create `NNNN-short-name.ts` with the next number (0002, 0003, …),
 * export `up(db: Kysely<unknown>)`, and add it here. Names sort as strings and Kysely
 * refuses to run a migration that sorts before one already applied, so never renumber or
 * edit a released migration; write a new one.
 */
const migrations: Readonly<Record<string, Migration>> = Object.freeze({
  '0001-foundation': foundation,
  '0002-accounts': accounts,
  '0003-api-tokens': apiTokens,
  '0004-publishing': publishing,
});

/** Kysely's `MigrationProvider` over the static list above. */
export const migrationProvider: MigrationProvider = Object.freeze({
  getMigrations: () => Promise.resolve(migrations),
});
