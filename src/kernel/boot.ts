import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyPluginCallback } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { DestinationStream } from 'pino';
import type { Config } from '../config/config.js';
import { missingEncryptionKeyFinding } from '../config/encryption-keys.js';
import { ConfigError } from '../config/findings.js';
import { findMissingKeyRows, type EncryptedColumn } from '../security/key-maintenance.js';
import type { NamedMigration, PgliteTemplate } from '../platform/database.js';
import type { LoadSheddingOptions } from '../security/load-shedding.js';
import { createLogDestination, drainLogs } from '../security/logging.js';
import { openResources, type Resources, type SharedResources } from './resources.js';
import { serverOptions } from './server-options.js';

export interface BuildOptions {
  readonly config: Config;
  /**
   * Where log lines go; when absent, stdout through a buffered asynchronous writer
   * (`createLogDestination`) that is written out on close and on exit. Tests pass a stream to
   * read them back.
   */
  readonly logStream?: DestinationStream;
  /** Run pending migrations before serving (default true). */
  readonly migrate?: boolean;
  /** Test seam: sample the load gauges faster than production does. */
  readonly loadShedding?: Partial<LoadSheddingOptions>;
  /**
   * Your own routes, registered after Rampart's kernel and modules, so they inherit every
   * protection and must keep the same route contract (access rule and schemas).
   */
  readonly plugins?: readonly FastifyPluginAsync[];
  /** An open database and state store to use instead of opening them (several instances in one process). The caller closes them. */
  readonly shared?: SharedResources;
  /** Test seam: the clock API tokens and signing keys run on (default `Date.now`). */
  readonly clock?: () => number;
  /**
   * Benchmark seam: `false` collects no metrics at all (no registry, no hooks, no timing of the
   * store, hasher or database, no `/metrics`), so a run can price them. Default true.
   */
  readonly metrics?: boolean;
  /** Test seam: the test environment's in-memory PGlite starts as a copy of this migrated database. */
  readonly pgliteTemplate?: PgliteTemplate;
}

/** What the application's plugin (app.ts) is registered with. */
export interface KernelOptions {
  readonly config: Config;
  readonly resources: Resources;
  readonly loadShedding?: Partial<LoadSheddingOptions>;
  readonly plugins: readonly FastifyPluginAsync[];
  readonly clock: () => number;
  readonly metrics: boolean;
}

/**
 * Builds a ready-to-listen Rampart instance: opens the database and store, migrates, and
 * registers everything. Closing it flushes mail and security events, then closes the store
 * and the database (unless they were shared).
 */
export async function bootRampart(
  options: BuildOptions,
  application: FastifyPluginCallback<KernelOptions> | FastifyPluginAsync<KernelOptions>,
  migrations: readonly NamedMigration[],
  encryptedColumns: readonly EncryptedColumn[] = [],
): Promise<FastifyInstance> {
  const { config } = options;
  const logStream = options.logStream ?? createLogDestination();
  const app = Fastify(serverOptions(config, logStream)).withTypeProvider<ZodTypeProvider>();
  let resources: Resources;
  try {
    resources = await openResources(config, app, options.shared, options.pgliteTemplate);
    if (options.migrate !== false) await resources.database.migrate(migrations);
    // A row sealed under a key that was removed would fail on first use, far from its cause:
    // refuse to start and name the column, the key and the fix instead (one scan per column).
    const missing = await findMissingKeyRows(resources.database.db, encryptedColumns, config.secrets.encryptionKeys.map((key) => key.id));
    if (missing.length > 0) {
      if (options.shared === undefined) {
        await resources.store.close();
        await resources.database.close();
      }
      throw new ConfigError([missingEncryptionKeyFinding(missing)]);
    }
  } catch (err) {
    await app.close();
    throw err;
  }
  const { database, store, mailer } = resources;
  const closeResources = async () => {
    await mailer.close();
    if (options.shared !== undefined) return;
    await store.close();
    await database.close();
  };
  app.addHook('onClose', async (instance) => {
    // Writes in flight first (account mail, security events), then the resources they use.
    if (instance.hasDecorator('accounts')) await instance.accounts.flush();
    if (instance.hasDecorator('securityEvents')) await instance.securityEvents.close();
    await closeResources();
    // The lines of the close itself included; what is logged after this goes out on exit.
    await drainLogs(logStream);
  });
  try {
    await app.register(application, { config, resources, loadShedding: options.loadShedding, plugins: options.plugins ?? [], clock: options.clock ?? Date.now, metrics: options.metrics ?? true });
    await app.ready();
  } catch (err) {
    // A plugin that breaks the route contract (or any boot failure) must not leak open pools.
    await closeResources();
    throw err;
  }
  return app;
}
