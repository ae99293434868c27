import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrateCliDatabase, openCliDatabase } from '../../src/cli/database.js';
import { pruneEventsCommand } from '../../src/cli/events.js';
import { loadConfig } from '../../src/config/config.js';
import { tablesOf, type Database } from '../../src/platform/database.js';
import type { KernelSchema } from '../../src/platform/database-schema.js';
import { pruneEventAddresses } from '../../src/modules/alerts/retention.js';
import { build, privateDatabase, randomIp, tables, testEnvironment } from '../helpers/build.js';
import { testTarget } from '../helpers/target.js';

const DAY_MS = 86_400_000;
const eventsOf = (app: { readonly database: Database }) => tablesOf<Pick<KernelSchema, 'security_events'>>(app.database);

/**
 * After RAMPART_EVENT_RETENTION_DAYS an event keeps everything but its client IP. Each test has
 * a database of its own (pruning is global), and moves the app's clock instead of the rows.
 */
describe('security event retention', () => {
  it('erases the client IP of events older than the retention period, in batches, and keeps the rest of every row', async (t) => {
    let frozen: number | null = null;
    const { app, config } = await build(t, { env: await privateDatabase(t), clock: () => frozen ?? Date.now() });
    const oldIps = [randomIp(), randomIp(), randomIp(), randomIp(), randomIp()];
    for (const ip of oldIps) app.securityEvents.record('authn_login_fail', { clientIp: ip, details: { n: ip } });
    await app.securityEvents.flush();
    const db = tables(app);
    const { last } = await db.selectFrom('security_events').select((eb) => eb.fn.max('occurred_at').as('last')).executeTakeFirstOrThrow();
    await delay(20);
    const recentIp = randomIp();
    app.securityEvents.record('authn_login_fail', { clientIp: recentIp });
    await app.securityEvents.flush();
    const recent = await db.selectFrom('security_events').select('occurred_at').where('client_ip', '=', recentIp).executeTakeFirstOrThrow();
    // The cutoff falls between the two: the first five are "older than the retention period".
    const cutoff = (new Date(last).getTime() + recent.occurred_at.getTime()) / 2;
    frozen = cutoff + config.events.retentionDays * DAY_MS;

    const before = await db.selectFrom('security_events').select(['id', 'event', 'details', 'occurred_at']).where('client_ip', 'in', oldIps).orderBy('id').execute();
    assert.equal(before.length, 5);
    const batched = await pruneEventAddresses(eventsOf(app), { before: new Date(cutoff), batchSize: 2 });
    assert.deepEqual(batched, { erased: before.length, ran: true });
    const after = await db.selectFrom('security_events').select(['id', 'event', 'details', 'occurred_at', 'client_ip']).where('id', 'in', before.map((r) => r.id)).orderBy('id').execute();
    assert.deepEqual(after.map((row) => ({ id: row.id, event: row.event, details: row.details, occurred_at: row.occurred_at })), before, 'only the client IP changed');
    assert.ok(after.every((r) => r.client_ip === null));
    assert.equal((await db.selectFrom('security_events').select('client_ip').where('client_ip', '=', recentIp).execute()).length, 1, 'a recent event keeps its IP');
    // The app's own job (what the hourly timer runs) finds nothing left to do.
    assert.deepEqual(await app.alerts.pruneEvents(), { erased: 0, ran: true });
  });

  it('runs as `rampart events prune` against the configured database', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rampart-prune-'));
    t.after(() => { rmSync(dataDir, { recursive: true, force: true }); });
    const { config } = loadConfig(testEnvironment({ ...(await privateDatabase(t)), RAMPART_DATA_DIR: dataDir }));
    const database = await openCliDatabase(config);
    const ip = randomIp();
    try {
      await migrateCliDatabase(database);
      await tables(database).insertInto('security_events').values({ event: 'authz_fail', severity: 'warn', client_ip: ip, details: '{}' }).execute();
    } finally {
      await database.close();
    }
    const lines: string[] = [];
    assert.equal(await pruneEventsCommand(config, (line) => lines.push(line)), 0);
    assert.match(lines.join('\n'), /^Erased the client IP of 0 security event\(s\) older than 90 days/, 'nothing is old yet');
    lines.length = 0;
    assert.equal(await pruneEventsCommand(config, (line) => lines.push(line), () => Date.now() + (config.events.retentionDays + 1) * DAY_MS), 0);
    assert.match(lines.join('\n'), /^Erased the client IP of 1 security event\(s\) older than 90 days/);
    const reopened = await openCliDatabase(config);
    try {
      const rows = await tables(reopened).selectFrom('security_events').select(['event', 'client_ip']).where('event', '=', 'authz_fail').execute();
      assert.deepEqual(rows, [{ event: 'authz_fail', client_ip: null }]);
    } finally {
      await reopened.close();
    }
  });

  // PGlite is one connection in one process: there is no second instance to exclude there.
  if (testTarget().kind === 'real') it('lets one instance prune at a time: a run that finds the lock held does nothing (real)', async (t) => {
    const env = await privateDatabase(t);
    const { app } = await build(t, { env });
    const ip = randomIp();
    app.securityEvents.record('authz_fail', { clientIp: ip });
    await app.securityEvents.flush();
    const holder = new pg.Client({ connectionString: env.DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select pg_advisory_xact_lock(7220551837015901)');
      const result = await pruneEventAddresses(eventsOf(app), { before: new Date(Date.now() + DAY_MS) });
      assert.deepEqual(result, { erased: 0, ran: false });
      await holder.query('rollback');
    } finally {
      await holder.end();
    }
    assert.deepEqual((await pruneEventAddresses(eventsOf(app), { before: new Date(Date.now() + DAY_MS) })).ran, true);
    assert.equal((await tables(app).selectFrom('security_events').select('id').where('client_ip', '=', ip).execute()).length, 0);
  });
});
