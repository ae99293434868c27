/**
 * The one place tests open the test target's database and state store themselves (an app built
 * by `build()` opens its own): PGlite and the memory store on the embedded target; the run's
 * PostgreSQL database and Redis, under a key prefix of the run's own, on the real target.
 */
import { Redis } from 'ioredis';
import { openDatabase, type Database, type DatabaseOptions } from '../../src/platform/database.js';
import { createMemoryStore } from '../../src/platform/memory-store.js';
import { createRedisStore } from '../../src/platform/redis-store.js';
import type { StateStore } from '../../src/platform/store.js';
import { testTarget, uniquePrefix } from './target.js';

/** A database and a store opened together, for `buildUnmanaged({ shared })`; the test closes them. */
export interface TargetResources {
  readonly database: Database;
  readonly store: StateStore;
  close(): Promise<void>;
}

/** The target's state store: a new memory store, or Redis under a fresh prefix (`label` names it) inside the run's. */
export async function openTargetStore(label: string): Promise<StateStore> {
  const target = testTarget();
  return target.kind === 'real' ? createRedisStore({ url: target.redisUrl, keyPrefix: uniquePrefix(target, label) }) : createMemoryStore();
}

/** Options opening the target's database: a new in-memory PGlite, or a new pool on the run's PostgreSQL database. */
export function targetDatabaseOptions(extra: Partial<DatabaseOptions> = {}): DatabaseOptions {
  const target = testTarget();
  return target.kind === 'real' ? { url: target.databaseUrl, ...extra } : { dataDir: 'memory://', ...extra };
}

/** The target's database (see {@link targetDatabaseOptions}). */
export async function openTargetDatabase(): Promise<Database> {
  return openDatabase(targetDatabaseOptions());
}

/**
 * The settings that point a Rampart (an app or a server process) at the target's services:
 * none on the embedded target (it opens PGlite and the memory store itself); on the real one
 * the run's database, Redis under a fresh prefix (`label` names it) inside the run's, and the
 * run's secrets, which the signing keys in the shared database are encrypted under.
 */
export function targetServiceEnvironment(label: string): Record<string, string> {
  const target = testTarget();
  if (target.kind === 'embedded') return {};
  return {
    DATABASE_URL: target.databaseUrl,
    REDIS_URL: target.redisUrl,
    RAMPART_REDIS_PREFIX: uniquePrefix(target, label),
    RAMPART_SECRET_KEY: target.secretKey,
    RAMPART_ENCRYPTION_KEYS: target.encryptionKeys,
  };
}

/** The target's database and state store together. */
export async function openTargetResources(label: string): Promise<TargetResources> {
  const database = await openTargetDatabase();
  const store = await openTargetStore(label);
  return {
    database,
    store,
    async close() {
      await store.close();
      await database.close();
    },
  };
}

/**
 * What instances of one deployment are given to share. Embedded instances can only share a
 * database and a store as objects: one PGlite and one memory store. On the real target they
 * are given nothing (`undefined`): each opens its own connections to the run's PostgreSQL and
 * to the Redis prefix of the environment they are built with, as separate processes would.
 */
export async function sharedByInstances(): Promise<TargetResources | undefined> {
  return testTarget().kind === 'embedded' ? openTargetResources('instances') : undefined;
}

/** A store opened for a store-level test, and a way to reach the same data again. */
export interface StoreHandles {
  readonly store: StateStore;
  /** Another handle on the same data: a second connection for Redis, the same object in memory. */
  another(): Promise<StateStore>;
  close(): Promise<void>;
}

/** Redis stores on one fresh key prefix of the run (real target only). */
export interface RedisStores extends StoreHandles {
  readonly keyPrefix: string;
  /** Every key under the prefix. */
  keys(): Promise<string[]>;
}

function redisTarget(): { url: string; target: Parameters<typeof uniquePrefix>[0] } {
  const target = testTarget();
  if (target.kind !== 'real') throw new Error('Redis is only there on the real target');
  return { url: target.redisUrl, target };
}

export async function openRedisStores(label: string): Promise<RedisStores> {
  const { url, target } = redisTarget();
  const keyPrefix = uniquePrefix(target, label);
  const stores = [await createRedisStore({ url, keyPrefix })];
  return {
    store: stores[0]!,
    keyPrefix,
    async another() {
      const store = await createRedisStore({ url, keyPrefix });
      stores.push(store);
      return store;
    },
    keys: () => redisKeys(`${keyPrefix}*`),
    async close() {
      await Promise.all(stores.map((store) => store.close()));
    },
  };
}

async function withRedis<T>(use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis(redisTarget().url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

async function scan(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** The Redis keys matching `pattern` (a SCAN pattern), read on a connection of its own. */
export function redisKeys(pattern: string): Promise<string[]> {
  return withRedis((redis) => scan(redis, pattern));
}

/**
 * Deletes every key under `prefix` (a test's own), as a Redis restart without persistence
 * would lose them; returns how many there were. Never FLUSHALL: the server is shared.
 */
export function deleteRedisKeys(prefix: string): Promise<number> {
  return withRedis(async (redis) => {
    const keys = await scan(redis, `${prefix}*`);
    return keys.length === 0 ? 0 : redis.del(...keys);
  });
}
