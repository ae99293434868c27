import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { build, randomIp, tables } from '../helpers/build.js';

/**
 * A flood of identical security events (one IP hammering the login) must not fill the table or
 * stall the database: the first rows of a window are written, the rest are counted into one
 * appended summary row, and no row is ever updated.
 */
describe('security event coalescing', () => {
  it('keeps a flood of 5 000 identical events to a bounded number of rows whose counts add up exactly', async (t) => {
    let now = Date.now();
    const { app, config } = await build(t, { clock: () => now });
    const ip = randomIp();
    const account = randomBytes(32).toString('base64url');
    const flood = 5_000;
    for (let i = 0; i < flood; i += 1) app.securityEvents.record('authn_login_fail', { clientIp: ip, details: { email_index: account } });
    // A second window: the clock moves past the first, and 1 234 more arrive.
    now += config.events.coalesceWindowMs;
    for (let i = 0; i < 1_234; i += 1) app.securityEvents.record('authn_login_fail', { clientIp: ip, details: { email_index: account } });
    await app.securityEvents.flush();
    const rows = await tables(app).selectFrom('security_events').select(['id', 'event', 'client_ip', 'details']).where('client_ip', '=', ip).orderBy('id').execute();
    const perWindow = config.events.coalesceRows;
    assert.equal(rows.length, 2 * (perWindow + 1), 'each window: its first rows and one summary');
    const total = rows.reduce((sum, row) => sum + (row.details.coalesced === true ? Number(row.details.count) : 1), 0);
    assert.equal(total, flood + 1_234, 'the rows stand for every event, exactly');
    const summaries = rows.filter((row) => row.details.coalesced === true);
    assert.deepEqual(summaries.map((row) => row.details.count), [flood - perWindow, 1_234 - perWindow]);
    for (const summary of summaries) {
      assert.equal(summary.event, 'authn_login_fail');
      assert.equal(summary.details.email_index, account, 'the summary keeps the events\' details');
      assert.ok(typeof summary.details.window_start === 'string' && typeof summary.details.window_end === 'string');
    }
    // The log still holds every event: coalescing is about the table.
    assert.equal(app.securityEvents.stats().dropped, 0);
  });

  it('does not merge events that differ in actor, IP or details', async (t) => {
    const { app, config } = await build(t);
    const ip = randomIp();
    const perWindow = config.events.coalesceRows;
    for (let i = 0; i < perWindow + 5; i += 1) {
      app.securityEvents.record('authz_fail', { clientIp: ip, details: { route: `/r/${i}` } });
      app.securityEvents.record('authz_fail', { clientIp: ip, actor: `user-${i}`, details: { route: '/same' } });
    }
    await app.securityEvents.flush();
    const rows = await tables(app).selectFrom('security_events').select('details').where('client_ip', '=', ip).execute();
    assert.equal(rows.length, 2 * (perWindow + 5));
    assert.ok(rows.every((row) => row.details.coalesced === undefined));
  });
});
