import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { inspectEnvironment } from '../../src/config/config.js';
import { randomIp, suiteApp, testEnvironment } from '../helpers/build.js';
import { Client } from '../helpers/client.js';

const APP = 'https://app.example.com';
const ADMIN = 'https://admin.example.com';
const EVIL = 'https://evil.example';

function varyValues(header: string | string[] | number | undefined): string[] {
  return (Array.isArray(header) ? header.join(',') : String(header ?? '')).split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== '');
}

function assertVary(header: string | string[] | number | undefined, label: string): void {
  const values = varyValues(header);
  assert.ok(values.includes('origin') && values.includes('sec-fetch-site'), `${label}: Vary is ${String(header)}`);
  assert.equal(new Set(values).size, values.length, `${label}: no value twice in ${String(header)}`);
}

// A route that sets its own Vary, which must survive next to the kernel's.
const varyRoute: FastifyPluginAsyncZod = (app) => {
  app.get('/api/test/vary', {
    config: { access: 'public' },
    schema: { querystring: z.strictObject({}), response: { 200: z.object({ ok: z.boolean() }) } },
  }, (_request, reply) => {
    reply.header('vary', 'Accept-Encoding');
    return { ok: true };
  });
  return Promise.resolve();
};

describe('request origin: Vary, CSRF trusted origins and CORS', () => {
  const shared = suiteApp({ plugins: [varyRoute], env: { RAMPART_CORS_ORIGINS: APP, RAMPART_CORS_CREDENTIALS: 'true', RAMPART_CSRF_TRUSTED_ORIGINS: ADMIN } });

  it('sends Vary: Origin, Sec-Fetch-Site on every response, merged with the values others set', async () => {
    const { app } = shared;
    const ip = randomIp();
    const cases = [
      ['GET 200', { method: 'GET' as const, url: '/api/status' }],
      ['GET 404', { method: 'GET' as const, url: '/no-such-route' }],
      ['bad host', { method: 'GET' as const, url: '/api/status', headers: { host: 'evil.example' } }],
      ['CSRF refusal', { method: 'POST' as const, url: '/api/auth/login', payload: { email: 'a@example.com', password: 'x' } }],
      ['415', { method: 'POST' as const, url: '/api/auth/login', headers: { 'content-type': 'text/plain' }, payload: 'x' }],
      ['CORS preflight', { method: 'OPTIONS' as const, url: '/api/status', headers: { origin: APP, 'access-control-request-method': 'POST' } }],
      ['CORS request', { method: 'GET' as const, url: '/api/status', headers: { origin: APP } }],
    ] as const;
    for (const [label, request] of cases) {
      const res = await app.inject({ ...request, remoteAddress: ip });
      assertVary(res.headers.vary, `${label} (${res.statusCode})`);
    }
    const own = await app.inject({ method: 'GET', url: '/api/test/vary', remoteAddress: ip });
    assertVary(own.headers.vary, 'a route with its own Vary');
    assert.ok(varyValues(own.headers.vary).includes('accept-encoding'), 'the route\'s own value is kept');
  });

  it('accepts Sec-Fetch-Site: same-site only from an origin in RAMPART_CSRF_TRUSTED_ORIGINS', async () => {
    const { app } = shared;
    const login = { email: 'nobody@example.com', password: 'not the password at all' };
    // 401 means the request got past CSRF to the login check; 403 means CSRF refused it.
    const trusted = await new Client(app).post('/api/auth/login', login, { headers: { 'sec-fetch-site': 'same-site', origin: ADMIN } });
    assert.equal(trusted.statusCode, 401, trusted.body);
    for (const origin of ['https://blog.example.com', APP, `${ADMIN}:8443`, 'http://admin.example.com']) {
      const refused = await new Client(app).post('/api/auth/login', login, { headers: { 'sec-fetch-site': 'same-site', origin } });
      assert.equal(refused.statusCode, 403, origin);
      assert.equal((JSON.parse(refused.body) as { code: string }).code, 'CSRF_ERR_INVALID');
    }
  });

  it('does not let a CORS origin past CSRF: a credentialed cross-origin POST still needs a trusted origin', async () => {
    const { app } = shared;
    const res = await new Client(app).post('/api/auth/login', { email: 'nobody@example.com', password: 'not the password at all' }, { headers: { 'sec-fetch-site': 'cross-site', origin: APP } });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['access-control-allow-origin'], APP, 'CORS lets the page read the refusal, nothing more');
  });

  it('gives a preflight from any other origin no Access-Control-Allow-*, even with credentials on', async () => {
    const { app } = shared;
    for (const origin of [EVIL, 'null', 'HTTPS://APP.EXAMPLE.COM', `${APP}/`, `${APP}.evil.example`, 'http://app.example.com', ADMIN]) {
      const res = await app.inject({ method: 'OPTIONS', url: '/api/auth/login', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-csrf-token' }, remoteAddress: randomIp() });
      assert.notEqual(res.statusCode, 204, origin);
      for (const name of Object.keys(res.headers)) assert.ok(!name.startsWith('access-control-'), `${origin}: ${name}`);
    }
    const allowed = await app.inject({ method: 'OPTIONS', url: '/api/auth/login', headers: { origin: APP, 'access-control-request-method': 'POST' }, remoteAddress: randomIp() });
    assert.equal(allowed.statusCode, 204);
    assert.equal(allowed.headers['access-control-allow-credentials'], 'true');
    assert.equal(allowed.headers['access-control-allow-origin'], APP, 'the exact origin, never *');
  });

  it('answers a cross-site form or text POST to a JSON route with 415', async () => {
    const { app } = shared;
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': type, origin: EVIL, 'sec-fetch-site': 'cross-site' }, payload: 'email=a%40example.com&password=x', remoteAddress: randomIp() });
      assert.equal(res.statusCode, 415, type);
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE');
    }
  });
});

