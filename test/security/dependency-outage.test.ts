import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as wait } from 'node:timers/promises';
import { build, randomIp } from '../helpers/build.js';
import { testTarget } from '../helpers/target.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

describe('when Redis becomes unreachable', () => {
  const target = testTarget();
  // The embedded target has no Redis to lose; this suite needs the real one.
  if (target.kind !== 'real') return;

  it('reports not ready, stays live, and keeps rate limiting through the local insurance limiter', async (t) => {
    const redis = new URL(target.redisUrl);
    const proxy = await startTcpProxy({ targetHost: redis.hostname, targetPort: Number(redis.port || 6379) });
    t.after(() => proxy.stop());
    const { app, logs } = await build(t, { env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, RAMPART_RATE_LIMIT_POINTS: '3' } });
    assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);

    await proxy.stop();
    let ready = 200;
    for (let i = 0; i < 50 && ready === 200; i++) {
      ready = (await app.inject({ method: 'GET', url: '/readyz', remoteAddress: randomIp() })).statusCode;
      if (ready === 200) await wait(50);
    }
    assert.equal(ready, 503, '/readyz reports the outage');
    assert.equal((await app.inject({ method: 'GET', url: '/healthz', remoteAddress: randomIp() })).statusCode, 200, 'liveness does not depend on Redis');

    const ip = randomIp();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await app.inject({ method: 'GET', url: '/api/status', remoteAddress: ip })).statusCode);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429], 'the limit still holds without Redis');
    assert.match(logs.text(), /insurance/i, 'the switch to the local limiter is logged');

    await proxy.start();
    let recovered = false;
    for (let i = 0; i < 100 && !recovered; i++) {
      recovered = (await app.inject({ method: 'GET', url: '/readyz', remoteAddress: randomIp() })).statusCode === 200;
      if (!recovered) await wait(100);
    }
    assert.ok(recovered, 'readiness returns once Redis is back');
  });
});
