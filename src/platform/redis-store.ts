import { randomInt } from 'node:crypto';
import { Redis, type ClientContext, type Result } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { STORE_ERR_CONNECT, STORE_ERR_UNAVAILABLE, STORE_ERR_WRONG_TYPE } from './errors.js';
import {
  MAX_TTL_MS,
  checkDeltas,
  checkKey,
  checkKeys,
  checkMember,
  checkRateLimiterSpec,
  checkTtl,
  checkValue,
  isPositiveInteger,
  type CounterDelta,
  type CounterState,
  type RateLimiterSpec,
  type StateStore,
  type StoreLogger,
  type TtlOption,
} from './store.js';

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /** `redis://` or `rediss://` URL; its password never appears in errors or logs. */
  readonly url: string;
  /**
   * Prepended by ioredis to every key this store touches, rate-limiter keys included
   * (`rampart:`). Required so the deployment's keys never mix with anything else in the database.
   */
  readonly keyPrefix: string;
  /** Receives one line per outage, per switch to the insurance limiters, and per recovery. */
  readonly logger?: StoreLogger;
  /** How long to wait for a TCP connection, at boot and on each reconnect. Default 5 000. */
  readonly connectTimeoutMs?: number;
  /**
   * How long a command may wait for its reply before it fails with `STORE_ERR_UNAVAILABLE`
   * and the connection is recycled. Covers a Redis that stops answering without closing the
   * socket. Default 2 000.
   */
  readonly commandTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
const MAX_KEY_PREFIX_LENGTH = 128;
// Reconnect backoff: 100 ms doubling to 2 s, plus jitter so a fleet does not reconnect in step.
const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 2_000;
const RECONNECT_JITTER_MS = 100;

