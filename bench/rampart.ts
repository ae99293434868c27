import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Redis } from 'ioredis';
import { buildRampart } from '../src/app.js';
import { loadConfig, type Config } from '../src/config/config.js';

const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const SCAN_BATCH = 500;

export interface BenchRampartOptions {
  /** Settings on top of the bench defaults (e.g. the rate-limit budget). */
  readonly env?: Readonly<Record<string, string>>;
  readonly plugins?: readonly FastifyPluginAsync[];
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
function benchEnvironment(redisUrl: string, redisPrefix: string, overrides: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    RAMPART_HOST: '127.0.0.1',
    RAMPART_LOG_LEVEL: 'info',
    RAMPART_SECRET_KEY: randomBytes(32).toString('base64url'),
    RAMPART_ENCRYPTION_KEYS: `bench-1:${randomBytes(32).toString('base64url')}`,
    RAMPART_PUBLIC_URL: 'http://localhost:3000',
    REDIS_URL: redisUrl,
    RAMPART_REDIS_PREFIX: redisPrefix,
  };
  const databaseUrl = process.env.RAMPART_BENCH_DATABASE_URL;
  if (databaseUrl !== undefined && databaseUrl !== '') env.DATABASE_URL = databaseUrl;
  return { ...env, ...overrides };
}

/**
 * Where the bench Rampart's log lines go: one synchronous write(2) per line to /dev/null,
 * the same system call per line that pino's default stdout destination makes, without
 * flooding the terminal.
 */
class DevNullLog extends Writable {
  readonly #fd = openSync('/dev/null', 'w');

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    writeSync(this.#fd, chunk);
    callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    closeSync(this.#fd);
    callback();
  }
}

async function deleteKeys(client: Redis, prefix: string): Promise<number> {
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
 * an ephemeral loopback port. Log lines are written in full, as in production, to /dev/null.
 */
export async function startBenchRampart(options: BenchRampartOptions = {}): Promise<BenchRampart> {
  const redisUrl = process.env.RAMPART_BENCH_REDIS_URL ?? DEFAULT_REDIS_URL;
  const redisPrefix = `rampart-bench:${randomBytes(6).toString('hex')}:`;
  // A client of our own, without the prefix, to inspect and finally delete the run's keys.
  const inspector = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await inspector.connect();
  } catch (err) {
    inspector.disconnect();
    throw new Error(`Redis is unreachable at ${redactUrl(redisUrl)}: start it, or set RAMPART_BENCH_REDIS_URL.`, { cause: err });
  }
  const { config } = loadConfig(benchEnvironment(redisUrl, redisPrefix, options.env ?? {}));
  const logDestination = new DevNullLog();
  const cleanUp = async (): Promise<void> => {
    logDestination.end();
    try {
      await deleteKeys(inspector, redisPrefix);
    } finally {
      await inspector.quit();
    }
  };
  let app: FastifyInstance;
  try {
    app = await buildRampart({ config, logStream: logDestination, plugins: options.plugins });
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
      get: (key) => inspector.get(`${redisPrefix}${key}`),
      countKeys: () => countKeys(inspector, redisPrefix),
      commandCalls: (command) => commandCalls(inspector, command),
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
