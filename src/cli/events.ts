import type { Config } from '../config/config.js';
import { tablesOf } from '../platform/database.js';
import type { KernelSchema } from '../platform/database-schema.js';
import { pruneEventAddresses } from '../modules/alerts/retention.js';
import { createChainKeys, verifyChain, type ChainReport } from '../security/security-event-chain.js';
import { cliKeyring } from './keys.js';
import { migrateCliDatabase, openCliDatabase } from './database.js';

const DAY_MS = 86_400_000;

/**
 * `rampart events prune`: erases the client IP of security events older than
 * RAMPART_EVENT_RETENTION_DAYS, in batches, as the running servers do hourly. The same advisory
 * lock keeps it from running alongside a server's run.
 */
export async function pruneEventsCommand(config: Config, out: (text: string) => void, now: () => number = Date.now): Promise<number> {
  const database = await openCliDatabase(config);
  try {
    await migrateCliDatabase(database);
    const before = new Date(now() - config.events.retentionDays * DAY_MS);
    const { erased, ran } = await pruneEventAddresses(tablesOf<Pick<KernelSchema, 'security_events'>>(database), { before });
    if (!ran) {
      out('Another instance is pruning security events right now; nothing was done. Run it again later.');
      return 1;
    }
    out(`Erased the client IP of ${erased} security event(s) older than ${config.events.retentionDays} days (before ${before.toISOString()}).`);
    return 0;
  } finally {
    await database.close();
  }
}

const REASONS: Readonly<Record<Exclude<ChainReport, { ok: true }>['reason'], string>> = {
  missing_mac: 'it has no chain MAC, though the chain had begun (its chain fields were removed)',
  broken_link: 'it does not link to the row before it (a row before it was deleted or reordered, or its chain fields were changed)',
  mac_mismatch: 'its MAC does not verify under RAMPART_SECRET_KEY or any fallback (a field was changed after it was written, or it was written under a secret no longer configured)',
};

/**
 * `rampart events verify`: checks the security event log's hash chain from its genesis row to
 * the newest row. Exit 0 when intact; 1 naming the first broken row.
 */
export async function verifyEventsCommand(config: Config, out: (text: string) => void): Promise<number> {
  const database = await openCliDatabase(config);
  try {
    await migrateCliDatabase(database);
    const report = await verifyChain(database.db, createChainKeys(cliKeyring(config)), (checked) => {
      if (!process.stderr.isTTY) process.stderr.write(`${JSON.stringify({ progress: 'events-verify', done: checked })}\n`);
      else process.stderr.write(`\rchecked ${checked} row(s)`);
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    const before = report.beforeChain > 0 ? ` ${report.beforeChain} row(s) from before the chain began are not covered.` : '';
    if (report.ok) {
      out(`The security event chain is intact: ${report.checked} row(s) verified.${before}`);
      return 0;
    }
    out(`The security event chain is broken at row ${report.brokenRow}: ${REASONS[report.reason]}. ${report.checked} row(s) before it verified.${before}`);
    return 1;
  } finally {
    await database.close();
  }
}
