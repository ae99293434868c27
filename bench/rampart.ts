import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Redis } from 'ioredis';
import { buildRampart } from '../src/app.js';
import { loadConfig, type Config } from '../src/config/config.js';
import { createLogDestination } from '../src/security/logging.js';

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const SCAN_BATCH = 500;

export interface BenchRampartOptions {
  /** Settings on top of the bench defaults (e.g. the rate-limit budget). */
  readonly env?: Readonly<Record<string, string>>;
  readonly plugins?: readonly FastifyPluginAsync[];
  /**
   * Redis to use; `null` for the in-memory store (the embedded twin). Default:
   * `RAMPART_BENCH_REDIS_URL` or redis://127.0.0.1:6379.
   */
  readonly redisUrl?: string | null;
  /** PostgreSQL to migrate and use; `null` for embedded PGlite in memory. Default: `RAMPART_BENCH_DATABASE_URL`, else PGlite. */
  readonly databaseUrl?: string | null;
  /** The Redis key prefix of this Rampart (default `rampart-bench:<random>:`); every key under it is deleted on close. */
  readonly redisPrefix?: string;
  /** `false`: no metrics collection (see BuildOptions.metrics). Default true. */
  readonly metrics?: boolean;
}

/** Read-only views into this run's Redis keys, for a scenario's evidence lines. */
export interface RedisInspector {
  /** The value at a key of this run (the prefix is added here). */
  get(key: string): Promise<string | null>;
  /** How many keys this run holds. */
  countKeys(): Promise<number>;
  /** The Redis server's call count for one command (server-wide: other clients count too). */
  commandCalls(command: string): Promise<number>;
}

/** A listening Rampart with the full stack, on the bench's own Redis prefix. */
export interface BenchRampart {
  readonly app: FastifyInstance;
  readonly config: Config;
  readonly origin: string;
  readonly redisPrefix: string;
  readonly redis: RedisInspector;
  /** Closes the app, then deletes every key under the run's prefix. */
  close(): Promise<void>;
}

/**
 * The environment a bench Rampart runs with: fresh random secrets, real Redis, and the
 * embedded database unless `RAMPART_BENCH_DATABASE_URL` names a PostgreSQL to migrate and use.
 * Built from scratch rather than from `process.env`, so the bench's own variables are never
 * mistaken for Rampart settings and nothing in the caller's shell changes what is measured.
 */
function benchEnvironment(redisUrl: string | null, databaseUrl: string | null, redisPrefix: string, overrides: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    RAMPART_HOST: '127.0.0.1',
    RAMPART_LOG_LEVEL: 'info',
    RAMPART_SECRET_KEY: randomBytes(32).toString('base64url'),
    RAMPART_ENCRYPTION_KEYS: `bench-1:${randomBytes(32).toString('base64url')}`,
    RAMPART_PUBLIC_URL: 'http://localhost:3000',
    RAMPART_REDIS_PREFIX: redisPrefix,
  };
  if (redisUrl !== null) env.REDIS_URL = redisUrl;
  if (databaseUrl !== null) env.DATABASE_URL = databaseUrl;
  return { ...env, ...overrides };
}

/** Deletes every key under `prefix`; how many there were. */
export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', SCAN_BATCH);
    cursor = next;
    if (keys.length > 0) deleted += await client.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

async function countKeys(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let count = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', SCAN_BATCH);
    cursor = next;
    count += keys.length;
  } while (cursor !== '0');
  return count;
}

async function commandCalls(client: Redis, command: string): Promise<number> {
  const info = await client.info('commandstats');
  const line = info.split('\n').find((l) => l.startsWith(`cmdstat_${command.toLowerCase()}:`));
  const match = line === undefined ? null : /calls=(\d+)/.exec(line);
  return match === null ? 0 : Number(match[1]);
}

/**
 * Starts Rampart exactly as `buildRampart` assembles it (every protection on), listening on
 * an ephemeral loopback port. Log lines are written in full, through Rampart's default
 * destination, to /dev/null.
 */
export async function startBenchRampart(options: BenchRampartOptions = {}): Promise<BenchRampart> {
  const redisUrl = options.redisUrl === undefined ? (process.env.RAMPART_BENCH_REDIS_URL ?? DEFAULT_REDIS_URL) : options.redisUrl;
  const envDatabase = process.env.RAMPART_BENCH_DATABASE_URL;
  const databaseUrl = options.databaseUrl === undefined ? (envDatabase === undefined || envDatabase === '' ? null : envDatabase) : options.databaseUrl;
  const redisPrefix = options.redisPrefix ?? `rampart-bench:${randomBytes(6).toString('hex')}:`;
  // A client of our own, without the prefix, to inspect and finally delete the run's keys.
  const inspector = redisUrl === null ? null : new Redis(redisUrl, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  if (inspector !== null && redisUrl !== null) {
    try {
      await inspector.connect();
    } catch (err) {
      inspector.disconnect();
      throw new Error(`Redis is unreachable at ${redactUrl(redisUrl)}: start it, or set RAMPART_BENCH_REDIS_URL.`, { cause: err });
    }
  }
  const { config } = loadConfig(benchEnvironment(redisUrl, databaseUrl, redisPrefix, options.env ?? {}));
  // Rampart's own default destination (what `npm start` writes stdout through: buffered,
  // asynchronous), pointed at /dev/null so the lines cost what they cost without flooding a terminal.
  const logDestination = createLogDestination({ dest: '/dev/null' });
  const cleanUp = async (): Promise<void> => {
    logDestination.end();
    if (inspector === null) return;
    try {
      await deleteKeys(inspector, redisPrefix);
    } finally {
      await inspector.quit();
    }
  };
  let app: FastifyInstance;
  try {
    app = await buildRampart({ config, logStream: logDestination, plugins: options.plugins, metrics: options.metrics ?? true });
  } catch (err) {
    await cleanUp();
    throw err;
  }
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    await app.close();
    await cleanUp();
    throw err;
  }
  const { port } = app.server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    app,
    config,
    origin: `http://127.0.0.1:${port}`,
    redisPrefix,
    redis: {
      get: (key) => (inspector === null ? Promise.resolve(null) : inspector.get(`${redisPrefix}${key}`)),
      countKeys: () => (inspector === null ? Promise.resolve(0) : countKeys(inspector, redisPrefix)),
      commandCalls: (command) => (inspector === null ? Promise.resolve(0) : commandCalls(inspector, command)),
    },
    close() {
      closed ??= (async () => {
        try {
          await app.close();
        } finally {
          await cleanUp();
        }
      })();
      return closed;
    },
  };
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
