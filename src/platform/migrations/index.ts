import type { Migration } from 'kysely';
import * as securityEvents from './0001-security-events.js';
import * as signingKeys from './0002-signing-keys.js';
import * as tokenRevocations from './0003-token-revocations.js';
import * as securityEventsChain from './0004-security-events-chain.js';

/**
 * The kernel's own migrations, in order: the tables the kernel writes (security events,
 * signing keys, access-token revocations), none of the application's. Stored as
 * `kernel/<name>`; modules list theirs in their definition (kernel/module.ts). Imported
 * statically so the same list works from the sources and from the build, with no globbing.
 *
 * Adding one: `NNNN-short-name.ts` with the next number, exporting `up(db: Kysely<unknown>)`,
 * appended here. A released migration is never renamed, reordered or edited: write a new one.
 * `replaces` names what the migration was recorded as before modules owned their tables.
 */
export const KERNEL_MIGRATIONS: readonly { readonly name: string; readonly migration: Migration; readonly replaces?: string }[] = Object.freeze([
  { name: '0001-security-events', migration: securityEvents, replaces: '0001-foundation' },
  { name: '0002-signing-keys', migration: signingKeys, replaces: '0003-api-tokens' },
  { name: '0003-token-revocations', migration: tokenRevocations, replaces: '0005-token-revocations' },
  { name: '0004-security-events-chain', migration: securityEventsChain },
]);
