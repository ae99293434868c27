import { createHash, randomInt } from 'node:crypto';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { MAX_TTL_MS, type StateStore } from '../platform/store.js';
import { clientKey } from './client-ip.js';

/** What {@link LoginThrottle.check} allows. */
export type ThrottleDecision =
  /** `delayMs` is above 0 only while the account is under attack and this (account, IP) pair already has failures. */
  | { readonly allowed: true; readonly delayMs: number }
  /** Refused before the password is looked at; `scope` names the block that ends last. */
  | { readonly allowed: false; readonly retryAfterSeconds: number; readonly scope: 'account_ip' | 'ip' };

/** What {@link LoginThrottle.recordFailure} reports, for the caller's security events. */
export interface FailureOutcome {
  /** True for exactly one failure per window: the one that reaches the per-account threshold (`authn_login_fail_max`). */
  readonly accountAlert: boolean;
  /** True when this failure starts a block of the (account, IP) pair (`authn_login_lock`). */
  readonly locked: boolean;
  /** Seconds until this (account, IP) pair may try again, or `null` when it may try now. */
  readonly retryAfterSeconds: number | null;
}

/**
 * Brute-force defence for a password check. Every count lives in the shared store, so all
 * instances of a deployment enforce one budget. Account keys are opaque (a blind index of the
 * email); IPs are grouped by {@link clientKey}, so an IPv6 /64 counts as one client.
 */
export interface LoginThrottle {
  /** Call BEFORE checking the password; a blocked attempt must not reach the password check. */
  check(accountKey: string, ip: string): Promise<ThrottleDecision>;
  /** After a failed attempt. */
  recordFailure(accountKey: string, ip: string): Promise<FailureOutcome>;
  /** After success: resets the (account, IP) consecutive-failure counter and its escalation, not the per-IP or per-account counts. */
  recordSuccess(accountKey: string, ip: string): Promise<void>;
  /**
   * Claims the right to one password check: the (account, IP) pair must have no other check in
   * flight, and the client at most {@link LoginThrottleOptions.clientChecksInFlight} across all
   * accounts. Without it, a burst of parallel guesses would all pass `check()` before the first
   * failure is counted: the 5-failure lock would let dozens through, the 100-per-IP budget would
   * be overshot by whatever fits in the hashing queue, and one client could fill that queue for
   * everyone. `null` when refused; otherwise call `release()` once the attempt is recorded.
   */
  claim(accountKey: string, ip: string): Promise<ThrottleClaim | null>;
  /**
   * Whether to record a refused attempt as a security event: true for the first refusal of
   * `scope` for this client (this account and client for `account_ip`) within `windowMs`
   * (for a block: the time it has left), false for the others, in every instance. A flood of
   * refused attempts then writes one `authn_login_lock` row per block and minute, not one per
   * request: those writes were the flood's cost (on PGlite, SQL on the event loop). The
   * refusals themselves are unchanged.
   */
  firstRefusal(scope: RefusalScope, accountKey: string, ip: string, windowMs: number): Promise<boolean>;
}

/** Why an attempt was refused before its password was checked: a block, or too many checks in flight. */
export type RefusalScope = 'account_ip' | 'ip' | 'concurrent';

/** A claimed password check; see {@link LoginThrottle.claim}. */
export interface ThrottleClaim {
  release(): Promise<void>;
}

/** Options of {@link createLoginThrottle}; the numbers are the defaults of DESIGN.md. */
export interface LoginThrottleOptions {
  readonly store: StateStore;
  /** Namespaces every key of this throttle in the store. Default `bf:login`. */
  readonly keyPrefix?: string;
  /** Consecutive failures of one (account, IP) pair that block it. Default 5. */
  readonly consecutiveFailures?: number;
  /** Length of a pair's first block; each further block doubles it. Default 60. */
  readonly firstBlockSeconds?: number;
  /** Longest block of a pair. Default 3 600, at most 7 days. */
  readonly maxBlockSeconds?: number;
  /** Failures from one client in 24 h, across all accounts, that block the client for 24 h. Default 100. */
  readonly ipFailures?: number;
  /** Failures of one account in an hour, from all clients, that raise the alert and the delay. Default 50. */
  readonly accountFailuresPerHour?: number;
  /** Delay for attempts from failing pairs while the account is under attack. Default 1 000, at most 10 000. */
  readonly accountAlertDelayMs?: number;
  /** Password checks one client may have in flight at once, across all accounts. Default 4, at most 64. */
  readonly clientChecksInFlight?: number;
}

