import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createKeyring } from '../../src/security/keyring.js';
import { CHAIN_GENESIS, createChainKeys, verifyChain } from '../../src/security/security-event-chain.js';
import { build, buildUnmanaged, privateDatabase, tables, testEnvironment } from '../helpers/build.js';
import { sharedByInstances } from '../helpers/stores.js';

describe('the security event hash chain', () => {
  it('stays one line while two instances sharing the database write events at once', async (t) => {
    const env = { ...testEnvironment(), ...(await privateDatabase(t)) };
    const shared = await sharedByInstances();
    t.after(() => shared?.close());
    const instances = [await buildUnmanaged({ env, shared }), await buildUnmanaged({ env, shared })];
    t.after(() => Promise.all(instances.map(({ app }) => app.close())));
    // Interleaved bursts from both writers, each flushing in batches on its own schedule.
    for (let round = 0; round < 5; round += 1) {
      for (const { app } of instances) for (let i = 0; i < 40; i += 1) app.securityEvents.record('input_validation_fail', { details: { round, i } });
      await Promise.all(instances.map(({ app }) => app.securityEvents.flush()));
    }
    const [first] = instances;
    assert.ok(first !== undefined);
    const report = await verifyChain(first.app.database.db, createChainKeys(first.app.keyring));
    assert.equal(report.ok, true, JSON.stringify(report));
    const rows = await tables(first.app).selectFrom('security_events').select(['chain_prev', 'chain_mac']).orderBy('id').execute();
    assert.ok(report.checked >= 400 && report.checked === rows.length, `${report.checked} of ${rows.length} rows`);
    const links = new Set(rows.map((row) => row.chain_prev));
    assert.equal(links.size, rows.length, 'no two rows link to the same predecessor: no fork');
    assert.equal(rows[0]?.chain_prev, CHAIN_GENESIS);
  });

  it('names the first edited row, a row after a deleted one, and a row whose MAC was stripped; a NULLed client_ip is not an edit', async (t) => {
    // Its own database, edited directly as its owner (on PGlite the only role there is).
    const { app } = await build(t, { env: await privateDatabase(t) });
    for (let i = 0; i < 12; i += 1) app.securityEvents.record('authz_fail', { actor: null, clientIp: `10.9.9.${i}`, details: { n: i, route: '/api/x' } });
    await app.securityEvents.flush();
    const db = tables(app);
    const keys = createChainKeys(app.keyring);
    assert.deepEqual(await verifyChain(app.database.db, keys).then((r) => r.ok), true);
    const ids = (await db.selectFrom('security_events').select('id').orderBy('id').execute()).map((row) => row.id);
    const at = (i: number): string => ids[i] ?? assert.fail(`no row ${i}`);

    // What the retention job does to old rows: allowed, the chain does not cover client_ip.
    await db.updateTable('security_events').set({ client_ip: null } as never).where('id', '<=', at(5)).execute();
    assert.equal((await verifyChain(app.database.db, keys)).ok, true, 'client_ip is outside the chain');

    // An edited field.
    const original = await db.selectFrom('security_events').select('details').where('id', '=', at(4)).executeTakeFirstOrThrow();
    await db.updateTable('security_events').set({ details: JSON.stringify({ ...original.details, route: '/api/y' }) } as never).where('id', '=', at(4)).execute();
    assert.deepEqual(await verifyChain(app.database.db, keys), { ok: false, checked: 4, beforeChain: 0, brokenRow: at(4), reason: 'mac_mismatch' });
    await db.updateTable('security_events').set({ details: JSON.stringify(original.details) } as never).where('id', '=', at(4)).execute();
    assert.equal((await verifyChain(app.database.db, keys)).ok, true, 'restored, it verifies again');

    // A MAC recomputed without the key is no MAC: an attacker's SHA-256 or a guess fails the same way.
    await db.updateTable('security_events').set({ event: 'authz_admin', chain_mac: randomBytes(32).toString('base64url') } as never).where('id', '=', at(9)).execute();
    const forged = await verifyChain(app.database.db, keys);
    assert.ok(!forged.ok);
    assert.equal(forged.brokenRow, at(9));

    // A row deleted in the middle: the row after it no longer links.
    await db.deleteFrom('security_events').where('id', '=', at(7)).execute();
    assert.deepEqual(await verifyChain(app.database.db, keys), { ok: false, checked: 7, beforeChain: 0, brokenRow: at(8), reason: 'broken_link' });

    // Stripping the chain fields does not turn a row into one "from before the chain".
    await db.updateTable('security_events').set({ chain_mac: null, chain_prev: null } as never).where('id', '=', at(2)).execute();
    assert.deepEqual(await verifyChain(app.database.db, keys), { ok: false, checked: 2, beforeChain: 0, brokenRow: at(2), reason: 'missing_mac' });
  });

  it('verifies rows chained under the previous secret while it is a fallback, and not once it is gone', async (t) => {
    const { app } = await build(t, { env: await privateDatabase(t) });
    app.securityEvents.record('sys_monitor_disabled', { details: { n: 1 } });
    await app.securityEvents.flush();
    const encryptionKeys = [{ id: 'k', key: randomBytes(32) }];
    const rotated = createKeyring({ secretKey: randomBytes(32), secretKeyFallbacks: [Buffer.from(app.config.secrets.secretKey)], encryptionKeys });
    assert.equal((await verifyChain(app.database.db, createChainKeys(rotated))).ok, true);
    const without = createKeyring({ secretKey: randomBytes(32), encryptionKeys });
    const report = await verifyChain(app.database.db, createChainKeys(without));
    assert.equal(report.ok || report.reason, 'mac_mismatch');
  });
});
