import type { RateLimiterAbstract } from 'rate-limiter-flexible';

/** How long a written key lives. Every write names one, so nothing in the store lives forever. */
export interface TtlOption {
  /** Positive integer milliseconds, at most {@link MAX_TTL_MS} (or the memory store's `maxTtlMs`). */
  readonly ttlMs: number;
}

/** An amount to add to one counter (see {@link StateStore.incrementMany}). */
export interface CounterDelta {
  readonly key: string;
  readonly by: number;
}

/** A counter after an addition: its value and the milliseconds its window has left. */
export interface CounterState {
  readonly count: number;
  readonly ttlMs: number;
}

/** The numbers of one rate limiter; the names follow rate-limiter-flexible's options. */
export interface RateLimiterSpec {
  /** Names the limiter's keys inside the store's own prefix (`login-ip`, `reset-account`, ...). */
  readonly keyPrefix: string;
  /** Points a key may consume per window. */
  readonly points: number;
  /** Length of the window, in whole seconds. */
  readonly durationSeconds: number;
  /** When set, a key that exceeds `points` is refused for this many seconds. */
  readonly blockDurationSeconds?: number;
}

/**
 * The shared state of a Rampart deployment: sessions, counters, one-time tokens and per-user
 * indexes. Implemented by Redis (shared by every instance) and by a bounded in-process twin
 * (one process only). Every key carries a TTL; bad arguments are programming errors and reject
 * with a `TypeError`; a store that cannot be reached rejects with `STORE_ERR_UNAVAILABLE`, and
 * an operation on a key holding the other kind of value rejects with `STORE_ERR_WRONG_TYPE`.
 * Keys are plain values here: callers namespace them (`session:…`, `reset:…`).
 */
export interface StateStore {
  readonly kind: 'redis' | 'memory';
  /** The value at `key`, or `null` when there is none. */
  get(key: string): Promise<string | null>;
  /**
   * The values at `keys`, in order (`null` for a missing key), read in one round trip: the
   * request hot path reads a session, its last-seen time and its user's version marker together.
   * At most {@link MAX_BATCH_KEYS} keys.
   */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /** Writes `value`, replacing whatever `key` held, with a fresh TTL. */
  set(key: string, value: string, options: TtlOption): Promise<void>;
  /** Writes `value` only when `key` holds nothing; `true` when this call wrote it. */
  setIfAbsent(key: string, value: string, options: TtlOption): Promise<boolean>;
  /**
   * Reads and deletes `key` in one atomic step, for single-use tokens: of any number of
   * concurrent takes of the same key, exactly one receives the value.
   */
  take(key: string): Promise<string | null>;
  /** `true` when `key` existed. */
  delete(key: string): Promise<boolean>;
  /**
   * Adds one to the counter at `key` atomically and returns the new count. A missing key starts
   * at 1 with `options.ttlMs`; later increments leave the TTL alone, so a window cannot be kept
   * open by hitting it.
   */
  increment(key: string, options: TtlOption): Promise<number>;
  /**
   * Adds each entry's `by` to its counter in one round trip and returns every new count with
   * the milliseconds its window has left. Like {@link increment}: a missing counter starts
   * with `options.ttlMs` and later additions leave the TTL alone. At most {@link MAX_BATCH_KEYS}
   * entries; `by` is a positive safe integer.
   */
  incrementMany(entries: readonly CounterDelta[], options: TtlOption): Promise<CounterState[]>;
  /** Gives an existing key a new TTL; `false` when there is no such key. */
  expire(key: string, options: TtlOption): Promise<boolean>;
  /** Milliseconds `key` has left, or `null` when there is no such key. */
  ttlMs(key: string): Promise<number | null>;
  /** Adds `member` to the set at `key` and (re)sets the set's TTL to `options.ttlMs`. */
  setAdd(key: string, member: string, options: TtlOption): Promise<void>;
  /** Removes `member`; a set left empty disappears. */
  setRemove(key: string, member: string): Promise<void>;
  /** The members of the set at `key` in no particular order; `[]` when there is none. */
  setMembers(key: string): Promise<string[]>;
  /**
   * A rate limiter on this store. Redis: `RateLimiterRedis` with a `RateLimiterMemory`
   * insurance limiter of the same spec (used while Redis is unreachable, and that switch is
   * logged once per outage). Memory: `RateLimiterMemory`.
   */
  createRateLimiter(spec: RateLimiterSpec): RateLimiterAbstract;
  /** Resolves when the store answers; rejects with `STORE_ERR_UNAVAILABLE` when it cannot. */
  ping(): Promise<void>;
  /** Releases connections and timers. Idempotent; later operations reject with `STORE_ERR_UNAVAILABLE`. */
  close(): Promise<void>;
}

