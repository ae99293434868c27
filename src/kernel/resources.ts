import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import { openDatabase, type Database, type PgliteTemplate } from '../platform/database.js';
import { createOutboxMailer, createSmtpMailer, type Mailer } from '../platform/mailer.js';
import { createMemoryStore } from '../platform/memory-store.js';
import { createRedisStore } from '../platform/redis-store.js';
import type { StateStore } from '../platform/store.js';
import { PRE_SESSION_KEY_PREFIX } from '../security/csrf.js';
import { createPasswordHasher, type PasswordHasher } from '../security/password-hashing.js';
import { createPasswordPolicy, type PasswordPolicy } from '../security/password-policy.js';

/** An already open database and state store, shared by several instances in one process (tests, benchmarks). */
export interface SharedResources {
  readonly database: Database;
  readonly store: StateStore;
}

/** What the kernel opens before any plugin: the database, the state store, the mailer and the password machinery. */
export interface Resources {
  readonly database: Database;
  readonly store: StateStore;
  readonly mailer: Mailer;
  readonly passwords: PasswordHasher;
  readonly policy: PasswordPolicy;
}

/** Without SMTP (development only: production refuses it) each message becomes an .eml file in the outbox. */
function openMailer(config: Config, app: FastifyInstance): Mailer {
  return config.mail.smtpUrl === null
    ? createOutboxMailer({ directory: `${config.dataDir}/outbox`, from: config.mail.from, logger: app.log })
    : createSmtpMailer({ url: config.mail.smtpUrl, from: config.mail.from, logger: app.log });
}

/** Opens the database, the state store and the mailer for this configuration. */
export async function openResources(config: Config, app: FastifyInstance, shared: SharedResources | undefined, pgliteTemplate: PgliteTemplate | undefined): Promise<Resources> {
  // Built first and before any plugin: nothing to leak if they fail, and the policy's
  // dictionaries and the dummy hash take CPU time that the load-shedding monitor would
  // otherwise count as an event-loop stall at boot.
  const passwords = await createPasswordHasher({ parameters: config.passwords.argon2, maxConcurrent: config.passwords.hashConcurrency });
  const policy = createPasswordPolicy({ minLength: config.passwords.minLength });
  if (shared !== undefined) {
    return { database: shared.database, store: shared.store, mailer: openMailer(config, app), passwords, policy };
  }
  const database = await openDatabase({
    url: config.database.url ?? undefined,
    migrationUrl: config.database.migrationUrl ?? undefined,
    // Tests get a throwaway in-memory PGlite; everything else keeps its data under the data directory.
    dataDir: config.database.url !== null ? undefined : config.env === 'test' ? 'memory://' : `${config.dataDir}/pglite`,
    template: config.database.url === null && config.env === 'test' ? pgliteTemplate : undefined,
    logger: app.log,
  });
  try {
    const store = config.store.redisUrl === null
      // Full, it evicts only pre-sessions: a flood of anonymous visitors must not push out a
      // brute-force block or a session; other writes then fail closed with STORE_ERR_FULL.
      ? createMemoryStore({ logger: app.log, evictable: (key) => key.startsWith(PRE_SESSION_KEY_PREFIX) })
      : await createRedisStore({ url: config.store.redisUrl, keyPrefix: config.store.keyPrefix, logger: app.log });
    return { database, store, mailer: openMailer(config, app), passwords, policy };
  } catch (err) {
    await database.close();
    throw err;
  }
}
