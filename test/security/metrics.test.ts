import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createMetrics, createMetricsServer } from '../../src/security/metrics.js';
import { build, suiteApp } from '../helpers/build.js';
import { Client, injectRetryingShed } from '../helpers/client.js';
import { createVerifiedUser, signedIn, strongPassword } from '../helpers/users.js';

const TOKEN = randomBytes(32).toString('base64url');

/** The value of one series in an exposition text, or null when it is absent. */
function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

function seriesCount(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).length;
}

async function scrape(app: FastifyInstance): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` }, remoteAddress: '10.200.0.1' });
  assert.equal(res.statusCode, 200, res.body);
  return res.body;
}

describe('metrics on the main port, with a token', () => {
  const rampart = suiteApp({ env: { RAMPART_METRICS_TOKEN: TOKEN } });

  it('refuses a scrape without the token, with a wrong one, or with another scheme: 401 problem+json and no data', async () => {
    const { app } = rampart;
    const wrong = TOKEN.slice(0, -1) + (TOKEN.endsWith('A') ? 'B' : 'A');
    const attempts: (string | undefined)[] = [undefined, `Bearer ${wrong}`, `Bearer ${TOKEN}x`, `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, TOKEN, 'Bearer ', `Bearer ${TOKEN} ${TOKEN}`];
    for (const authorization of attempts) {
      const res = await app.inject({ method: 'GET', url: '/metrics', headers: authorization === undefined ? {} : { authorization }, remoteAddress: '10.201.0.1' });
      assert.equal(res.statusCode, 401, String(authorization));
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal((JSON.parse(res.body) as { code: string }).code, 'AUTH_ERR_INVALID_TOKEN');
      assert.doesNotMatch(res.body, /rampart_|# HELP/);
      assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    }
    const text = await scrape(app);
    assert.ok((sample(text, 'rampart_security_events_total{event="authn_token_invalid",severity="warn"}') ?? 0) >= attempts.length, 'each refusal is a security event');
  });

  it('serves the exposition format with the token, labelled by route template', async () => {
    const { app } = rampart;
    assert.equal((await app.inject({ method: 'GET', url: '/api/status', remoteAddress: '10.202.0.1' })).statusCode, 200);
    const missing = await app.inject({ method: 'GET', url: `/api/posts/${randomUUID()}`, remoteAddress: '10.202.0.1' });
    assert.equal(missing.statusCode, 404);
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `bearer ${TOKEN}` }, remoteAddress: '10.202.0.1' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.equal(res.headers['cache-control'], 'no-store');
    const text = res.body;
    assert.ok((sample(text, 'rampart_http_requests_total{method="GET",route="/api/status",status_code="200"}') ?? 0) >= 1);
    assert.ok((sample(text, 'rampart_http_requests_total{method="GET",route="/api/posts/:id",status_code="404"}') ?? 0) >= 1, 'a 404 from a matched route keeps its template');
    assert.doesNotMatch(text, /route="\/api\/posts\/[0-9a-f]{8}-/, 'never a raw URL');
    const count = sample(text, 'rampart_http_request_duration_seconds_count{method="GET",route="/api/status"}') ?? 0;
    assert.ok(count >= 1);
    // Buckets are cumulative and end at the count, as the exposition format requires.
    const buckets = text.split('\n').filter((l) => l.startsWith('rampart_http_request_duration_seconds_bucket{method="GET",route="/api/status",')).map((l) => Number(l.split(' ').pop()));
    assert.equal(buckets.length, 14);
    assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b));
    assert.equal(buckets.at(-1), count);
    assert.equal(sample(text, 'rampart_http_request_duration_seconds_bucket{method="GET",route="/api/status",le="+Inf"}'), count);
    assert.ok((sample(text, 'rampart_database_query_duration_seconds_count') ?? 0) >= 1, 'the database is timed');
    assert.notEqual(sample(text, 'rampart_heap_used_bytes'), null);
    assert.notEqual(sample(text, 'rampart_event_loop_delay_seconds'), null);
    assert.notEqual(sample(text, 'rampart_password_hash_queue_depth'), null);
    assert.notEqual(sample(text, 'rampart_process_cpu_seconds_total'), null);
  });

  it('counts logins, sessions, password hashing and store round trips', async () => {
    const { app } = rampart;
    await signedIn(app);
    const text = await scrape(app);
    assert.ok((sample(text, 'rampart_logins_total{outcome="success"}') ?? 0) >= 1);
    assert.ok((sample(text, 'rampart_sessions_total{change="created"}') ?? 0) >= 1);
    assert.ok((sample(text, 'rampart_password_hash_duration_seconds_count{operation="verify"}') ?? 0) >= 1);
    assert.ok((sample(text, 'rampart_store_operation_duration_seconds_count{operation="getMany"}') ?? 0) >= 0);
    assert.ok(seriesCount(text, 'rampart_store_operation_duration_seconds_count') > 0, 'store operations are timed');
  });

  it('counts a brute-force run: failures, the lock, and every refused attempt by code', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const attacker = new Client(app);
    const before = await scrape(app);
    for (let i = 0; i < 5; i++) assert.equal((await attacker.post('/api/auth/login', { email: user.email, password: `wrong ${strongPassword()}` })).statusCode, 401);
    for (let i = 0; i < 3; i++) assert.equal((await attacker.post('/api/auth/login', { email: user.email, password: `wrong ${strongPassword()}` })).statusCode, 429);
    const after = await scrape(app);
    const delta = (series: string) => (sample(after, series) ?? 0) - (sample(before, series) ?? 0);
    assert.equal(delta('rampart_logins_total{outcome="failure"}'), 5);
    assert.ok(delta('rampart_logins_total{outcome="locked"}') >= 1);
    assert.equal(delta('rampart_rate_limit_refusals_total{code="AUTH_ERR_LOCKED"}'), 3, 'every refused attempt, not only the recorded first');
    assert.ok(delta('rampart_http_requests_total{method="POST",route="/api/auth/login",status_code="429"}') === 3);
    assert.ok(!after.includes(user.email), 'no email in any label');
  });

  it('keeps the series bounded under 10 000 distinct 404 paths (one not_found label, no path in any label)', async () => {
    const { app } = rampart;
    const before = seriesCount(await scrape(app), 'rampart_http_requests_total');
    const marker = randomBytes(6).toString('hex');
    for (let i = 0; i < 10_000; i++) {
      // A client per 200 probes, so the flood stays within the per-IP limit instead of switching it off.
      const res = await injectRetryingShed(app, { method: 'GET', url: `/probe-${marker}-${i}/x?y=${i}`, remoteAddress: `10.203.${Math.floor(i / 200)}.1` });
      assert.equal(res.statusCode, 404);
    }
    const text = await scrape(app);
    assert.ok(seriesCount(text, 'rampart_http_requests_total') <= before + 1, 'at most the one not_found series is new');
    assert.ok((sample(text, 'rampart_http_requests_total{method="GET",route="not_found",status_code="404"}') ?? 0) >= 10_000);
    assert.ok(!text.includes(marker), 'no probed path reaches a label');
    assert.ok((sample(text, 'rampart_problems_total{status_code="404",code="RAMPART_ERR_NOT_FOUND"}') ?? 0) >= 10_000);
  });

  it('counts rate-limit refusals by code', async () => {
    const { app, config } = rampart;
    let refused = 0;
    for (let i = 0; i <= 2 * config.rateLimit.points && refused === 0; i++) {
      if ((await injectRetryingShed(app, { method: 'GET', url: '/api/status', remoteAddress: '10.204.0.1' })).statusCode === 429) refused += 1;
    }
    assert.equal(refused, 1);
    assert.ok((sample(await scrape(app), 'rampart_rate_limit_refusals_total{code="RAMPART_ERR_RATE_LIMITED"}') ?? 0) >= 1);
  });
});