describe('request origin settings', () => {
  it('refuses CSRF trusted origins that are not exact origins', () => {
    for (const value of ['*', 'null', 'https://admin.example.com/', 'admin.example.com', 'https://admin.example.com/path', 'javascript:alert(1)']) {
      const { config, problems } = inspectEnvironment(testEnvironment({ RAMPART_CSRF_TRUSTED_ORIGINS: value }));
      assert.equal(config, null, value);
      assert.ok(problems.some((p) => p.id === 'RAMPART-E091' && p.setting === 'RAMPART_CSRF_TRUSTED_ORIGINS'), value);
    }
  });

  it('refuses allowed hosts that are not exact hosts', () => {
    for (const value of ['*', '*.example.com', 'https://rampart.example', 'rampart.example/x', 'rampart.example:99999', 'user@rampart.example', '[not-ipv6]']) {
      const { problems } = inspectEnvironment(testEnvironment({ RAMPART_ALLOWED_HOSTS: value }));
      assert.ok(problems.some((p) => p.setting === 'RAMPART_ALLOWED_HOSTS'), value);
    }
    const { config } = inspectEnvironment(testEnvironment({ RAMPART_ALLOWED_HOSTS: 'Probe.Internal:3000, 10.0.0.5, [::1]:8080' }));
    assert.deepEqual(config?.allowedHosts, ['probe.internal:3000', '10.0.0.5', '[::1]:8080']);
  });

  it('refuses an HTTP redirect port without TLS or without an https public URL, and preload without https at deploy', () => {
    const noTls = inspectEnvironment(testEnvironment({ RAMPART_HTTP_REDIRECT_PORT: '8080', RAMPART_PUBLIC_URL: 'https://rampart.example' }));
    assert.ok(noTls.problems.some((p) => p.setting === 'RAMPART_HTTP_REDIRECT_PORT' && /without TLS/.test(p.reason)));
    const preload = inspectEnvironment(testEnvironment({ RAMPART_HSTS_PRELOAD: 'true' }));
    assert.ok(preload.deploy.some((f) => f.id === 'RAMPART-E021' && f.severity === 'error'));
    const preloadHttps = inspectEnvironment(testEnvironment({ RAMPART_HSTS_PRELOAD: 'true', RAMPART_PUBLIC_URL: 'https://rampart.example' }));
    assert.ok(!preloadHttps.deploy.some((f) => f.id === 'RAMPART-E021'));
  });
});