// Scripts run atomically in Redis, and an error inside one stops it before the next call,
// which a MULTI would not do: after a failed SADD it would still run PEXPIRE.
// SET NX creates the counter with its TTL only when it is missing; INCR never touches the TTL.
const INCREMENT_SCRIPT = `redis.call('SET', KEYS[1], '0', 'PX', ARGV[1], 'NX')
return redis.call('INCR', KEYS[1])`;
// One counter per key: the same SET NX + INCRBY as above, then the window's PTTL, for each key.
const INCREMENT_MANY_SCRIPT = `local out = {}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, '0', 'PX', ARGV[1], 'NX')
  out[2 * i - 1] = redis.call('INCRBY', key, ARGV[i + 1])
  out[2 * i] = redis.call('PTTL', key)
end
return out`;
const SET_ADD_SCRIPT = `redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    incrementMany(numberOfKeys: number, ...args: (string | number)[]): Result<(number | string)[], Context>;
  }
}

const noopLogger: StoreLogger = { warn() {}, error() {}, info() {} };

/**
 * Connects to Redis, checks it answers, and returns the shared store every instance of a
 * deployment uses. Rejects with `STORE_ERR_CONNECT` (password redacted, cause attached) when
 * Redis cannot be reached: the process should not start half-working.
 *
 * While Redis is down every command fails at once with `STORE_ERR_UNAVAILABLE` instead of
 * queueing, the client reconnects with backoff by itself, and rate limiters switch to their
 * per-process insurance limiters. The outage, the switch and the recovery are each logged once.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<StateStore> {
  const { url, keyPrefix } = options;
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const logger = options.logger ?? noopLogger;
  const redacted = redactUrl(url);
  if (typeof keyPrefix !== 'string' || keyPrefix.length === 0 || keyPrefix.length > MAX_KEY_PREFIX_LENGTH) {
    throw new TypeError(`keyPrefix must be 1–${MAX_KEY_PREFIX_LENGTH} characters long`);
  }
  if (!isPositiveInteger(connectTimeoutMs)) throw new TypeError('connectTimeoutMs must be a positive integer');
  if (!isPositiveInteger(commandTimeoutMs)) throw new TypeError('commandTimeoutMs must be a positive integer');

  const client = new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    // Fail fast while disconnected: a queued command would hold its request open for as long
    // as the outage lasts.
    enableOfflineQueue: false,
    // A command in flight when the connection drops may already have run; replaying it on
    // reconnect could apply an INCR twice. 0 rejects it as soon as the socket closes.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    // A Redis that stops answering without closing the socket: drop the connection so the
    // client reconnects and rate limiters see it is not ready.
    socketTimeout: commandTimeoutMs,
    // Commands issued in the same tick (every request's rate-limit EVALSHA) go out as one write
    // and come back in one read. Each keeps its own reply, error and commandTimeout; a command
    // that cannot be sent still fails at once, since the offline queue stays off.
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(RECONNECT_BASE_MS * 2 ** (attempt - 1), RECONNECT_MAX_MS) + randomInt(RECONNECT_JITTER_MS),
  });

  // EVALSHA with the script body sent only when Redis does not know it yet.
  client.defineCommand('incrementMany', { lua: INCREMENT_MANY_SCRIPT });

  const health = new ConnectionHealth(logger, redacted);
  let bootError: unknown;
  // ioredis prints unhandled 'error' events to the console; they belong in the logger.
  client.on('error', (err: unknown) => {
    if (health.started) health.lost(err);
    else bootError = err;
  });
  client.on('close', () => {
    health.lost(undefined);
  });
  client.on('ready', () => {
    health.restored();
  });

  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new STORE_ERR_CONNECT(redacted, { cause: bootError ?? err });
  }
  health.started = true;
  return new RedisStore(client, health);
}

/** Tracks one outage at a time so each is logged once, however many commands fail in it. */
class ConnectionHealth {
  started = false;
  closing = false;
  #down = false;
  #fallbackLogged = false;
  readonly #logger: StoreLogger;
  readonly #url: string;

  constructor(logger: StoreLogger, url: string) {
    this.#logger = logger;
    this.#url = url;
  }

  lost(err: unknown): void {
    if (!this.started || this.closing || this.#down) return;
    this.#down = true;
    this.#logger.error({ url: this.#url, err }, `Redis connection lost: store operations fail with ${STORE_ERR_UNAVAILABLE.code} while reconnecting`);
  }

  restored(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#fallbackLogged = false;
    this.#logger.info({ url: this.#url }, 'Redis connection restored');
  }

  /** Called on every use of an insurance limiter; logs the first one of an outage. */
  fellBack(limiterKeyPrefix: string): void {
    if (this.#fallbackLogged) return;
    this.#fallbackLogged = true;
    this.#logger.warn(
      { url: this.#url, limiter: limiterKeyPrefix },
      'Redis unreachable: rate limits are enforced per process by insurance limiters until it returns',
    );
  }
}

/** A `RateLimiterMemory` that reports each use, so the switch away from Redis is visible. */
class InsuranceLimiter extends RateLimiterMemory {
  readonly #onUse: () => void;

  constructor(options: ConstructorParameters<typeof RateLimiterMemory>[0], onUse: () => void) {
    super(options);
    this.#onUse = onUse;
  }

  override consume(...args: Parameters<RateLimiterMemory['consume']>): ReturnType<RateLimiterMemory['consume']> {
    this.#onUse();
    return super.consume(...args);
  }

  override penalty(...args: Parameters<RateLimiterMemory['penalty']>): ReturnType<RateLimiterMemory['penalty']> {
    this.#onUse();
    return super.penalty(...args);
  }

  override reward(...args: Parameters<RateLimiterMemory['reward']>): ReturnType<RateLimiterMemory['reward']> {
    this.#onUse();
    return super.reward(...args);
  }

  override get(...args: Parameters<RateLimiterMemory['get']>): ReturnType<RateLimiterMemory['get']> {
    this.#onUse();
    return super.get(...args);
  }

  override set(...args: Parameters<RateLimiterMemory['set']>): ReturnType<RateLimiterMemory['set']> {
    this.#onUse();
    return super.set(...args);
  }

  override block(...args: Parameters<RateLimiterMemory['block']>): ReturnType<RateLimiterMemory['block']> {
    this.#onUse();
    return super.block(...args);
  }

  override delete(...args: Parameters<RateLimiterMemory['delete']>): ReturnType<RateLimiterMemory['delete']> {
    this.#onUse();
    return super.delete(...args);
  }
}

class RedisStore implements StateStore {
  readonly kind = 'redis';
  readonly #client: Redis;
  readonly #health: ConnectionHealth;
  #closed: Promise<void> | undefined;

  constructor(client: Redis, health: ConnectionHealth) {
    this.#client = client;
    this.#health = health;
  }

  async get(key: string): Promise<string | null> {
    checkKey(key);
    return this.#run(() => this.#client.get(key));
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    checkKeys(keys);
    return this.#run(() => this.#client.mget(...keys));
  }

  async set(key: string, value: string, options: TtlOption): Promise<void> {
    checkKey(key);
    checkValue(value);
    const ttl = checkTtl(options, MAX_TTL_MS);
    await this.#run(() => this.#client.set(key, value, 'PX', ttl));
  }

  async setIfAbsent(key: string, value: string, options: TtlOption): Promise<boolean> {
    checkKey(key);
    checkValue(value);
    const ttl = checkTtl(options, MAX_TTL_MS);
    return (await this.#run(() => this.#client.set(key, value, 'PX', ttl, 'NX'))) === 'OK';
  }

  async take(key: string): Promise<string | null> {
    checkKey(key);
    return this.#run(() => this.#client.getdel(key));
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return (await this.#run(() => this.#client.del(key))) > 0;
  }

  async increment(key: string, options: TtlOption): Promise<number> {
    checkKey(key);
    const ttl = checkTtl(options, MAX_TTL_MS);
    return Number(await this.#run(() => this.#client.eval(INCREMENT_SCRIPT, 1, key, ttl)));
  }

  async incrementMany(entries: readonly CounterDelta[], options: TtlOption): Promise<CounterState[]> {
    checkDeltas(entries);
    const ttl = checkTtl(options, MAX_TTL_MS);
    const keys = entries.map((entry) => entry.key);
    const reply = await this.#run(() => this.#client.incrementMany(keys.length, ...keys, ttl, ...entries.map((entry) => entry.by)));
    const states: CounterState[] = [];
    for (let i = 0; i < entries.length; i += 1) states.push({ count: Number(reply[2 * i]), ttlMs: Math.max(0, Number(reply[2 * i + 1])) });
    return states;
  }

  async expire(key: string, options: TtlOption): Promise<boolean> {
    checkKey(key);
    const ttl = checkTtl(options, MAX_TTL_MS);
    return (await this.#run(() => this.#client.pexpire(key, ttl))) === 1;
  }

  async ttlMs(key: string): Promise<number | null> {
    checkKey(key);
    const ttl = await this.#run(() => this.#client.pttl(key));
    // -2: no such key. -1 (no TTL) cannot arise through this store, which writes none.
    return ttl >= 0 ? ttl : null;
  }

  async setAdd(key: string, member: string, options: TtlOption): Promise<void> {
    checkKey(key);
    checkMember(member);
    const ttl = checkTtl(options, MAX_TTL_MS);
    await this.#run(() => this.#client.eval(SET_ADD_SCRIPT, 1, key, member, ttl));
  }

  async setRemove(key: string, member: string): Promise<void> {
    checkKey(key);
    checkMember(member);
    await this.#run(() => this.#client.srem(key, member));
  }

  async setMembers(key: string): Promise<string[]> {
    checkKey(key);
    return this.#run(() => this.#client.smembers(key));
  }

  createRateLimiter(spec: RateLimiterSpec): RateLimiterAbstract {
    checkRateLimiterSpec(spec);
    if (this.#closed !== undefined) throw new STORE_ERR_UNAVAILABLE();
    const limits = {
      keyPrefix: spec.keyPrefix,
      points: spec.points,
      duration: spec.durationSeconds,
      blockDuration: spec.blockDurationSeconds ?? 0,
    };
    return new RateLimiterRedis({
      ...limits,
      // The store's client: ioredis adds the store's keyPrefix to the limiter's keys, which
      // rate-limiter-flexible writes as `${limiter keyPrefix}:${key}` through commands whose
      // key positions ioredis knows (EVALSHA with numkeys, GET, PTTL, SET, DEL).
      storeClient: this.#client,
      useRedisPackage: false,
      // Without this the limiter would still send commands while the client is reconnecting and
      // only fall back once each failed; with it the insurance limiter answers straight away.
      rejectIfRedisNotReady: true,
      insuranceLimiter: new InsuranceLimiter(limits, () => {
        this.#health.fellBack(spec.keyPrefix);
      }),
    });
  }

  async ping(): Promise<void> {
    await this.#run(() => this.#client.ping());
  }

  close(): Promise<void> {
    this.#closed ??= this.#quit();
    return this.#closed;
  }

  async #quit(): Promise<void> {
    this.#health.closing = true;
    if (this.#client.status === 'ready') {
      try {
        await this.#client.quit();
        return;
      } catch {
        // QUIT could not be delivered; dropping the socket is all that is left to do.
      }
    }
    this.#client.disconnect();
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      throw translateError(err);
    }
  }
}

function translateError(err: unknown): Error {
  const message = err instanceof Error ? err.message : '';
  // Redis's own replies for an operation on the wrong kind of value; scripts carry them through.
  if (/^(?:WRONGTYPE |ERR value is not an integer|ERR increment or decrement would overflow)/.test(message)) {
    return new STORE_ERR_WRONG_TYPE({ cause: err });
  }
  return new STORE_ERR_UNAVAILABLE({ cause: err });
}

/** The URL for messages and logs: its password replaced, and nothing at all if it does not parse. */
function redactUrl(url: string): string {
  if (typeof url !== 'string') throw new TypeError('url must be a string');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The unparsed text may be nothing but a password; it must not reach the message.
    throw new TypeError('url must be a redis:// or rediss:// URL (it does not parse)');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`url must be a redis:// or rediss:// URL (got ${parsed.protocol})`);
  }
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}
