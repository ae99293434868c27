import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { build } from '../helpers/build.js';

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example';

describe('CORS', () => {
  it('is off by default: no Access-Control-Allow-* for any origin', async (t) => {
    const { app } = await build(t);
    const res = await app.inject({ method: 'GET', url: '/api/status', headers: { origin: EVIL } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const preflight = await app.inject({ method: 'OPTIONS', url: '/api/status', headers: { origin: EVIL, 'access-control-request-method': 'POST' } });
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.equal(preflight.headers['access-control-allow-methods'], undefined);
  });

  it('allows exactly the configured origins, with credentials, and nothing that merely resembles them', async (t) => {
    const { app } = await build(t, { env: { RAMPART_CORS_ORIGINS: APP, RAMPART_CORS_CREDENTIALS: 'true' } });
    const ok = await app.inject({ method: 'GET', url: '/api/status', headers: { origin: APP } });
    assert.equal(ok.headers['access-control-allow-origin'], APP);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    assert.match(String(ok.headers.vary), /Origin/);
    for (const origin of [EVIL, 'https://app.example.com.evil.example', 'https://evilapp.example.com', 'http://app.example.com', 'null', `${APP}:8443`]) {
      const res = await app.inject({ method: 'GET', url: '/api/status', headers: { origin } });
      assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
      assert.equal(res.headers['access-control-allow-credentials'], undefined, origin);
    }
  });

  it('answers a preflight from an allowed origin and gives a foreign one no Access-Control-Allow-*', async (t) => {
    const { app } = await build(t, { env: { RAMPART_CORS_ORIGINS: APP } });
    const allowed = await app.inject({ method: 'OPTIONS', url: '/api/status', headers: { origin: APP, 'access-control-request-method': 'POST' } });
    assert.equal(allowed.statusCode, 204);
    assert.equal(allowed.headers['access-control-allow-origin'], APP);
    assert.equal(allowed.headers['access-control-allow-credentials'], undefined, 'credentials are off unless configured');
    assert.match(String(allowed.headers['access-control-allow-headers']), /X-CSRF-Token/);
    const foreign = await app.inject({ method: 'OPTIONS', url: '/api/status', headers: { origin: EVIL, 'access-control-request-method': 'POST' } });
    assert.notEqual(foreign.statusCode, 204);
    for (const header of Object.keys(foreign.headers)) assert.ok(!header.startsWith('access-control-allow'), header);
  });

  it('refuses to start with `*` and credentials in any environment', async (t) => {
    await assert.rejects(build(t, { env: { RAMPART_CORS_ORIGINS: '*', RAMPART_CORS_CREDENTIALS: 'true' } }), /RAMPART-E030/);
  });
});
