import { createHash, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { MAX_TTL_MS, type StateStore } from '../platform/store.js';
import type { Keyring } from './keyring.js';

/** Where a session was created or renewed from; shown to its owner in the session list. */
export interface SessionMeta {
  readonly ip: string;
  readonly userAgent: string;
}

/** A live session as its owner may see it. `id` is a public identifier, never the token or the store key. */
export interface Session {
  readonly id: string;
  readonly userId: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly ip: string;
  readonly userAgent: string;
}

export interface SessionManagerOptions {
  readonly store: StateStore;
  readonly keyring: Keyring;
  /** A session unused this long ends. Default 30 minutes. */
  readonly idleTimeoutMs?: number;
  /** A session ends this long after login, used or not. Default 8 hours. */
  readonly absoluteTimeoutMs?: number;
  /** `lastSeenAt` is written at most this often, so a busy session does not write on every request. Default 60 seconds. */
  readonly touchIntervalMs?: number;
  /** The clock, injectable so tests let time pass without sleeping. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * A per-user key read in the same round trip as the session ({@link SessionManager.resolveForRequest}):
   * the user's version marker. Known once this instance has seen the session (the record names its user).
   */
  readonly companionKey?: (userId: string) => string;
  /** Told when sessions are created, rotated (a new id for a live session) or revoked, with how many (for metrics). */
  readonly onChange?: (change: SessionChange, count: number) => void;
}

export type SessionChange = 'created' | 'rotated' | 'revoked';

/** A resolved session and the value of its user's companion key: `undefined` when it was not read in the same trip. */
export interface ResolvedSession {
  readonly session: Session;
  readonly companion: string | null | undefined;
}

/**
 * Server-side sessions in the shared store. The client holds a 256-bit random token; the
 * store holds only its SHA-256, so a leaked store dump cannot be replayed as cookies.
 * Every failed check answers `null` without saying which check failed.
 */
export interface SessionManager {
  /** Starts a session (on login): a fresh token, `createdAt` = now. */
  create(userId: string, meta: SessionMeta): Promise<{ readonly token: string; readonly session: Session }>;
  /** The session a token belongs to, or null when it is malformed, unknown or expired (an expired one is deleted). */
  resolve(token: string): Promise<Session | null>;
  /** {@link resolve} for a request: the session, its last-seen time and its user's companion key in one store round trip. */
  resolveForRequest(token: string): Promise<ResolvedSession | null>;
  /** Replaces the token of a live session (password or role change); `createdAt` is kept, so the absolute timeout still counts from login. */
  rotate(token: string, meta: SessionMeta): Promise<{ readonly token: string; readonly session: Session } | null>;
  /** Ends one of the user's sessions by its public id; false when the user has no such session. */
  revoke(userId: string, sessionId: string): Promise<boolean>;
  /** Ends the session a token belongs to, if any (logout). */
  revokeToken(token: string): Promise<void>;
  /** Ends every session of the user, except the one `exceptToken` belongs to; returns how many ended. */
  revokeAll(userId: string, options?: { readonly exceptToken?: string }): Promise<number>;
  /** The user's live sessions, newest first. */
  list(userId: string): Promise<Session[]>;
}

/** What the store keeps under `sess:<hash>`; written once, never rewritten (see `touch`). */
interface StoredSession {
  readonly userId: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly ip: string;
  readonly userAgent: string;
}

const DEFAULT_IDLE_MS = 30 * 60_000;
const DEFAULT_ABSOLUTE_MS = 8 * 3_600_000;
const DEFAULT_TOUCH_MS = 60_000;
const TOKEN_BYTES = 32;
// 32 bytes in unpadded base64url: anything else is not a token this manager issued.
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const HASH = /^[0-9a-f]{64}$/;
const PUBLIC_ID = /^[A-Za-z0-9_-]{22,64}$/;
const MAX_USER_ID = 256;
const MAX_IP = 64;
const MAX_USER_AGENT = 256;
// Past this many index members, creating a session first drops the members whose session is gone.
const PRUNE_THRESHOLD = 32;
// Sessions whose user this instance remembers, so the user's companion key joins the session's read.
const MAX_KNOWN_OWNERS = 10_000;

function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** True when `token` has the shape of a session token; says nothing about whether it is live. */
export function isWellFormedSessionToken(token: unknown): token is string {
  return typeof token === 'string' && TOKEN.test(token);
}

/**
 * The store key of a token's session: `sess:` + SHA-256(token) in hex. Exported for the CSRF
 * guard, which binds its token to the session without ever storing or logging the token.
 */
export function sessionStoreKey(token: string): string {
  return `sess:${sha256Hex(token)}`;
}

const recordKey = (hash: string): string => `sess:${hash}`;
// lastSeenAt lives beside the record, not in it: a touch then only *extends* the record's TTL
// (a no-op on a deleted key) instead of rewriting it, so a touch racing a revocation can never
// bring the revoked session back.
const seenKey = (hash: string): string => `sess-seen:${hash}`;
const indexKey = (userId: string): string => `user-sess:${userId}`;

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer number of milliseconds`);
}

function checkUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID) {
    throw new TypeError(`userId must be a string of 1–${MAX_USER_ID} characters`);
  }
}

function cleanMeta(meta: SessionMeta): { ip: string; userAgent: string } {
  const ip: unknown = meta.ip;
  const userAgent: unknown = meta.userAgent;
  if (typeof ip !== 'string' || typeof userAgent !== 'string') throw new TypeError('session meta needs string ip and userAgent');
  return { ip: ip.slice(0, MAX_IP), userAgent: userAgent.slice(0, MAX_USER_AGENT) };
}

function parseRecord(text: string | null): StoredSession | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as Partial<StoredSession> | null;
    if (
      typeof value?.userId === 'string' && typeof value.createdAt === 'number' && typeof value.lastSeenAt === 'number'
      && typeof value.ip === 'string' && typeof value.userAgent === 'string'
    ) {
      return { userId: value.userId, createdAt: value.createdAt, lastSeenAt: value.lastSeenAt, ip: value.ip, userAgent: value.userAgent };
    }
  } catch {
    // A value that does not parse is treated like no session at all.
  }
  return null;
}

/** Creates a session manager over the shared store, validating every option. */
export function createSessionManager(options: SessionManagerOptions): SessionManager {
  const { store, keyring } = options;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_MS;
  const absoluteMs = options.absoluteTimeoutMs ?? DEFAULT_ABSOLUTE_MS;
  const touchMs = options.touchIntervalMs ?? DEFAULT_TOUCH_MS;
  const now = options.now ?? Date.now;
  const changed = options.onChange ?? (() => undefined);
  checkPositiveInteger('idleTimeoutMs', idleMs);
  checkPositiveInteger('absoluteTimeoutMs', absoluteMs);
  checkPositiveInteger('touchIntervalMs', touchMs);
  if (idleMs > absoluteMs) throw new TypeError('idleTimeoutMs must not exceed absoluteTimeoutMs');
  if (absoluteMs > MAX_TTL_MS) throw new TypeError(`absoluteTimeoutMs must be at most ${MAX_TTL_MS} ms`);
  if (touchMs >= idleMs) throw new TypeError('touchIntervalMs must be shorter than idleTimeoutMs');
  if (typeof now !== 'function') throw new TypeError('now must be a function');
  const { companionKey } = options;
  if (companionKey !== undefined && typeof companionKey !== 'function') throw new TypeError('companionKey must be a function');
  // A record never changes its user, so a remembered owner can only be stale by being gone.
  const owners = new Map<string, string>();
  // Its own derived key: a public id cannot be turned back into a store key, let alone a token.
  // The ids listed are made under the current secret; one listed by an instance still on the
  // previous secret (a rolling restart) is still accepted when revoking.
  const publicIdKeys: readonly KeyObject[] = keyring.deriveKeys('session-public-id').map((bytes) => createSecretKey(bytes));
  const publicIdWith = (key: KeyObject | undefined, hash: string): string => createHmac('sha256', key as KeyObject).update(recordKey(hash), 'utf8').digest('base64url');
  const publicId = (hash: string): string => publicIdWith(publicIdKeys[0], hash);

  /** Remaining lifetime at `at`: the idle window, cut short by the absolute deadline. */
  const ttlAt = (createdAt: number, at: number): number => Math.max(1, Math.ceil(Math.min(idleMs, createdAt + absoluteMs - at)));

  const expired = (record: StoredSession, lastSeenAt: number, at: number): boolean => at - lastSeenAt >= idleMs || at - record.createdAt >= absoluteMs;

  const toSession = (hash: string, record: StoredSession, lastSeenAt: number): Session => Object.freeze({
    id: publicId(hash),
    userId: record.userId,
    createdAt: record.createdAt,
    lastSeenAt,
    ip: record.ip,
    userAgent: record.userAgent,
  });

  async function load(hash: string): Promise<{ record: StoredSession; lastSeenAt: number; companion: string | null | undefined } | null> {
    const owner = companionKey === undefined ? undefined : owners.get(hash);
    const keys = [recordKey(hash), seenKey(hash)];
    if (owner !== undefined && companionKey !== undefined) keys.push(companionKey(owner));
    const [text = null, seen = null, companion = null] = await store.getMany(keys);
    const record = parseRecord(text);
    if (record === null) {
      owners.delete(hash);
      return null;
    }
    if (companionKey !== undefined && owner === undefined) {
      if (owners.size >= MAX_KNOWN_OWNERS) owners.delete(owners.keys().next().value ?? '');
      owners.set(hash, record.userId);
    }
    const touched = seen === null ? Number.NaN : Number(seen);
    return {
      record,
      lastSeenAt: Number.isSafeInteger(touched) && touched > record.lastSeenAt ? touched : record.lastSeenAt,
      companion: owner === record.userId ? companion : undefined,
    };
  }

  async function destroy(hash: string, userId: string | null): Promise<boolean> {
    owners.delete(hash);
    const [existed] = await Promise.all([store.delete(recordKey(hash)), store.delete(seenKey(hash))]);
    if (userId !== null) await store.setRemove(indexKey(userId), hash);
    return existed;
  }

  /** Writes a new session; `createdAt` is now for a login, the original login time for a rotation. */
  async function write(userId: string, meta: SessionMeta, createdAt?: number): Promise<{ token: string; session: Session }> {
    const at = now();
    createdAt ??= at;
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const hash = sha256Hex(token);
    const record: StoredSession = { userId, createdAt, lastSeenAt: at, ...cleanMeta(meta) };
    // Index first: a session that exists is always reachable by revokeAll, even if a write fails midway.
    await store.setAdd(indexKey(userId), hash, { ttlMs: absoluteMs });
    await store.set(recordKey(hash), JSON.stringify(record), { ttlMs: ttlAt(createdAt, at) });
    return { token, session: toSession(hash, record, at) };
  }

  async function members(userId: string): Promise<string[]> {
    return (await store.setMembers(indexKey(userId))).filter((member) => HASH.test(member));
  }

  /** The live sessions in the user's index; members whose session is gone or expired are removed. */
  async function liveSessions(userId: string): Promise<{ hash: string; session: Session }[]> {
    const at = now();
    const found = await Promise.all((await members(userId)).map(async (hash) => ({ hash, loaded: await load(hash) })));
    const live: { hash: string; session: Session }[] = [];
    for (const { hash, loaded } of found) {
      if (loaded?.record.userId !== userId) {
        await store.setRemove(indexKey(userId), hash);
        continue;
      }
      if (expired(loaded.record, loaded.lastSeenAt, at)) {
        await destroy(hash, userId);
        continue;
      }
      live.push({ hash, session: toSession(hash, loaded.record, loaded.lastSeenAt) });
    }
    return live;
  }

  async function resolveHash(token: string): Promise<{ hash: string; record: StoredSession; session: Session; companion: string | null | undefined } | null> {
    if (!isWellFormedSessionToken(token)) return null;
    const hash = sha256Hex(token);
    const loaded = await load(hash);
    if (loaded === null) return null;
    const { record } = loaded;
    const at = now();
    // The TTL is only a backstop: the timestamps decide, so a store whose expiry lags cannot extend a session.
    if (expired(record, loaded.lastSeenAt, at)) {
      await destroy(hash, record.userId);
      return null;
    }
    let lastSeenAt = loaded.lastSeenAt;
    if (at - lastSeenAt >= touchMs) {
      const ttlMs = ttlAt(record.createdAt, at);
      // Extending a key that a concurrent revocation already deleted fails, and so does this request.
      if (!(await store.expire(recordKey(hash), { ttlMs }))) return null;
      await store.set(seenKey(hash), String(at), { ttlMs });
      lastSeenAt = at;
    }
    return { hash, record, session: toSession(hash, record, lastSeenAt), companion: loaded.companion };
  }

  return Object.freeze({
    async create(userId: string, meta: SessionMeta) {
      checkUserId(userId);
      if ((await store.setMembers(indexKey(userId))).length >= PRUNE_THRESHOLD) await liveSessions(userId);
      const created = await write(userId, meta);
      changed('created', 1);
      return created;
    },

    async resolve(token: string) {
      return (await resolveHash(token))?.session ?? null;
    },

    async resolveForRequest(token: string) {
      const resolved = await resolveHash(token);
      return resolved === null ? null : { session: resolved.session, companion: resolved.companion };
    },

    async rotate(token: string, meta: SessionMeta) {
      const current = await resolveHash(token);
      if (current === null) return null;
      const renewed = await write(current.record.userId, meta, current.record.createdAt);
      await destroy(current.hash, current.record.userId);
      changed('rotated', 1);
      return renewed;
    },

    async revoke(userId: string, sessionId: string) {
      checkUserId(userId);
      if (typeof sessionId !== 'string' || !PUBLIC_ID.test(sessionId)) return false;
      // Only the user's own index is searched, so another user's session id matches nothing.
      // Public ids are shown to their owner and sent in URLs: not secrets, so a plain comparison.
      const match = (await members(userId)).find((member) => publicIdKeys.some((key) => publicIdWith(key, member) === sessionId));
      if (match === undefined || !(await destroy(match, userId))) return false;
      changed('revoked', 1);
      return true;
    },

    async revokeToken(token: string) {
      if (!isWellFormedSessionToken(token)) return;
      const hash = sha256Hex(token);
      const record = parseRecord(await store.get(recordKey(hash)));
      if (await destroy(hash, record?.userId ?? null)) changed('revoked', 1);
    },

    async revokeAll(userId: string, revokeOptions: { readonly exceptToken?: string } = {}) {
      checkUserId(userId);
      const { exceptToken } = revokeOptions;
      const kept = exceptToken !== undefined && isWellFormedSessionToken(exceptToken) ? sha256Hex(exceptToken) : null;
      const ended = await Promise.all((await members(userId)).filter((hash) => hash !== kept).map((hash) => destroy(hash, userId)));
      const count = ended.filter(Boolean).length;
      if (count > 0) changed('revoked', count);
      return count;
    },

    async list(userId: string) {
      checkUserId(userId);
      const live = await liveSessions(userId);
      return live
        .map(({ session }) => session)
        .sort((a, b) => b.createdAt - a.createdAt || b.lastSeenAt - a.lastSeenAt || (a.id < b.id ? -1 : 1));
    },
  });
}
