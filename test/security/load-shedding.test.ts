import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as wait } from 'node:timers/promises';
import type { FastifyPluginAsync } from 'fastify';
import { build } from '../helpers/build.js';

describe('load shedding', () => {
  it('answers 503 problem+json with Retry-After while the heap is over its threshold', async (t) => {
    const { app } = await build(t, { loadShedding: { maxHeapUsedBytes: 1, sampleIntervalMs: 5 }, settle: false });
    await wait(50);
    const res = await app.inject({ method: 'GET', url: '/api/status' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '10');
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal((JSON.parse(res.body) as { code: string }).code, 'RAMPART_ERR_OVERLOADED');
  });

  it('sheds requests after the event loop stalls, then recovers', async (t) => {
    const { app } = await build(t, { loadShedding: { maxEventLoopDelayMs: 50, sampleIntervalMs: 100 }, settle: false });
    assert.equal((await app.inject({ method: 'GET', url: '/api/status' })).statusCode, 200);
    let shed = false;
    // A stall is only visible once a sample covering it is taken, so stall and probe a few times.
    for (let attempt = 0; attempt < 20 && !shed; attempt++) {
      const until = Date.now() + 400;
      while (Date.now() < until) { /* a synchronous stall, as a CPU-bound handler would cause */ }
      for (let probe = 0; probe < 10 && !shed; probe++) {
        await wait(20);
        shed = (await app.inject({ method: 'GET', url: '/api/status' })).statusCode === 503;
      }
    }
    assert.ok(shed, 'a stalled event loop sheds load');
    let recovered = false;
    for (let probe = 0; probe < 100 && !recovered; probe++) {
      await wait(50);
      recovered = (await app.inject({ method: 'GET', url: '/api/status' })).statusCode === 200;
    }
    assert.ok(recovered, 'service resumes once the loop is responsive');
  });

  it('does not shed the first requests for a stall while booting (a restart on a big data directory), and sheds a stall after it', async (t) => {
    // A boot stall: PGlite opening its data directory, say, blocks the loop before the first request.
    const slowBoot: FastifyPluginAsync = () => {
      const until = Date.now() + 1000;
      while (Date.now() < until) { /* synchronous, as PGlite's start is */ }
      return Promise.resolve();
    };
    // A threshold well above what a busy shared machine adds (tens of ms), far below the stalls.
    const { app } = await build(t, { loadShedding: { maxEventLoopDelayMs: 250, sampleIntervalMs: 100 }, settle: false, plugins: [slowBoot] });
    for (let probe = 0; probe < 6; probe++) {
      assert.equal((await app.inject({ method: 'GET', url: '/api/status' })).statusCode, 200, `request ${probe + 1} after the boot`);
      await wait(25);
    }
    // Past the grace (two samples after ready), a stall while serving is shed as before.
    await wait(250);
    let shed = false;
    for (let attempt = 0; attempt < 20 && !shed; attempt++) {
      const until = Date.now() + 1000;
      while (Date.now() < until) { /* a CPU-bound handler's stall */ }
      for (let probe = 0; probe < 10 && !shed; probe++) {
        await wait(20);
        shed = (await app.inject({ method: 'GET', url: '/api/status' })).statusCode === 503;
      }
    }
    assert.ok(shed, 'a stall while serving still sheds load');
  });
});