describe('metrics on the main port, without a token', () => {
  it('does not exist: 404 problem+json, with or without a bearer header', async (t) => {
    const { app, config } = await build(t);
    assert.equal(config.metrics.token, null);
    assert.equal(config.metrics.port, null, 'no metrics listener by default');
    assert.equal(config.metrics.host, '127.0.0.1');
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }]) {
      const res = await app.inject({ method: 'GET', url: '/metrics', headers });
      assert.ok(res.statusCode === 404 || res.statusCode === 401, String(res.statusCode));
      assert.doesNotMatch(res.body, /rampart_|# HELP/);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 404);
  });

  it('keeps one registry per instance: two apps in one process count apart', async (t) => {
    const [a, b] = await Promise.all([build(t), build(t)]);
    await a.app.inject({ method: 'GET', url: '/api/status' });
    const textA = await a.app.metrics.render();
    const textB = await b.app.metrics.render();
    assert.equal(sample(textA, 'rampart_http_requests_total{method="GET",route="/api/status",status_code="200"}'), 1);
    assert.equal(sample(textB, 'rampart_http_requests_total{method="GET",route="/api/status",status_code="200"}'), null);
  });
});

describe('the metrics listener', () => {
  async function listen(token: string | null, refused: string[] = []) {
    const metrics = createMetrics();
    metrics.observeRequest('GET', '/api/status', 200, 0.001);
    const server = createMetricsServer({ metrics, token, headersTimeoutMs: 5000, requestTimeoutMs: 5000, maxHeaderBytes: 16_384, onRefused: (request) => refused.push(request.socket.remoteAddress ?? '') });
    server.listen({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    return { server, base: `http://127.0.0.1:${port}` };
  }

  it('serves GET /metrics and nothing else', async (t) => {
    const { server, base } = await listen(null);
    t.after(() => server.close());
    const ok = await fetch(`${base}/metrics`);
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /rampart_http_requests_total\{method="GET",route="\/api\/status",status_code="200"\} 1/);
    for (const [method, path] of [['GET', '/'], ['GET', '/api/status'], ['GET', '/metrics/../api'], ['POST', '/metrics'], ['DELETE', '/metrics']] as const) {
      const res = await fetch(`${base}${path}`, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.doesNotMatch(await res.text(), /rampart_http/);
    }
  });

  it('with a token, refuses a scraper without it (401 problem+json, no data) and reports the refusal', async (t) => {
    const refused: string[] = [];
    const { server, base } = await listen(TOKEN, refused);
    t.after(() => server.close());
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${TOKEN.toUpperCase()}`]) {
      const res = await fetch(`${base}/metrics`, { headers: authorization === undefined ? {} : { authorization } });
      assert.equal(res.status, 401);
      const body = await res.text();
      assert.equal((JSON.parse(body) as { code: string }).code, 'AUTH_ERR_INVALID_TOKEN');
      assert.doesNotMatch(body, /rampart_http/);
    }
    assert.equal(refused.length, 3);
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /rampart_http_requests_total/);
  });
});
