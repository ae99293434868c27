import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { privateDatabase } from '../helpers/build.js';
import { testTarget, uniquePrefix } from '../helpers/target.js';
import { childEnvironment, httpGet, type LoggingProcess, runToExit, SERVER_FIXTURE, startServer } from '../fixtures/processes.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-process-'));
const running: LoggingProcess[] = [];

after(async () => {
  await Promise.all(running.map((server) => server.stop()));
  rmSync(temp, { recursive: true, force: true });
});

interface LoggedEvent { event?: string; details?: Record<string, unknown> }

function securityEvent(line: Record<string, unknown>): LoggedEvent | undefined {
  const event: unknown = line.securityEvent;
  return typeof event === 'object' && event !== null ? event : undefined;
}

// Independent processes: run them side by side so PGlite's start-up is paid once in wall time.
describe('the Rampart process', { concurrency: true }, () => {
  it('refuses a production start with a placeholder secret, naming the setting and the finding', async () => {
    const result = await runToExit(SERVER_FIXTURE, [], childEnvironment({
      NODE_ENV: 'production',
      RAMPART_SECRET_KEY: 'secretKey',
      RAMPART_DATA_DIR: join(temp, 'refused'),
    }));
    assert.notEqual(result.code, 0);
    assert.equal(result.signal, null);
    assert.match(result.stderr, /RAMPART-E004 \[error\] RAMPART_SECRET_KEY: /);
    assert.match(result.stderr, /RAMPART-E002 \[error\] RAMPART_SECRET_KEY: /);
    assert.match(result.stderr, /fix: Generate one with `rampart secrets generate`/);
    assert.ok(!result.stderr.includes('secretKey'), 'the secret value itself is never printed');
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'a refusal is a message, not a stack trace');
    assert.equal(result.stdout, '', 'nothing was started, so nothing was logged');
    assert.equal(existsSync(join(temp, 'refused')), false, 'production never generates development secrets');
  });

  describe('on a first run with no environment', { concurrency: false }, () => {
    const dataDir = join(temp, 'first-run', 'data');
    let server: LoggingProcess;
    let origin: string;

    before(async () => {
      // Only what a fresh clone has: no NODE_ENV, no secrets, no database; an ephemeral port.
      ({ server, origin } = await startServer(childEnvironment({ RAMPART_PORT: '0', RAMPART_DATA_DIR: dataDir })));
      running.push(server);
    });

    it('serves /healthz and /readyz on 127.0.0.1 after generating secrets and migrating', async () => {
      assert.match(origin, /^http:\/\/127\.0\.0\.1:\d+$/);
      const health = await httpGet(`${origin}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(JSON.parse(health.body), { status: 'ok' });
      assert.equal((await httpGet(`${origin}/readyz`)).status, 200);

      assert.equal(statSync(join(dataDir, 'secrets.json')).mode & 0o777, 0o600);
      assert.equal(statSync(dataDir).mode & 0o777, 0o700);
      assert.ok(statSync(join(dataDir, 'pglite')).isDirectory(), 'the embedded database lives under the data directory');
      assert.ok(server.lines.some((line) => line.msg === 'Database migration applied'), 'migrations ran at start');
      assert.ok(server.lines.some((line) => securityEvent(line)?.event === 'sys_startup'));
      assert.ok(server.lines.some((line) => line.msg === `using development secrets from ${dataDir}/secrets.json`));
    });

    it('finishes a request in flight on SIGTERM, closes its connection, and exits 0', async () => {
      const agent = new Agent({ keepAlive: true });
      try {
        // The route waits for the drain to begin, then works a little longer and touches the database.
        const inFlight = httpGet(`${origin}/test/slow?ms=300&until=shutdown`, { agent });
        const started = await server.waitForLine((line) => line.msg === 'slow request started', 'the slow request');
        assert.ok(server.child.kill('SIGTERM'));

        const response = await inFlight;
        assert.equal(response.status, 200);
        assert.deepEqual(JSON.parse(response.body), { waitedMs: 300, sawShutdown: true });
        assert.equal(response.headers.connection, 'close', 'a kept-alive connection must not hold the drain open');

        const exit = await server.waitForExit();
        assert.deepEqual(exit, { code: 0, signal: null });

        const shutdown = server.lines.findIndex((line) => securityEvent(line)?.event === 'sys_shutdown');
        assert.ok(shutdown !== -1, 'a sys_shutdown security event is logged');
        assert.deepEqual(securityEvent(server.lines[shutdown] ?? {})?.details, { signal: 'SIGTERM' });
        const completed = server.lines.findIndex((line) => line.reqId === started.reqId && line.msg === 'request completed');
        assert.ok(shutdown < completed, 'the request completed after shutdown began');
      } finally {
        agent.destroy();
      }
    });
  });

  it('logs an unhandled rejection, drains and exits non-zero', async () => {
    const { server, origin } = await startServer(childEnvironment({ RAMPART_PORT: '0', RAMPART_DATA_DIR: join(temp, 'rejection') }));
    running.push(server);
    const response = await httpGet(`${origin}/test/reject`);
    assert.equal(response.status, 200);

    const exit = await server.waitForExit();
    assert.equal(exit.code, 1);
    const logged = await server.waitForLine((line) => line.msg === 'unexpected error: draining and exiting', 'the error line');
    assert.equal((logged.err as { message?: string } | undefined)?.message, 'boom');
    assert.equal(logged.level, 50);
    assert.ok(server.lines.some((line) => securityEvent(line)?.event === 'sys_crash'), 'a sys_crash security event is logged');
  });

  if (testTarget().kind === 'real') {
    it('starts against PostgreSQL and Redis and reports ready', async (t) => {
      const target = testTarget();
      assert.equal(target.kind, 'real');
      // A database of its own: the child's keys are its own, and boot refuses rows under keys it lacks (RAMPART-E080).
      const own = await privateDatabase(t);
      const { server, origin } = await startServer(childEnvironment({
        RAMPART_PORT: '0',
        RAMPART_DATA_DIR: join(temp, 'real'),
        DATABASE_URL: own.DATABASE_URL ?? target.databaseUrl,
        REDIS_URL: target.redisUrl,
        RAMPART_REDIS_PREFIX: uniquePrefix(target, 'process'),
      }));
      running.push(server);
      const ready = await httpGet(`${origin}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(JSON.parse(ready.body), { status: 'ready' });
      assert.equal(existsSync(join(temp, 'real', 'pglite')), false, 'no embedded database beside a real one');

      assert.ok(server.child.kill('SIGTERM'));
      assert.deepEqual(await server.waitForExit(), { code: 0, signal: null }, 'the pool and the Redis client close cleanly');
    });
  }
});