/** A fixed-window limit on attempts per key (reset requests per email and per IP, verification attempts per IP). */
export interface AttemptLimiter {
  /** Counts one attempt for `key`. Pass `clientKey(ip)` for per-IP limits, so an IPv6 /64 is one client. */
  consume(key: string): Promise<{ readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number }>;
}

/** Options of {@link createAttemptLimiter}. */
export interface AttemptLimiterOptions {
  readonly store: StateStore;
  /** Names this limiter's keys in the store (`bf:reset-email`). */
  readonly keyPrefix: string;
  /** Attempts a key may make per window. */
  readonly points: number;
  readonly durationSeconds: number;
  /** When set, a key over the limit is refused for this long instead of until the window ends. */
  readonly blockSeconds?: number;
}

const SECOND_MS = 1_000;
const HOUR_MS = 60 * 60 * SECOND_MS;
const DAY_MS = 24 * HOUR_MS;
const IP_WINDOW_MS = DAY_MS;
const IP_BLOCK_MS = DAY_MS;
const ACCOUNT_WINDOW_MS = HOUR_MS;
// How long a pair's failures and block count are remembered after its last failure or block.
const PAIR_MEMORY_MS = DAY_MS;
const MAX_BLOCK_SECONDS = 7 * 24 * 60 * 60;
const MAX_DELAY_MS = 10_000;
const MAX_KEY_PREFIX_LENGTH = 128;

