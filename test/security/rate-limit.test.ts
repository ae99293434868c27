import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { build, type BuildResult, randomIp, securityEventRows, suiteApp } from '../helpers/build.js';
import { testTarget, uniquePrefix } from '../helpers/target.js';

const POINTS = 5;

async function exhaust(app: BuildResult['app'], remoteAddress: string, headers: Record<string, string> = {}): Promise<void> {
  for (let i = 0; i < POINTS; i++) {
    const res = await app.inject({ method: 'GET', url: '/api/status', remoteAddress, headers });
    assert.equal(res.statusCode, 200, `request ${i + 1} of ${POINTS} is within the budget`);
  }
}

describe('global per-client rate limit', () => {
  const shared = suiteApp({ env: { RAMPART_RATE_LIMIT_POINTS: String(POINTS), RAMPART_RATE_LIMIT_WINDOW_SECONDS: '60', RAMPART_TRUST_PROXY: '10.255.255.1' } });

  it('answers the request past the budget with 429 problem+json, Retry-After and RateLimit headers', async () => {
    const { app } = shared;
    const ip = randomIp();
    const first = await app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip });
    assert.equal(first.headers['ratelimit-policy'], `"global";q=${POINTS};w=60`);
    assert.match(String(first.headers.ratelimit), new RegExp(`^"global";r=${POINTS - 1};t=\\d+$`));
    for (let i = 1; i < POINTS; i++) await app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip });
    const refused = await app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip });
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${String(refused.headers['retry-after'])}`);
    assert.match(String(refused.headers.ratelimit), /^"global";r=0;t=\d+$/);
    assert.equal(refused.headers['x-content-type-options'], 'nosniff');
    assert.equal((JSON.parse(refused.body) as { code: string }).code, 'RAMPART_ERR_RATE_LIMITED');
  });

  it('records excess_rate_limit_exceeded once per window, not once per refused request', async () => {
    const { app } = shared;
    const ip = randomIp();
    await exhaust(app, ip);
    for (let i = 0; i < 10; i++) assert.equal((await app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip })).statusCode, 429);
    const rows = await securityEventRows(app, ip);
    assert.deepEqual(rows.map((r) => r.event), ['excess_rate_limit_exceeded']);
  });

  it('counts 404s and errors against the same budget', async () => {
    const { app } = shared;
    const ip = randomIp();
    for (let i = 0; i < POINTS; i++) assert.equal((await app.inject({ method: 'GET', url: `/missing-${i}`, remoteAddress: ip })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz', remoteAddress: ip })).statusCode, 429);
  });

  it('keeps other clients unaffected', async () => {
    const { app } = shared;
    await exhaust(app, randomIp());
    assert.equal((await app.inject({ method: 'GET', url: '/api/status', remoteAddress: randomIp() })).statusCode, 200);
  });

  it('groups IPv6 clients by /64, so rotating addresses inside one network does not escape the limit', async () => {
    const { app } = shared;
    const network = randomIp(6).split('::')[0] ?? '';
    for (let i = 1; i <= POINTS; i++) assert.equal((await app.inject({ method: 'GET', url: '/api/status', remoteAddress: `${network}::${i.toString(16)}` })).statusCode, 200);
    assert.equal((await app.inject({ method: 'GET', url: '/api/status', remoteAddress: `${network}:ffff:ffff:ffff:fffe` })).statusCode, 429);
    const neighbour = (await app.inject({ method: 'GET', url: '/api/status', remoteAddress: randomIp(6) })).statusCode;
    assert.equal(neighbour, 200, 'another /64 has its own budget');
  });

  it('counts an IPv4-mapped IPv6 address as the IPv4 client it is', async () => {
    const { app } = shared;
    const ip = randomIp();
    await exhaust(app, ip);
    assert.equal((await app.inject({ method: 'GET', url: '/api/status', remoteAddress: `::ffff:${ip}` })).statusCode, 429);
  });

  it('ignores X-Forwarded-For from a client that is not a trusted proxy', async () => {
    const { app } = shared;
    const ip = randomIp();
    for (let i = 0; i < POINTS; i++) {
      await app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip, headers: { 'x-forwarded-for': randomIp() } });
    }
    const res = await app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip, headers: { 'x-forwarded-for': randomIp() } });
    assert.equal(res.statusCode, 429, 'a forged X-Forwarded-For buys no fresh budget');
  });

  it('takes the client from X-Forwarded-For only behind the trusted proxy, and not from a forged hop', async () => {
    const { app } = shared;
    const client = randomIp();
    await exhaust(app, '10.255.255.1', { 'x-forwarded-for': client });
    // The client prepends a forged address; the proxy appends the real one, which is what counts.
    const res = await app.inject({ method: 'GET', url: '/api/status', remoteAddress: '10.255.255.1', headers: { 'x-forwarded-for': `${randomIp()}, ${client}` } });
    assert.equal(res.statusCode, 429);
    const other = await app.inject({ method: 'GET', url: '/api/status', remoteAddress: '10.255.255.1', headers: { 'x-forwarded-for': randomIp() } });
    assert.equal(other.statusCode, 200);
  });
});

describe('rate limit across instances', () => {
  const target = testTarget();
  if (target.kind !== 'real') return;
  it('shares one budget between two instances on the same Redis', async (t) => {
    const env = { RAMPART_RATE_LIMIT_POINTS: String(POINTS), RAMPART_REDIS_PREFIX: uniquePrefix(target, 'shared') };
    const one = await build(t, { env });
    const two = await build(t, { env });
    const ip = randomIp();
    for (let i = 0; i < POINTS; i++) {
      const app = i % 2 === 0 ? one.app : two.app;
      assert.equal((await app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip })).statusCode, 200);
    }
    assert.equal((await one.app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip })).statusCode, 429);
    assert.equal((await two.app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip })).statusCode, 429);
  });
});
