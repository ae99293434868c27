import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { build, buildUnmanaged, type BuildResult, randomIp, securityEventRows } from '../helpers/build.js';
import { CookieJar } from '../helpers/cookie-jar.js';

type Headers = Record<string, string | string[] | number | undefined>;

// Headers a browser applies to a document (and what it loads): pages carry them, API answers do not.
const PAGE_ONLY_HEADERS = ['referrer-policy', 'cross-origin-opener-policy', 'origin-agent-cluster', 'permissions-policy', 'x-xss-protection', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies', 'reporting-endpoints'];

/** An API answer (JSON, problem+json): the OWASP REST set, and nothing a browser needs only for a document. */
function assertBaselineHeaders(headers: Headers): void {
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['x-frame-options'], 'DENY');
  assert.equal(headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'");
  assert.equal(headers['cross-origin-resource-policy'], 'same-origin');
  assert.equal(headers['cache-control'], 'no-store');
  assert.equal(headers['x-powered-by'], undefined);
  assert.equal(headers.server, undefined);
  assert.equal(headers['strict-transport-security'], undefined, 'HSTS is only sent over HTTPS');
  for (const name of PAGE_ONLY_HEADERS) assert.equal(headers[name], undefined, `${name} is for documents, not API answers`);
}

/** A page: the browser set on top of the API's, with the page's own CSP and Referrer-Policy. */
function assertPageHeaders(headers: Headers): void {
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['x-frame-options'], 'DENY');
  assert.match(String(headers['content-security-policy']), /^default-src 'self'; script-src 'nonce-[A-Za-z0-9+/]{22}==' 'strict-dynamic'; .*frame-ancestors 'none'/);
  assert.equal(headers['referrer-policy'], 'same-origin');
  assert.equal(headers['cross-origin-opener-policy'], 'same-origin');
  assert.equal(headers['cross-origin-resource-policy'], 'same-origin');
  assert.equal(headers['origin-agent-cluster'], '?1');
  assert.equal(headers['x-xss-protection'], '0');
  assert.equal(headers['x-dns-prefetch-control'], 'off');
  assert.equal(headers['x-permitted-cross-domain-policies'], 'none');
  assert.match(String(headers['permissions-policy']), /camera=\(\), .*geolocation=\(\), .*microphone=\(\)/);
  // Passkeys: Rampart's own pages may use WebAuthn, no other origin (not even in a frame) may.
  assert.match(String(headers['permissions-policy']), /(^|, )publickey-credentials-create=\(self\)(,|$)/);
  assert.match(String(headers['permissions-policy']), /(^|, )publickey-credentials-get=\(self\)(,|$)/);
  assert.match(String(headers['reporting-endpoints']), /^csp-endpoint="http:\/\/[^"]+\/csp-report"$/);
  assert.equal(headers['cache-control'], 'no-store');
  assert.equal(headers['x-powered-by'], undefined);
  assert.equal(headers.server, undefined);
  assert.equal(headers['strict-transport-security'], undefined, 'HSTS is only sent over HTTPS');
}