const DEFAULTS = {
  keyPrefix: 'bf:login',
  consecutiveFailures: 5,
  firstBlockSeconds: 60,
  maxBlockSeconds: 3_600,
  ipFailures: 100,
  accountFailuresPerHour: 50,
  accountAlertDelayMs: 1_000,
  clientChecksInFlight: 4,
} as const;

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer from ${min} to ${max} (got ${String(value)})`);
  }
  return value;
}

function checkStore(store: unknown): void {
  if (typeof store !== 'object' || store === null || typeof (store as Partial<StateStore>).increment !== 'function') {
    throw new TypeError('store must be a StateStore');
  }
}

function checkKeyPrefix(keyPrefix: unknown): string {
  if (typeof keyPrefix !== 'string' || keyPrefix.length === 0 || keyPrefix.length > MAX_KEY_PREFIX_LENGTH) {
    throw new TypeError(`keyPrefix must be 1–${MAX_KEY_PREFIX_LENGTH} characters long`);
  }
  return keyPrefix;
}

// Keys hold a digest, never the caller's key: the store's key space is visible to operators
// and tools, and a digest also bounds the key length whatever the caller passes.
function digest(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / SECOND_MS));
}

/** A counter written by `increment`; a missing key counts 0. */
function count(value: string | null): number {
  const n = value === null ? 0 : Number(value);
  return Number.isSafeInteger(n) ? n : 0;
}

/**
 * The login throttle of DESIGN.md's "Brute force":
 * - per (account, IP) pair: the `consecutiveFailures`-th failure blocks the pair for
 *   `firstBlockSeconds`; once blocked, every further failure after a block ends blocks it
 *   again for twice as long, up to `maxBlockSeconds`. The pair's failures and block count are
 *   forgotten a day after its last failure, or at its next success.
 * - per client (IPv4 address or IPv6 /64): `ipFailures` failures in 24 h block it for 24 h,
 *   for every account.
 * - per account: `accountFailuresPerHour` failures raise one alert per window and slow down
 *   the pairs that have failed; the account itself is never blocked, so an attacker cannot
 *   lock its owner out, and the owner from a clean IP is neither delayed nor refused.
 *
 * Built on the store's atomic counters rather than rate-limiter-flexible: the escalation needs
 * "start a block only if none is in force" (`setIfAbsent`) and a block count with its own TTL,
 * which limiters cannot express atomically. It also fails closed: while the store is down every
 * call rejects with `STORE_ERR_UNAVAILABLE`, where a per-process insurance limiter would give
 * each instance a fresh budget (sessions live in the same store, so no login could finish anyway).
 */
/** How long a claim stays if its attempt never releases it. */
const CLAIM_TTL = { ttlMs: 30_000 };

export function createLoginThrottle(options: LoginThrottleOptions): LoginThrottle {
  checkStore(options.store);
  const { store } = options;
  const prefix = checkKeyPrefix(options.keyPrefix ?? DEFAULTS.keyPrefix);
  const consecutiveFailures = checkInteger('consecutiveFailures', options.consecutiveFailures ?? DEFAULTS.consecutiveFailures, 1, 1_000);
  const maxBlockSeconds = checkInteger('maxBlockSeconds', options.maxBlockSeconds ?? DEFAULTS.maxBlockSeconds, 1, MAX_BLOCK_SECONDS);
  const firstBlockSeconds = checkInteger('firstBlockSeconds', options.firstBlockSeconds ?? DEFAULTS.firstBlockSeconds, 1, maxBlockSeconds);
  const ipFailures = checkInteger('ipFailures', options.ipFailures ?? DEFAULTS.ipFailures, 1, 1_000_000);
  const accountFailures = checkInteger('accountFailuresPerHour', options.accountFailuresPerHour ?? DEFAULTS.accountFailuresPerHour, 1, 1_000_000);
  const delayMs = checkInteger('accountAlertDelayMs', options.accountAlertDelayMs ?? DEFAULTS.accountAlertDelayMs, 0, MAX_DELAY_MS);
  const clientChecksInFlight = checkInteger('clientChecksInFlight', options.clientChecksInFlight ?? DEFAULTS.clientChecksInFlight, 1, 64);
  // Outlives the longest block, so a pair that fails again when a block ends still escalates.
  const pairMemory = { ttlMs: PAIR_MEMORY_MS + maxBlockSeconds * SECOND_MS };

  function keys(accountKey: string, ip: string) {
    const account = digest(accountKey, 'accountKey');
    const client = clientKey(ip);
    return {
      ipFailures: `${prefix}:ip:${client}`,
      ipBlock: `${prefix}:ip-block:${client}`,
      accountFailures: `${prefix}:account:${account}`,
      pairFailures: `${prefix}:pair:${account}:${client}`,
      pairLevel: `${prefix}:pair-level:${account}:${client}`,
      pairBlock: `${prefix}:pair-block:${account}:${client}`,
      pairClaim: `${prefix}:pair-claim:${account}:${client}`,
      clientClaim: (slot: number) => `${prefix}:ip-claim:${client}:${String(slot)}`,
      refused: (scope: RefusalScope) => `${prefix}:refused:${scope}:${scope === 'account_ip' ? `${account}:${client}` : client}`,
    };
  }
  type Keys = ReturnType<typeof keys>;

  function blockSeconds(previousBlocks: number): number {
    // The exponent is capped only to keep the arithmetic finite; the result is capped by maxBlockSeconds.
    return Math.min(firstBlockSeconds * 2 ** Math.min(previousBlocks, 32), maxBlockSeconds);
  }

  /** Blocks the client unless it already is; the milliseconds its block has left. */
  async function blockClient(k: Keys): Promise<number | null> {
    await store.setIfAbsent(k.ipBlock, '1', { ttlMs: IP_BLOCK_MS });
    return store.ttlMs(k.ipBlock);
  }

  /** Starts the pair's next block unless one is in force. */
  async function blockPair(k: Keys): Promise<{ locked: boolean; ms: number | null }> {
    const previousBlocks = count(await store.get(k.pairLevel));
    const ms = blockSeconds(previousBlocks) * SECOND_MS;
    // Failures that raced past check() while a block was being set must not escalate it:
    // only the failure that creates the block counts it.
    if (!(await store.setIfAbsent(k.pairBlock, '1', { ttlMs: ms }))) {
      return { locked: false, ms: await store.ttlMs(k.pairBlock) };
    }
    await store.set(k.pairLevel, String(previousBlocks + 1), pairMemory);
    return { locked: true, ms };
  }

  return {
    async check(accountKey, ip) {
      const k = keys(accountKey, ip);
      const [ipBlockMs, pairBlockMs, pairFailures, accountFailureCount] = await Promise.all([
        store.ttlMs(k.ipBlock),
        store.ttlMs(k.pairBlock),
        store.get(k.pairFailures),
        store.get(k.accountFailures),
      ]);
      if (ipBlockMs !== null || pairBlockMs !== null) {
        // Name the block that ends last, so a client that waits out Retry-After is not refused again at once.
        return (ipBlockMs ?? -1) >= (pairBlockMs ?? -1)
          ? { allowed: false, retryAfterSeconds: retryAfterSeconds(ipBlockMs ?? 0), scope: 'ip' }
          : { allowed: false, retryAfterSeconds: retryAfterSeconds(pairBlockMs ?? 0), scope: 'account_ip' };
      }
      // Only pairs that have failed are slowed: the owner on a clean IP is never made to wait.
      const underAttack = count(accountFailureCount) >= accountFailures;
      return { allowed: true, delayMs: underAttack && count(pairFailures) > 0 ? delayMs : 0 };
    },

    async recordFailure(accountKey, ip) {
      const k = keys(accountKey, ip);
      // Each increment is atomic in the store, so concurrent failures are all counted.
      const [clientCount, accountCount, pairCount] = await Promise.all([
        store.increment(k.ipFailures, { ttlMs: IP_WINDOW_MS }),
        store.increment(k.accountFailures, { ttlMs: ACCOUNT_WINDOW_MS }),
        store.increment(k.pairFailures, pairMemory),
      ]);
      // Consecutive failures are forgotten a day after the last one, not the first.
      await store.expire(k.pairFailures, pairMemory);
      const clientBlockMs = clientCount >= ipFailures ? await blockClient(k) : null;
      const pair = pairCount >= consecutiveFailures ? await blockPair(k) : { locked: false, ms: null };
      const blockedMs = Math.max(clientBlockMs ?? -1, pair.ms ?? -1);
      return {
        // Exactly one increment returns the threshold, so the alert fires once per window.
        accountAlert: accountCount === accountFailures,
        locked: pair.locked,
        retryAfterSeconds: blockedMs < 0 ? null : retryAfterSeconds(blockedMs),
      };
    },

    async recordSuccess(accountKey, ip) {
      const k = keys(accountKey, ip);
      await Promise.all([store.delete(k.pairFailures), store.delete(k.pairLevel)]);
    },

    async claim(accountKey, ip) {
      const k = keys(accountKey, ip);
      // The TTLs free the claims even if the process dies mid-attempt; a check takes milliseconds.
      if (!(await store.setIfAbsent(k.pairClaim, '1', CLAIM_TTL))) return null;
      // The client's slots are tried from a random one, so concurrent claims rarely collide.
      const first = randomInt(clientChecksInFlight);
      for (let i = 0; i < clientChecksInFlight; i++) {
        const slot = k.clientClaim((first + i) % clientChecksInFlight);
        if (await store.setIfAbsent(slot, '1', CLAIM_TTL)) {
          return {
            async release() {
              await Promise.all([store.delete(slot), store.delete(k.pairClaim)]);
            },
          };
        }
      }
      await store.delete(k.pairClaim);
      return null;
    },

    async firstRefusal(scope, accountKey, ip, windowMs) {
      const ttlMs = Math.min(Math.max(Math.ceil(windowMs), SECOND_MS), MAX_TTL_MS);
      try {
        return await store.setIfAbsent(keys(accountKey, ip).refused(scope), '1', { ttlMs });
      } catch {
        // Only the event's deduplication failed (e.g. a full memory store): the refusal stands, and is recorded.
        return true;
      }
    },
  };
}

/**
 * A limit of `points` attempts per key per `durationSeconds`, on a rate-limiter-flexible
 * limiter of the store: with Redis every instance shares it, and while Redis is down a
 * per-process insurance limiter keeps limiting. Keys are stored as digests.
 */
export function createAttemptLimiter(options: AttemptLimiterOptions): AttemptLimiter {
  checkStore(options.store);
  const limiter = options.store.createRateLimiter({
    keyPrefix: checkKeyPrefix(options.keyPrefix),
    points: options.points,
    durationSeconds: options.durationSeconds,
    ...(options.blockSeconds === undefined ? {} : { blockDurationSeconds: options.blockSeconds }),
  });
  return {
    async consume(key) {
      try {
        await limiter.consume(digest(key, 'key'));
        return { allowed: true };
      } catch (rejection) {
        // rate-limiter-flexible rejects with a RateLimiterRes when the limit is reached, and
        // with an Error when neither the store nor the insurance limiter answered.
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        return { allowed: false, retryAfterSeconds: retryAfterSeconds(rejection.msBeforeNext) };
      }
    },
  };
}
