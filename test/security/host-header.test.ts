import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { hostHeaderPlugin } from '../../src/security/host-header.js';
import { securityHeadersPlugin } from '../../src/security/headers.js';
import { problemDetailsPlugin } from '../../src/security/problem-details.js';
import { createChainKeys } from '../../src/security/security-event-chain.js';
import { securityEventsPlugin } from '../../src/security/security-events.js';
import { build, buildUnmanaged, type BuildResult, randomIp, securityEventRows } from '../helpers/build.js';
import { Client } from '../helpers/client.js';
import { startSmtpServer } from '../helpers/smtp-server.js';

function assertBadHost(res: { statusCode: number; headers: Record<string, unknown>; body: string }, label: string): void {
  assert.equal(res.statusCode, 400, label);
  assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', label);
  assert.equal(res.headers['x-content-type-options'], 'nosniff', 'the refusal carries the baseline headers');
  const problem = JSON.parse(res.body) as Record<string, unknown>;
  assert.equal(problem.code, 'RAMPART_ERR_BAD_HOST', label);
  assert.equal(problem.type, 'urn:rampart:problem:bad-host');
  assert.ok(!res.body.includes('evil'), 'the forged host is not echoed');
}

describe('Host header', () => {
  let shared: BuildResult;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  before(async () => {
    smtp = await startSmtpServer();
    shared = await buildUnmanaged({ env: { RAMPART_SMTP_URL: smtp.url, RAMPART_ALLOWED_HOSTS: 'alias.example,probe.internal:3000' } });
  });
  after(async () => {
    await shared.app.close();
    await smtp.close();
  });

  it('refuses a foreign Host with 400 before routing, on every method and path, and records malicious_host_header', async () => {
    const { app } = shared;
    const ip = randomIp();
    const requests = [
      { method: 'GET' as const, url: '/api/status' },
      { method: 'GET' as const, url: '/no-such-route' },
      { method: 'POST' as const, url: '/api/auth/login', payload: { email: 'a@example.com', password: 'x' } },
    ];
    for (const request of requests) {
      const res = await app.inject({ ...request, headers: { host: 'evil.example' }, remoteAddress: ip });
      assertBadHost(res, `${request.method} ${request.url}`);
    }
    const rows = await securityEventRows(app, ip);
    assert.deepEqual(rows.map((r) => [r.event, r.details.host]), requests.map(() => ['malicious_host_header', 'evil.example']), 'one event per refusal, and no CSRF or login event: nothing past the check ran');
  });

  it('compares exactly: look-alikes, suffixes, other ports and junk are refused', async () => {
    const { app } = shared;
    for (const host of ['localhost.evil.example', 'evil.example:3000', 'alias.example.evil.example', 'evilalias.example', 'alias.example:8080', 'probe.internal', 'probe.internal:3001',
      'localhost:3000@evil.example', 'localhost:abc', 'localhost:', '127.0.0.1.nip.io', '127.0.0.2', 'localhost/evil', 'alias.example.', ' localhost', '[::2]:3000', 'x'.repeat(300)]) {
      assertBadHost(await app.inject({ method: 'GET', url: '/healthz', headers: { host }, remoteAddress: randomIp() }), host);
    }
  });

  it('accepts the public host, configured extra hosts and, outside production, loopback on any port', async () => {
    const { app } = shared;
    for (const host of ['localhost:3000', 'localhost', 'LOCALHOST:3000', 'localhost:80', '127.0.0.1:45678', '[::1]:3000', '[::1]', 'alias.example', 'ALIAS.example', 'probe.internal:3000']) {
      const res = await app.inject({ method: 'GET', url: '/healthz', headers: { host }, remoteAddress: randomIp() });
      assert.equal(res.statusCode, 200, host);
    }
  });

  it('never puts the Host a request came with into a mail link', async () => {
    const { app } = shared;
    const email = `host.${randomBytes(5).toString('hex')}@example.com`;
    const client = new Client(app);
    const registered = await client.send({ method: 'POST', url: '/api/auth/register', payload: { name: 'Host Test', email, password: `lantern orbit ${randomBytes(6).toString('hex')} quietly` }, headers: { host: 'alias.example', 'x-forwarded-host': 'evil.example' } });
    assert.equal(registered.statusCode, 201, registered.body);
    const reset = await client.send({ method: 'POST', url: '/api/auth/password-reset/request', payload: { email }, headers: { host: 'alias.example', 'x-forwarded-host': 'evil.example' } });
    assert.equal(reset.statusCode, 202);
    for (const subject of [/confirm/i, /reset/i]) {
      const mail = await smtp.waitFor((m) => m.to.includes(email) && subject.test(m.subject), 10_000);
      const links = [...mail.text.matchAll(/https?:\/\/[^\s]+/g)].map((m) => m[0]);
      assert.ok(links.length > 0);
      for (const link of links) assert.ok(link.startsWith('http://localhost:3000/'), link);
      assert.ok(!mail.raw.includes('alias.example') && !mail.raw.includes('evil.example'), 'no request host anywhere in the mail');
    }
  });
});

