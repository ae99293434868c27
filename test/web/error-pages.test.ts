import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { build, randomIp } from '../helpers/build.js';

const failingPage: FastifyPluginAsyncZod = async (app) => {
  await Promise.resolve();
  app.get('/test/broken-page', { config: { access: 'public', page: true }, schema: { querystring: z.strictObject({}), response: { 200: z.string() } } }, () => {
    throw new Error('database password is hunter2 at /srv/app/secret.ts:12');
  });
};

describe('error pages', () => {
  it('a failing page renders a 500 page with code and trace id, and nothing of the error', async (t) => {
    const { app } = await build(t, { plugins: [failingPage] });
    const res = await app.inject({ url: '/test/broken-page', headers: { accept: 'text/html' }, remoteAddress: randomIp() });
    assert.equal(res.statusCode, 500);
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    assert.match(res.body, /RAMPART_ERR_INTERNAL/);
    assert.match(res.body, /<dd><code>[0-9a-f-]{36}<\/code><\/dd>/, 'the trace id is shown');
    for (const leak of ['hunter2', 'secret.ts', 'Error:', 'at ']) assert.ok(!res.body.includes(leak), leak);
    assert.match(res.headers['content-security-policy'] as string, /script-src 'nonce-/);
  });

  it('a rate-limited page is an HTML 429 page with Retry-After', async (t) => {
    const { app } = await build(t, { env: { RAMPART_RATE_LIMIT_POINTS: '2' } });
    const ip = randomIp();
    for (let i = 0; i < 2; i += 1) assert.equal((await app.inject({ url: '/', remoteAddress: ip })).statusCode, 200);
    const res = await app.inject({ url: '/login', remoteAddress: ip });
    assert.equal(res.statusCode, 429);
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    assert.ok(Number(res.headers['retry-after']) > 0);
    assert.match(res.body, /RAMPART_ERR_RATE_LIMITED/);
    assert.match(res.body, /try again in \d+ seconds/);
    const api = await app.inject({ url: '/api/status', remoteAddress: ip });
    assert.equal(api.headers['content-type'], 'application/problem+json; charset=utf-8', 'the API keeps problem+json');
  });
});