/** The subset of pino's logger the stores use, so tests can capture calls. */
export interface StoreLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Longest key, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 512;
/** Longest set member, in UTF-16 code units. */
export const MAX_MEMBER_LENGTH = 512;
/** Longest value: sessions and tokens are small; a bound keeps one write from eating the heap. */
export const MAX_VALUE_LENGTH = 65_536;
/** Most keys one `getMany` or `incrementMany` call may name. */
export const MAX_BATCH_KEYS = 1024;
/** Longest TTL: 31 days, above any session, token or counter window Rampart uses. */
export const MAX_TTL_MS = 31 * 24 * 60 * 60 * 1000;
const MAX_TTL_SECONDS = MAX_TTL_MS / 1000;

// A lone surrogate has no UTF-8 encoding: Redis would receive U+FFFD, so two different keys
// would collide there while staying distinct in memory.
const LONE_SURROGATE = /\p{Cs}/u;

function checkString(what: string, value: unknown, min: number, max: number): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
  if (value.length < min || value.length > max) throw new TypeError(`${what} must be ${min}–${max} characters long (got ${value.length})`);
  if (LONE_SURROGATE.test(value)) throw new TypeError(`${what} must be well-formed Unicode (it contains a lone surrogate)`);
}

/** @internal Shared by the implementations so both reject exactly the same arguments. */
export function checkKey(key: unknown): asserts key is string {
  checkString('key', key, 1, MAX_KEY_LENGTH);
}

/** @internal */
export function checkKeys(keys: unknown): asserts keys is readonly string[] {
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_BATCH_KEYS) throw new TypeError(`keys must be an array of 1–${MAX_BATCH_KEYS} keys`);
  for (const key of keys) checkKey(key);
}

/** @internal */
export function checkDeltas(entries: unknown): asserts entries is readonly CounterDelta[] {
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_BATCH_KEYS) throw new TypeError(`entries must be an array of 1–${MAX_BATCH_KEYS} counters`);
  for (const entry of entries as unknown[]) {
    if (typeof entry !== 'object' || entry === null) throw new TypeError('each entry must be { key, by }');
    const { key, by } = entry as { key?: unknown; by?: unknown };
    checkKey(key);
    if (!isPositiveInteger(by)) throw new TypeError('each entry\'s by must be a positive integer');
  }
}

/** @internal */
export function checkValue(value: unknown): asserts value is string {
  checkString('value', value, 0, MAX_VALUE_LENGTH);
}

/** @internal */
export function checkMember(member: unknown): asserts member is string {
  checkString('set member', member, 1, MAX_MEMBER_LENGTH);
}

/** @internal Returns the TTL so call sites read `const ttl = checkTtl(options, max)`. */
export function checkTtl(options: unknown, maxTtlMs: number): number {
  const ttl: unknown = typeof options === 'object' && options !== null ? (options as { ttlMs?: unknown }).ttlMs : undefined;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0 || ttl > maxTtlMs) {
    throw new TypeError(`options.ttlMs must be a positive integer of at most ${maxTtlMs} ms (got ${String(ttl)})`);
  }
  return ttl;
}

/** @internal */
export function checkRateLimiterSpec(spec: unknown): asserts spec is RateLimiterSpec {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('rate limiter spec must be an object');
  const { keyPrefix, points, durationSeconds, blockDurationSeconds } = spec as Record<string, unknown>;
  checkString('rate limiter keyPrefix', keyPrefix, 1, 128);
  if (!isPositiveInteger(points)) throw new TypeError('rate limiter points must be a positive integer');
  // rate-limiter-flexible reads 0 as "never expires"; every key here has a TTL.
  if (!isPositiveInteger(durationSeconds) || durationSeconds > MAX_TTL_SECONDS) {
    throw new TypeError(`rate limiter durationSeconds must be a positive integer of at most ${MAX_TTL_SECONDS}`);
  }
  if (blockDurationSeconds !== undefined && (!isPositiveInteger(blockDurationSeconds) || blockDurationSeconds > MAX_TTL_SECONDS)) {
    throw new TypeError(`rate limiter blockDurationSeconds must be a positive integer of at most ${MAX_TTL_SECONDS} when set`);
  }
}

/** @internal */
export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}