describe('Host header behind a proxy', () => {
  it('checks X-Forwarded-Host from a trusted proxy, and ignores it from anyone else', async (t) => {
    const { app } = await build(t, { env: { RAMPART_TRUST_PROXY: '10.1.2.3' } });
    assertBadHost(await app.inject({ method: 'GET', url: '/healthz', headers: { host: 'localhost', 'x-forwarded-host': 'evil.example' }, remoteAddress: '10.1.2.3' }), 'forwarded by the proxy');
    const proxied = await app.inject({ method: 'GET', url: '/healthz', headers: { host: 'rampart-upstream:3000', 'x-forwarded-host': 'localhost:3000' }, remoteAddress: '10.1.2.3' });
    assert.equal(proxied.statusCode, 200, 'the proxy may rewrite Host as long as it forwards the public one');
    const direct = await app.inject({ method: 'GET', url: '/healthz', headers: { host: 'localhost:3000', 'x-forwarded-host': 'evil.example' }, remoteAddress: '203.0.113.5' });
    assert.equal(direct.statusCode, 200, 'an untrusted client cannot choose the host through X-Forwarded-Host');
  });
});

describe('Host header plugin without loopback (production)', () => {
  let app: FastifyInstance;
  let owner: BuildResult;
  before(async () => {
    owner = await buildUnmanaged();
    app = Fastify();
    await app.register(securityEventsPlugin, { db: owner.app.database.db, chain: createChainKeys(owner.app.keyring) });
    await app.register(problemDetailsPlugin);
    await app.register(securityHeadersPlugin);
    await app.register(hostHeaderPlugin, { publicOrigin: 'https://rampart.example.com', allowLoopback: false });
    app.get('/ok', () => ({ ok: true }));
    await app.ready();
  });
  after(async () => {
    await app.close();
    await owner.app.close();
  });

  it('accepts only the public host, with or without its default port', async () => {
    for (const host of ['rampart.example.com', 'rampart.example.com:443', 'Rampart.Example.Com']) {
      assert.equal((await app.inject({ method: 'GET', url: '/ok', headers: { host } })).statusCode, 200, host);
    }
    for (const host of ['localhost', 'localhost:3000', '127.0.0.1', '[::1]:443', 'rampart.example.com:80', 'rampart.example.com:8443', 'www.rampart.example.com', 'rampart.example.com.evil.example']) {
      assertBadHost(await app.inject({ method: 'GET', url: '/ok', headers: { host } }), host);
    }
  });

  it('refuses options it cannot enforce', async () => {
    for (const [options, message] of [
      [{ publicOrigin: 'https://rampart.example.com/', allowLoopback: false }, /publicOrigin/],
      [{ publicOrigin: 'not a url', allowLoopback: false }, /publicOrigin/],
      [{ publicOrigin: 'https://rampart.example.com', allowLoopback: 'yes' }, /allowLoopback/],
      [{ publicOrigin: 'https://rampart.example.com', allowLoopback: false, allowedHosts: ['*.example.com'] }, /allowedHosts/],
      [{ publicOrigin: 'https://rampart.example.com', allowLoopback: false, allowedHosts: ['Upper.example'] }, /allowedHosts/],
    ] as const) {
      const bare = Fastify();
      await bare.register(securityEventsPlugin, { db: owner.app.database.db, chain: createChainKeys(owner.app.keyring) });
      await bare.register(problemDetailsPlugin);
      await assert.rejects(async () => {
        await bare.register(hostHeaderPlugin, options as never);
        await bare.ready();
      }, message);
      await bare.close().catch(() => undefined);
    }
  });
});
