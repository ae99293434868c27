import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { KernelSchema } from '../platform/database-schema.js';
import type { StateStore } from '../platform/store.js';
import type { PrincipalUser } from './authentication.js';
import { RAMPART_ERR_UNAVAILABLE } from './errors.js';

/** What authentication needs to know about a user, as of the user's current version. */
export interface UserAuthState {
  /** Who the user is and with which role; null when the user is gone or disabled. */
  readonly principal: PrincipalUser | null;
  /** Milliseconds since the epoch; access tokens issued before it are refused (a "revoke all"). */
  readonly tokensNotBefore: number;
  /** Access tokens revoked one by one (by jti) that have not expired yet. */
  readonly revokedJtis: ReadonlySet<string>;
}

export interface UserStatesOptions {
  readonly store: StateStore;
  readonly db: Kysely<KernelSchema>;
  /** The user's principal from the database; null when gone or disabled. */
  readonly loadUser: (userId: string) => Promise<PrincipalUser | null>;
  /** The clock, injectable so tests let time pass without sleeping. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Users kept per instance at most; over it, the entry loaded longest ago is dropped (not the
   * least recently used: a user in use reloads within `maxAgeMs` anyway). Default 10 000.
   */
  readonly maxEntries?: number;
  /**
   * An entry is reloaded after this long even when its version is unchanged: the backstop for a
   * change made outside Rampart (an UPDATE in psql) that bumped no version. Default 5 s.
   */
  readonly maxAgeMs?: number;
}

/**
 * Every user's principal and token revocations, cached per instance and invalidated through one
 * per-user version marker in the shared store, which the request reads in the round trip it
 * makes anyway (with the session, or alone for a bearer token).
 *
 * The marker holds a random version. Whoever changes a user (role, disabled, deleted, tokens
 * revoked) commits to PostgreSQL first and then writes a new version, so every instance's next
 * request for that user sees a version it has not cached and reloads from PostgreSQL: a change
 * reaches every instance on its next request, not after a TTL. An instance caches what it
 * loaded under the version it read *before* loading, so a change racing the load leaves an
 * entry that the next request already finds stale.
 *
 * A missing marker (Redis restarted without its data, or the marker's TTL ran out) never means
 * "valid": the instance writes a fresh version (SET NX, so racing instances agree) and reloads
 * from PostgreSQL, where revocations are durable.
 */
export interface UserStates {
  /** The store key of the user's version marker, for callers that read it in their own round trip. */
  readonly markerKey: (userId: string) => string;
  /**
   * The user's state. `marker` is the marker's value when the caller already read it (null
   * when it was missing); without it, this reads the marker itself (one round trip).
   */
  get(userId: string, marker?: string | null): Promise<UserAuthState>;
  /** The user's "issued before" cutoff (ms) read from PostgreSQL, for issuing a token; caches nothing. */
  tokensNotBefore(userId: string): Promise<number>;
  /**
   * After a committed change to the user: every instance reloads the user on its next request.
   * Rejects with `RAMPART_ERR_UNAVAILABLE` (503) when the marker cannot be written: the change
   * is committed but other instances may serve the old state for up to `maxAgeMs`, so the
   * caller must let the client retry, and the retry must write the marker again.
   */
  changed(userId: string): Promise<void>;
  /** Refuses every access token of the user issued before `at` (ms), durably, on every instance. */
  revokeTokensBefore(userId: string, at: number): Promise<void>;
  /** Refuses one access token until `expiresAt` (ms), durably, on every instance. */
  revokeToken(userId: string, jti: string, expiresAt: number): Promise<void>;
}

interface Entry {
  readonly version: string;
  readonly loadedAt: number;
  readonly state: UserAuthState;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_MAX_AGE_MS = 5_000;
// The marker only has to outlive a burst of requests: when it expires, instances reload once.
const MARKER_TTL_MS = 24 * 3_600_000;
const NOBODY: UserAuthState = Object.freeze({ principal: null, tokensNotBefore: Number.MAX_SAFE_INTEGER, revokedJtis: new Set<string>() });

const markerKey = (userId: string): string => `user-ver:${userId}`;
const newVersion = (): string => randomBytes(12).toString('base64url');

/**
 * Refuses every access token of the user issued before `at`, in PostgreSQL only: `db` may be a
 * transaction, so the cutoff commits (or not) with the change that calls for it. The cutoff only
 * ever moves forward. Whoever calls it writes the user's marker (`changed`) after the commit.
 */
export async function writeTokensNotBefore(db: Kysely<KernelSchema>, userId: string, at: Date): Promise<void> {
  await db.insertInto('access_token_cutoffs').values({ user_id: userId, not_before: at })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ not_before: at }).where('access_token_cutoffs.not_before', '<', at))
    .execute();
}

