/**
 * PostgreSQL taken away from a running app (through a relay the test stops, so the shared
 * server itself is never touched): requests answer 503 with Retry-After, readiness reports
 * the outage, no security event is lost across the blip, and what a full buffer drops is
 * counted. The embedded target has no database connection to lose (PGlite runs in the
 * process), so this suite needs the real one and defines no case there.
 */
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as wait } from 'node:timers/promises';
import pino from 'pino';
import { openDatabase } from '../../src/platform/database.js';
import { createKeyring } from '../../src/security/keyring.js';
import { createChainKeys } from '../../src/security/security-event-chain.js';
import { createSecurityEvents } from '../../src/security/security-events.js';
import { build, LogCapture, randomIp, securityEventRows } from '../helpers/build.js';
import { testTarget } from '../helpers/target.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

interface Relayed { readonly proxy: TcpProxy; readonly url: string }

/** The run's database behind a relay on 127.0.0.1. */
async function relayedDatabase(t: TestContext, databaseUrl: string): Promise<Relayed> {
  const upstream = new URL(databaseUrl);
  const proxy = await startTcpProxy({ targetHost: upstream.hostname, targetPort: Number(upstream.port || 5432) });
  t.after(() => proxy.stop());
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return { proxy, url: url.toString() };
}

describe('when PostgreSQL becomes unreachable', () => {
  const target = testTarget();
  if (target.kind !== 'real') return;

  it('answers 503 RAMPART_ERR_UNAVAILABLE with Retry-After (never 500), reports not ready, and serves again when it returns', async (t) => {
    const { proxy, url } = await relayedDatabase(t, target.databaseUrl);
    const { app } = await build(t, { env: { DATABASE_URL: url } });
    assert.equal((await app.inject({ method: 'GET', url: '/api/posts', remoteAddress: randomIp() })).statusCode, 200);

    await proxy.stop();
    const list = await app.inject({ method: 'GET', url: '/api/posts', remoteAddress: randomIp() });
    assert.equal(list.statusCode, 503, list.body);
    assert.equal(list.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal((list.json<{ code: string }>()).code, 'RAMPART_ERR_UNAVAILABLE');
    assert.equal(list.headers['retry-after'], '5');
    assert.doesNotMatch(list.body, /ECONN|postgres|pg|terminated/i, 'the body names no library and no host');
    const login = await app.inject({ method: 'POST', url: '/api/auth/token', payload: { email: 'someone@example.com', password: 'a long enough password here' }, remoteAddress: randomIp() });
    assert.equal(login.statusCode, 503, login.body);
    const ready = await app.inject({ method: 'GET', url: '/readyz', remoteAddress: randomIp() });
    assert.equal(ready.statusCode, 503, '/readyz reports the outage');
    assert.equal((await app.inject({ method: 'GET', url: '/healthz', remoteAddress: randomIp() })).statusCode, 200, 'liveness does not depend on the database');

    await proxy.start();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await app.inject({ method: 'GET', url: '/api/posts', remoteAddress: randomIp() })).statusCode;
      if (status !== 200) await wait(100);
    }
    assert.equal(status, 200, 'the pool reconnects by itself');
    assert.equal((await app.inject({ method: 'GET', url: '/readyz', remoteAddress: randomIp() })).statusCode, 200);
  });

  it('loses no security event recorded while the database is away: the rows are written once it returns', async (t) => {
    const { proxy, url } = await relayedDatabase(t, target.databaseUrl);
    const { app, logs } = await build(t, { env: { DATABASE_URL: url } });
    const ip = randomIp();

    await proxy.stop();
    // A schema failure needs no database to be answered, and each one is an input_validation_fail event.
    for (let i = 0; i < 3; i++) {
      const res = await app.inject({ method: 'POST', url: '/api/auth/token', payload: { unexpected: i }, remoteAddress: ip });
      assert.equal(res.statusCode, 400, res.body);
    }
    await app.securityEvents.flush();
    assert.equal(app.securityEvents.stats().buffered, 3, 'the rows are held, not dropped');
    assert.match(logs.text(), /security event rows are held until it answers/);

    await proxy.start();
    const rows = await securityEventRows(app, ip);
    assert.deepEqual(rows.map((row) => row.event), ['input_validation_fail', 'input_validation_fail', 'input_validation_fail']);
    assert.deepEqual(app.securityEvents.stats(), { buffered: 0, dropped: 0 });
    assert.doesNotMatch(logs.text(), /could not write a security event row|dropped/);
  });

  it('counts and logs the rows it drops when the outage outlasts its buffer, and writes the rest in order', async (t) => {
    const { proxy, url } = await relayedDatabase(t, target.databaseUrl);
    const database = await openDatabase({ url, poolMax: 2 });
    t.after(() => database.close());
    const logs = new LogCapture();
    const events = createSecurityEvents({ db: database.db, chain: createChainKeys(createKeyring({ secretKey: randomBytes(32), encryptionKeys: [{ id: 'outage', key: randomBytes(32) }] })), logger: pino(logs), bufferLimit: 2, retryDelayMs: 50 });
    const ip = randomIp();

    await proxy.stop();
    for (const kind of ['first', 'second', 'third', 'fourth']) events.record('authz_fail', { clientIp: ip, details: { kind } });
    assert.deepEqual(events.stats(), { buffered: 2, dropped: 2 });
    const dropLines = logs.entries().filter((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('security event rows dropped'));
    assert.equal(dropLines.length, 2, 'each dropped row is logged');
    assert.equal(logs.entries().filter((entry) => entry.msg === 'security event authz_fail').length, 4, 'the log lines hold all four events');

    await proxy.start();
    await events.flush();
    const rows = await database.db.selectFrom('security_events').select(['details']).where('client_ip', '=', ip).orderBy('id').execute();
    assert.deepEqual(rows.map((row) => (row.details as { kind: string }).kind), ['first', 'second']);
    assert.deepEqual(events.stats(), { buffered: 0, dropped: 2 });
    await events.close();
  });
});