function assertSafeProblem(body: string, status: number, code: string): Record<string, unknown> {
  const problem = JSON.parse(body) as Record<string, unknown>;
  assert.equal(problem.status, status);
  assert.equal(problem.code, code);
  assert.equal(typeof problem.title, 'string');
  assert.match(String(problem.traceId), /^[0-9a-f-]{36}$/);
  assert.equal(problem.type, `urn:rampart:problem:${code.replace('RAMPART_ERR_', '').toLowerCase().replaceAll('_', '-')}`);
  assert.doesNotMatch(body, /stack|node_modules|\/src\/|\.ts:|at [A-Za-z]+ \(|SELECT|fastify|zod|kysely|postgres/i);
  return problem;
}

// A route that reads a scalar query value and a JSON body, and one that fails unexpectedly.
const probeRoutes: FastifyPluginAsyncZod = (app) => {
  app.post('/api/probe', {
    config: { access: 'public' },
    schema: {
      querystring: z.strictObject({ q: z.string().max(20).optional() }),
      body: z.strictObject({ name: z.string().max(50), nested: z.strictObject({ value: z.number() }).optional() }),
      response: { 200: z.object({ name: z.string() }) },
    },
  }, (request) => ({ name: request.body.name, leaked: 'not in the schema' }));
  app.get('/api/probe', {
    config: { access: 'public' },
    schema: { querystring: z.strictObject({ q: z.string().max(20) }), response: { 200: z.object({ q: z.string() }) } },
  }, (request) => ({ q: request.query.q }));
  app.get('/api/probe/csrf', {
    config: { access: 'public' },
    schema: { querystring: z.strictObject({}), response: { 200: z.object({ token: z.string() }) } },
  }, async (request) => ({ token: await request.csrfToken() }));
  app.get('/api/explode', {
    config: { access: 'public' },
    schema: { querystring: z.strictObject({}), response: { 200: z.object({}) } },
  }, () => {
    throw new Error('SELECT password FROM users WHERE id = 1 at /srv/rampart/src/secret.ts:12');
  });
  return Promise.resolve();
};

describe('security baseline', () => {
  let shared: BuildResult;
  // One app for the suite (PGlite takes seconds to start); each test uses its own client IP.
  before(async () => {
    shared = await buildUnmanaged({ plugins: [probeRoutes], env: { RAMPART_SECURITY_CONTACT: 'mailto:sec@example.com', RAMPART_SECURITY_TXT_EXPIRES: '2027-05-01T00:00:00Z' } });
  });
  after(() => shared.app.close());
  it('answers an unknown route with a 404 problem carrying every baseline header', async () => {
    const { app } = shared;
    const res = await app.inject({ method: 'GET', url: '/no-such-route' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    assertBaselineHeaders(res.headers);
    assertSafeProblem(res.body, 404, 'RAMPART_ERR_NOT_FOUND');
  });

  it('sends the baseline headers on success responses, with no-store on the API', async () => {
    const { app } = shared;
    for (const url of ['/healthz', '/api/status', '/readyz']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assertBaselineHeaders(res.headers);
    }
  });

  it('sends pages the browser header set, and an HTML 404 the same', async () => {
    const { app } = shared;
    const login = await app.inject({ method: 'GET', url: '/login', headers: { accept: 'text/html' }, remoteAddress: randomIp() });
    assert.equal(login.statusCode, 200);
    assertPageHeaders(login.headers);
    const missing = await app.inject({ method: 'GET', url: '/no-such-page', headers: { accept: 'text/html' }, remoteAddress: randomIp() });
    assert.equal(missing.statusCode, 404);
    assert.match(String(missing.headers['content-type']), /^text\/html/);
    assertPageHeaders(missing.headers);
  });


  it('refuses a 20 KiB JSON body with 413', async () => {
    const { app } = shared;
    const res = await app.inject({ method: 'POST', url: '/api/probe', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x'.repeat(20 * 1024) }) });
    assert.equal(res.statusCode, 413);
    assertBaselineHeaders(res.headers);
    assertSafeProblem(res.body, 413, 'RAMPART_ERR_BODY_TOO_LARGE');
  });

  it('refuses malformed JSON with 400 and records input_validation_fail', async () => {
    const { app } = shared;
    const ip = randomIp();
    const res = await app.inject({ method: 'POST', url: '/api/probe', headers: { 'content-type': 'application/json' }, payload: '{"a":', remoteAddress: ip });
    assert.equal(res.statusCode, 400);
    assertSafeProblem(res.body, 400, 'RAMPART_ERR_MALFORMED_JSON');
    const rows = await securityEventRows(app, ip);
    assert.deepEqual(rows.map((r) => [r.event, r.details.reason]), [['input_validation_fail', 'malformed_json']]);
  });

  for (const [label, payload] of [
    ['__proto__', '{"name":"a","__proto__":{"isAdmin":true}}'],
    ['nested __proto__', '{"name":"a","nested":{"__proto__":{"x":1}}}'],
    ['constructor.prototype', '{"name":"a","constructor":{"prototype":{"x":1}}}'],
    ['$gt operator', '{"$gt":""}'],
    ['$ne operator in a field', '{"name":{"$ne":null}}'],
    ['operator in an array', '{"name":"a","list":[{"$where":"1"}]}'],
    ['deep nesting', `{"name":"a","nested":${'{"a":'.repeat(1500)}{"$ne":1}${'}'.repeat(1500)}}`],
  ] as const) {
    it(`refuses a body with a forbidden key (${label}) with 400 before validation`, async () => {
      const { app } = shared;
      const ip = randomIp();
      const res = await app.inject({ method: 'POST', url: '/api/probe', headers: { 'content-type': 'application/json' }, payload, remoteAddress: ip });
      assert.equal(res.statusCode, 400);
      assertSafeProblem(res.body, 400, 'RAMPART_ERR_FORBIDDEN_KEY');
      const rows = await securityEventRows(app, ip);
      assert.deepEqual(rows.map((r) => [r.event, r.details.reason, r.details.location]), [['input_validation_fail', 'forbidden_key', 'body']]);
    });
  }

  for (const query of ['__proto__[x]=1', '__proto__=1', 'constructor[prototype][x]=1', '$where=1', 'q[$ne]=1']) {
    it(`refuses a forbidden query key (${query}) with 400`, async () => {
      const { app } = shared;
      const res = await app.inject({ method: 'GET', url: `/api/probe?${query}` });
      assert.equal(res.statusCode, 400);
      const problem = JSON.parse(res.body) as { code: string };
      assert.ok(['RAMPART_ERR_FORBIDDEN_KEY', 'RAMPART_ERR_VALIDATION'].includes(problem.code), problem.code);
    });
  }

  it('refuses a repeated query key where the schema wants one value', async () => {
    const { app } = shared;
    const ok = await app.inject({ method: 'GET', url: '/api/probe?q=one' });
    assert.equal(ok.statusCode, 200);
    const res = await app.inject({ method: 'GET', url: '/api/probe?q=one&q=two' });
    assert.equal(res.statusCode, 400);
    const problem = assertSafeProblem(res.body, 400, 'RAMPART_ERR_VALIDATION');
    assert.deepEqual((problem.errors as { location: string; path: string }[]).map((e) => [e.location, e.path]), [['querystring', '/q']]);
  });

  it('reports validation failures by field path without echoing the value', async () => {
    const { app } = shared;
    const secret = 'hunter2-this-value-must-not-echo';
    const res = await app.inject({ method: 'POST', url: '/api/probe', headers: { 'content-type': 'application/json' }, payload: { name: 12, extra: secret, nested: { value: secret } } });
    assert.equal(res.statusCode, 400);
    assert.ok(!res.body.includes(secret));
    const problem = assertSafeProblem(res.body, 400, 'RAMPART_ERR_VALIDATION');
    const paths = (problem.errors as { path: string }[]).map((e) => e.path).sort();
    assert.deepEqual(paths, ['', '/name', '/nested/value'].sort());
  });

  it('refuses unknown query keys on every route', async () => {
    const { app } = shared;
    const res = await app.inject({ method: 'GET', url: '/api/status?debug=1' });
    assert.equal(res.statusCode, 400);
    assertSafeProblem(res.body, 400, 'RAMPART_ERR_VALIDATION');
  });

  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml']) {
    it(`refuses a ${type.split(';')[0]} body with 415, so a cross-site form cannot reach a JSON route`, async () => {
      const { app } = shared;
      const res = await app.inject({ method: 'POST', url: '/api/probe', headers: { 'content-type': type }, payload: 'name=a' });
      assert.equal(res.statusCode, 415);
      assertBaselineHeaders(res.headers);
      assertSafeProblem(res.body, 415, 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE');
    });
  }

  it('serializes only the fields a response schema declares', async () => {
    const { app } = shared;
    // A real client: the CSRF token (bound to its pre-session cookie) goes with the POST.
    const jar = new CookieJar();
    const csrf = jar.take(await app.inject({ method: 'GET', url: '/api/probe/csrf' }));
    const { token } = JSON.parse(csrf.body) as { token: string };
    const res = await app.inject({ method: 'POST', url: '/api/probe', headers: { ...jar.headers(), 'x-csrf-token': token }, payload: { name: 'ada' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(JSON.parse(res.body), { name: 'ada' });
  });

  it('hides everything about an unexpected error behind a 500 problem and logs it', async () => {
    const { app, logs } = shared;
    const res = await app.inject({ method: 'GET', url: '/api/explode' });
    assert.equal(res.statusCode, 500);
    assertBaselineHeaders(res.headers);
    const problem = assertSafeProblem(res.body, 500, 'RAMPART_ERR_INTERNAL');
    assert.equal(problem.title, 'Internal server error.');
    assert.ok(logs.text().includes('SELECT password FROM users'), 'the log keeps the detail for operators');
  });


  it('serves an RFC 9116 security.txt with contact, expiry and canonical URLs (outside production, the loopback addresses too)', async () => {
    const { app } = shared;
    const res = await app.inject({ method: 'GET', url: '/.well-known/security.txt' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.body, 'Contact: mailto:sec@example.com\nExpires: 2027-05-01T00:00:00.000Z\nPreferred-Languages: en\nCanonical: http://localhost:3000/.well-known/security.txt\nCanonical: http://127.0.0.1:3000/.well-known/security.txt\nCanonical: http://[::1]:3000/.well-known/security.txt\n');
  });

  it('reveals no version in health and readiness answers', async () => {
    const { app } = shared;
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    assert.deepEqual(JSON.parse(ready.body), { status: 'ready' });
  });
});

// Registers routes after a tick, as an async plugin would, so a contract violation rejects the boot.
function deferred(register: (app: Parameters<FastifyPluginAsyncZod>[0]) => void): FastifyPluginAsyncZod {
  return (app) => Promise.resolve().then(() => { register(app); });
}

// These build their own app: never while the shared one is alive, because embedded PGlite
// starts on the main thread and the stall would make the shared app shed load.
describe('proxy trust', () => {
  it('sends HSTS only when the request arrived over HTTPS through a trusted proxy', async (t) => {
    const { app } = await build(t, { env: { RAMPART_TRUST_PROXY: '127.0.0.1' } });
    const https = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(https.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
    const spoofed = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-forwarded-proto': 'https' }, remoteAddress: '203.0.113.9' });
    assert.equal(spoofed.headers['strict-transport-security'], undefined, 'an untrusted client cannot claim HTTPS');
  });
  it('ignores a client-supplied request id unless it comes from a trusted proxy', async (t) => {
    const { app } = await build(t, { env: { RAMPART_TRUST_PROXY: '10.9.9.9' } });
    const direct = await app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'forged-id' }, remoteAddress: '203.0.113.7' });
    assert.notEqual((JSON.parse(direct.body) as { traceId: string }).traceId, 'forged-id');
    const proxied = await app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'lb-1234' }, remoteAddress: '10.9.9.9' });
    assert.equal((JSON.parse(proxied.body) as { traceId: string }).traceId, 'lb-1234');
  });
});

describe('route contract', () => {
  it('declares an access rule, a querystring and a response schema on every route', async (t) => {
    const { app } = await build(t);
    assert.ok(app.routeTable.length >= 4);
    for (const route of app.routeTable) {
      // The mailed email-change links are the proof themselves and must work signed out.
      const mailedLink = route.url === '/api/account/email/confirm' || route.url === '/api/account/email/undo';
      const signedInOnly = !mailedLink && (route.url === '/api/me' || route.url.startsWith('/api/account') || route.url.startsWith('/account'));
      // Every other route's rule is checked by the route-table walk in authorization.test.ts.
      if (signedInOnly) assert.equal(route.access, 'authenticated', `${route.method} ${route.url}`);
    }
  });

  const missing: [string, FastifyPluginAsyncZod][] = [
    ['no access rule', deferred((app) => { app.get('/x', { schema: { querystring: z.strictObject({}), response: { 200: z.object({}) } } }, () => ({})); })],
    ['no response schema', deferred((app) => { app.get('/x', { config: { access: 'public' }, schema: { querystring: z.strictObject({}) } }, () => ({})); })],
    ['no querystring schema', deferred((app) => { app.get('/x', { config: { access: 'public' }, schema: { response: { 200: z.object({}) } } }, () => ({})); })],
    ['no params schema', deferred((app) => { app.get('/x/:id', { config: { access: 'public' }, schema: { querystring: z.strictObject({}), response: { 200: z.object({}) } } }, () => ({})); })],
    ['no body schema', deferred((app) => { app.post('/x', { config: { access: 'public' }, schema: { querystring: z.strictObject({}), response: { 200: z.object({}) } } }, () => ({})); })],
  ];
  for (const [label, plugin] of missing) {
    it(`refuses to boot with a route that declares ${label}`, async (t) => {
      await assert.rejects(build(t, { plugins: [plugin] }), /Route (GET|POST) \/x/);
    });
  }
});
