import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildRampart } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { developmentLoopbackOrigins } from '../../src/config/hosts.js';
import { LogCapture, randomIp, testEnvironment } from '../helpers/build.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { csrfField } from '../helpers/pages.js';

const PORT = 3000 + (randomBytes(2).readUInt16BE(0) % 5000);
const PUBLIC = `http://localhost:${PORT}`;

function developmentConfig(): Config {
  return loadConfig(testEnvironment({ NODE_ENV: 'development', RAMPART_PORT: String(PORT), RAMPART_PUBLIC_URL: PUBLIC })).config;
}

/**
 * The registration form posted as a browser at `origin` posts it: Host, Origin and
 * Fetch-Metadata of that address, with the form's own CSRF token and pre-session cookie.
 */
async function register(app: FastifyInstance, origin: string): Promise<{ status: number; body: string }> {
  const host = new URL(origin).host;
  const ip = randomIp();
  const page = await app.inject({ method: 'GET', url: '/register', headers: { host, accept: 'text/html' }, remoteAddress: ip });
  assert.equal(page.statusCode, 200, page.body);
  const jar = new CookieJar();
  jar.take(page);
  const fields = new URLSearchParams({ _csrf: csrfField(page.body), name: 'Loopback Tester', email: `loop.${randomBytes(5).toString('hex')}@example.com`, password: `quiet harbour ${randomBytes(6).toString('hex')} lanterns` });
  const res = await app.inject({
    method: 'POST', url: '/register', remoteAddress: ip, payload: fields.toString(),
    headers: { host, origin, 'sec-fetch-site': 'same-origin', ...jar.headers(), accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
  });
  return { status: res.statusCode, body: res.body };
}

describe('forms at the loopback addresses a development server prints', () => {
  it('lists localhost, 127.0.0.1 and [::1] on the listening and public ports, without the public origin', () => {
    assert.deepEqual(developmentLoopbackOrigins({ publicOrigin: 'http://localhost:3000', port: 3000, tls: false }).sort(), ['http://127.0.0.1:3000', 'http://[::1]:3000']);
    assert.deepEqual(developmentLoopbackOrigins({ publicOrigin: 'http://localhost:8080', port: 3000, tls: false }).sort(), [
      'http://127.0.0.1:3000', 'http://127.0.0.1:8080', 'http://[::1]:3000', 'http://[::1]:8080', 'http://localhost:3000',
    ]);
    assert.deepEqual(developmentLoopbackOrigins({ publicOrigin: 'https://dev.example.com', port: 8443, tls: true }).sort(), ['https://127.0.0.1:8443', 'https://[::1]:8443', 'https://localhost:8443']);
    assert.deepEqual(developmentLoopbackOrigins({ publicOrigin: 'https://dev.example.com', port: 0, tls: false }), []);
  });

  it('development accepts a form from http://127.0.0.1:<port> and http://[::1]:<port> beside http://localhost:<port>, and still refuses another port', async (t) => {
    const logs = new LogCapture();
    const app = await buildRampart({ config: developmentConfig(), logStream: logs });
    t.after(() => app.close());
    for (const origin of [PUBLIC, `http://127.0.0.1:${PORT}`, `http://[::1]:${PORT}`]) {
      const res = await register(app, origin);
      assert.equal(res.status, 303, `${origin}: ${res.body.slice(0, 300)}`);
    }
    const other = await register(app, `http://127.0.0.1:${PORT + 1}`);
    assert.equal(other.status, 403, 'a loopback origin on another port is another site');
    assert.match(other.body, /CSRF_ERR_INVALID/);
  });

  it('security.txt names every address a development server answers at as canonical; production only the public URL', async (t) => {
    // One after the other: a development config opens the embedded database on disk, which
    // one process holds at a time.
    const development = await buildRampart({ config: developmentConfig(), logStream: new LogCapture() });
    const served = await development.inject({ method: 'GET', url: '/.well-known/security.txt', headers: { host: `127.0.0.1:${PORT}` } });
    assert.equal(served.statusCode, 200);
    const canonical = served.body.split('\n').filter((line) => line.startsWith('Canonical: ')).sort();
    assert.deepEqual(canonical, [PUBLIC, `http://127.0.0.1:${PORT}`, `http://[::1]:${PORT}`].map((origin) => `Canonical: ${origin}/.well-known/security.txt`).sort());
    await development.close();
    const production = await buildRampart({ config: { ...developmentConfig(), env: 'production', isProduction: true }, logStream: new LogCapture() });
    t.after(() => production.close());
    const only = await production.inject({ method: 'GET', url: '/.well-known/security.txt', headers: { host: `localhost:${PORT}` } });
    assert.deepEqual(only.body.split('\n').filter((line) => line.startsWith('Canonical: ')), [`Canonical: ${PUBLIC}/.well-known/security.txt`]);
  });

  it('production keeps the exact-origin check: a loopback origin other than the public one is refused', async (t) => {
    const development = developmentConfig();
    const config: Config = { ...development, env: 'production', isProduction: true };
    const logs = new LogCapture();
    const app = await buildRampart({ config, logStream: logs });
    t.after(() => app.close());
    assert.equal((await register(app, PUBLIC)).status, 303);
    for (const host of [`127.0.0.1:${PORT}`, `[::1]:${PORT}`]) {
      const res = await app.inject({ method: 'GET', url: '/register', headers: { host, accept: 'text/html' }, remoteAddress: randomIp() });
      assert.equal(res.statusCode, 400, `production serves no page at ${host}`);
    }
    // With the public Host, only the Origin differs: the CSRF guard itself refuses it.
    const ip = randomIp();
    const page = await app.inject({ method: 'GET', url: '/register', headers: { host: `localhost:${PORT}`, accept: 'text/html' }, remoteAddress: ip });
    const jar = new CookieJar();
    jar.take(page);
    const res = await app.inject({
      method: 'POST', url: '/register', remoteAddress: ip,
      payload: new URLSearchParams({ _csrf: csrfField(page.body), name: 'X', email: 'x@example.com', password: 'y' }).toString(),
      headers: { host: `localhost:${PORT}`, origin: `http://127.0.0.1:${PORT}`, 'sec-fetch-site': 'same-origin', ...jar.headers(), accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.statusCode, 403);
    assert.match(res.body, /CSRF_ERR_INVALID/);
  });
});
