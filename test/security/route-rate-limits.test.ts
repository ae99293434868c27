import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RouteRateLimit } from '../../src/security/rate-limit.js';
import { build, securityEventRows } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';

const error = { code: 'DEMO_ERR_TOO_MANY', message: 'Too many demo actions.' };
const DEMO: RouteRateLimit = { name: 'demo_actions', points: 3, windowSeconds: 60, per: 'client', error };

/** Two routes sharing one declared limit: one spends before its handler, one in it after its own check. */
const demo: FastifyPluginAsyncZod = async (app) => {
  await Promise.resolve();
  app.post('/api/demo/a', { config: { access: 'public', rateLimit: DEMO }, schema: { querystring: z.strictObject({}), body: z.strictObject({}), response: { 200: z.object({ ok: z.boolean() }) } } }, () => ({ ok: true }));
  app.post('/api/demo/b', { config: { access: 'public', rateLimit: { ...DEMO, spend: 'handler' } }, schema: { querystring: z.strictObject({}), body: z.strictObject({ valid: z.boolean() }), response: { 200: z.object({ ok: z.boolean() }), 400: z.object({ ok: z.boolean() }) } } }, async (request, reply) => {
    // A request its own check refuses spends nothing.
    if (!request.body.valid) return reply.code(400).send({ ok: false });
    if (!(await reply.spendRateLimit())) return reply;
    return { ok: true };
  });
};

describe('route rate limits declared in route config', () => {
  it('builds one budget per name at boot, shared by the routes that name it, and answers 429 in the route\'s code', async (t) => {
    const { app } = await build(t, { plugins: [demo] });
    const client = new Client(app);
    for (let i = 0; i < 3; i++) assert.equal((await client.post('/api/demo/b', { valid: false })).statusCode, 400, 'refused by the handler: nothing spent');
    assert.equal((await client.post('/api/demo/a', {})).statusCode, 200);
    assert.equal((await client.post('/api/demo/b', { valid: true })).statusCode, 200);
    assert.equal((await client.post('/api/demo/a', {})).statusCode, 200);
    for (const url of ['/api/demo/a', '/api/demo/b']) {
      const refused = await client.post(url, url.endsWith('b') ? { valid: true } : {});
      assert.equal(refused.statusCode, 429, url);
      assert.equal(json(refused).code, 'DEMO_ERR_TOO_MANY');
      assert.ok(Number(refused.headers['retry-after']) >= 1);
    }
    const forged = await client.post('/api/demo/a', {}, { csrf: false });
    assert.equal(forged.statusCode, 403, 'the CSRF check runs first: a forged request spends nothing and learns nothing');
    const events = (await securityEventRows(app, client.ip)).filter((row) => row.event === 'excess_rate_limit_exceeded');
    assert.deepEqual(events.map((row) => row.details.limit), ['demo_actions', 'demo_actions']);
    assert.equal((await new Client(app).post('/api/demo/a', {})).statusCode, 200, 'another client has its own budget');
  });

  it('counts guests on a route open to them by client under a per-user limit, never in one shared bucket', async (t) => {
    const guestsToo: FastifyPluginAsyncZod = async (app) => {
      await Promise.resolve();
      // Guests may read published posts: a permission route that lets them through.
      app.post('/api/demo/guest', { config: { access: { action: 'read', subject: 'Post' }, rateLimit: { ...DEMO, name: 'demo_guest', points: 1, per: 'user' } }, schema: { querystring: z.strictObject({}), body: z.strictObject({}), response: { 200: z.object({ ok: z.boolean() }) } } }, () => ({ ok: true }));
    };
    const { app } = await build(t, { plugins: [guestsToo] });
    const first = new Client(app);
    assert.equal((await first.post('/api/demo/guest', {})).statusCode, 200);
    assert.equal((await first.post('/api/demo/guest', {})).statusCode, 429, 'the same guest client is limited');
    assert.equal((await new Client(app).post('/api/demo/guest', {})).statusCode, 200, 'another guest has a budget of its own');
  });

  it('refuses at boot a name declared twice with other numbers, and a per-user limit on a public route', async (t) => {
    const clash: FastifyPluginAsyncZod = async (app) => {
      await Promise.resolve();
      app.post('/api/demo/c', { config: { access: 'public', rateLimit: DEMO }, schema: { querystring: z.strictObject({}), body: z.strictObject({}), response: { 200: z.null() } } }, () => null);
      app.post('/api/demo/d', { config: { access: 'public', rateLimit: { ...DEMO, points: 4 } }, schema: { querystring: z.strictObject({}), body: z.strictObject({}), response: { 200: z.null() } } }, () => null);
    };
    await assert.rejects(build(t, { plugins: [clash] }), /the limit "demo_actions" is declared elsewhere with other numbers/);
    const perUser: FastifyPluginAsyncZod = async (app) => {
      await Promise.resolve();
      app.post('/api/demo/e', { config: { access: 'public', rateLimit: { ...DEMO, per: 'user' } }, schema: { querystring: z.strictObject({}), body: z.strictObject({}), response: { 200: z.null() } } }, () => null);
    };
    await assert.rejects(build(t, { plugins: [perUser] }), /a per-user limit needs a route that is not public/);
  });
});