/** Creates the per-instance cache; options are checked here, once. */
export function createUserStates(options: UserStatesOptions): UserStates {
  const { store, db, loadUser } = options;
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  if (typeof loadUser !== 'function') throw new TypeError('user states: loadUser must be a function');
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError('user states: maxEntries must be a positive integer');
  if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 0) throw new TypeError('user states: maxAgeMs must be a non-negative integer');
  const entries = new Map<string, Entry>();
  // One database load per user and version at a time, however many requests arrive together.
  const loading = new Map<string, Promise<UserAuthState>>();

  async function loadState(userId: string): Promise<UserAuthState> {
    const at = now();
    const [principal, cutoff, revoked] = await Promise.all([
      loadUser(userId),
      db.selectFrom('access_token_cutoffs').select('not_before').where('user_id', '=', userId).executeTakeFirst(),
      db.selectFrom('revoked_access_tokens').select('jti').where('user_id', '=', userId).where('expires_at', '>', new Date(at)).execute(),
    ]);
    return Object.freeze({ principal, tokensNotBefore: cutoff?.not_before.getTime() ?? 0, revokedJtis: new Set(revoked.map((row) => row.jti)) });
  }

  /** The marker's value; a missing one is replaced by a fresh version before anything is loaded. */
  async function currentVersion(userId: string, marker: string | null | undefined): Promise<string> {
    const seen = marker === undefined ? await store.get(markerKey(userId)) : marker;
    if (seen !== null) return seen;
    const fresh = newVersion();
    if (await store.setIfAbsent(markerKey(userId), fresh, { ttlMs: MARKER_TTL_MS })) return fresh;
    // Another instance wrote one first: use it. Gone again already (a flush): this request's own.
    return (await store.get(markerKey(userId))) ?? fresh;
  }

  function remember(userId: string, entry: Entry): void {
    entries.delete(userId);
    entries.set(userId, entry);
    if (entries.size > maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
  }

  async function changed(userId: string): Promise<void> {
    entries.delete(userId);
    try {
      await store.set(markerKey(userId), newVersion(), { ttlMs: MARKER_TTL_MS });
    } catch (err) {
      // Whatever the store failed with (unreachable, full), the client is told the same: retry.
      throw new RAMPART_ERR_UNAVAILABLE({ cause: err });
    }
  }

  return Object.freeze({
    markerKey,

    async get(userId: string, marker?: string | null): Promise<UserAuthState> {
      // User ids are UUIDs; anything else could only fail the uuid cast in PostgreSQL.
      if (typeof userId !== 'string' || !UUID.test(userId)) return NOBODY;
      const version = await currentVersion(userId, marker);
      const cached = entries.get(userId);
      if (cached?.version === version && now() - cached.loadedAt < maxAgeMs) return cached.state;
      const loadKey = `${userId}:${version}`;
      let pending = loading.get(loadKey);
      if (pending === undefined) {
        const loadedAt = now();
        pending = loadState(userId).then((state) => {
          remember(userId, { version, loadedAt, state });
          return state;
        }).finally(() => loading.delete(loadKey));
        loading.set(loadKey, pending);
      }
      return pending;
    },

    changed,

    async tokensNotBefore(userId: string) {
      const row = await db.selectFrom('access_token_cutoffs').select('not_before').where('user_id', '=', userId).executeTakeFirst();
      return row?.not_before.getTime() ?? 0;
    },

    async revokeTokensBefore(userId: string, at: number) {
      await writeTokensNotBefore(db, userId, new Date(at));
      await changed(userId);
    },

    async revokeToken(userId: string, jti: string, expiresAt: number) {
      const at = new Date(now());
      // Rows past their token's expiry protect nothing: the user's are pruned as new ones arrive.
      await db.deleteFrom('revoked_access_tokens').where('user_id', '=', userId).where('expires_at', '<=', at).execute();
      await db.insertInto('revoked_access_tokens').values({ jti, user_id: userId, expires_at: new Date(expiresAt) }).onConflict((oc) => oc.column('jti').doNothing()).execute();
      await changed(userId);
    },
  });
}
