/**
 * Database faults against a real Rampart process: connections lost while queries run (what a
 * PostgreSQL restart, a failover or a reset network path does) must end in 503s, never in a
 * 500 or a crash, and the process must serve again by itself.
 *
 * PostgreSQL only: the embedded PGlite runs inside the process and has no connection to lose,
 * so the embedded run defines no case here (it is not a skip that passes: there is nothing to
 * break). The other real-only faults are in test/security/database-outage.test.ts (the server
 * unreachable: 503, readiness, no security event lost) and test/platform/database.test.ts (a
 * connection killed inside a transaction). This case works on a database of its own and
 * terminates only that database's backends.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { buildUnmanaged, privateDatabase } from '../helpers/build.js';
import { testTarget, uniquePrefix } from '../helpers/target.js';
import { childEnvironment, type LoggingProcess, startServer, within } from '../fixtures/processes.js';
import { createVerifiedUser, type TestUser } from '../helpers/users.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-db-faults-'));
const running: LoggingProcess[] = [];

after(async () => {
  await Promise.all(running.map((server) => server.stop()));
  rmSync(temp, { recursive: true, force: true });
});

interface Answer { readonly status: number; readonly headers: Record<string, string | string[] | undefined>; readonly body: string }

function send(origin: string, agent: Agent, options: { method: string; path: string; token?: string; body?: unknown }): Promise<Answer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return within(new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(`${origin}${options.path}`, {
      method: options.method,
      agent,
      headers: {
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
      },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }); });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  }), 30_000, `${options.method} ${options.path}`);
}

/** Terminates every other backend of the database at `url` (and only of that database). */
async function terminateBackends(admin: pg.Client): Promise<number> {
  const result = await admin.query<{ count: string }>(
    'select count(pg_terminate_backend(pid))::text as count from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
  );
  return Number(result.rows[0]?.count ?? 0);
}

interface Setup { readonly server: LoggingProcess; readonly origin: string; readonly databaseUrl: string; readonly users: TestUser[] }

/** A Rampart process on a private database with `count` verified users made beforehand. */
async function serverWithUsers(t: Parameters<typeof privateDatabase>[0], count: number): Promise<Setup> {
  const target = testTarget();
  assert.equal(target.kind, 'real');
  const { DATABASE_URL: databaseUrl } = await privateDatabase(t);
  assert.ok(databaseUrl !== undefined);
  const secrets = { RAMPART_SECRET_KEY: randomBytes(32).toString('base64url'), RAMPART_ENCRYPTION_KEYS: `faults-1:${randomBytes(32).toString('base64url')}` };
  // The users come from an app on the same database and secrets, as `rampart users create` would make them.
  const { app } = await buildUnmanaged({ env: { DATABASE_URL: databaseUrl, ...secrets } });
  const users: TestUser[] = [];
  try {
    for (let i = 0; i < count; i += 1) users.push(await createVerifiedUser(app));
  } finally {
    await app.close();
  }
  const { server, origin } = await startServer(childEnvironment({
    RAMPART_PORT: '0',
    RAMPART_DATA_DIR: join(temp, randomBytes(4).toString('hex')),
    DATABASE_URL: databaseUrl,
    REDIS_URL: target.redisUrl,
    RAMPART_REDIS_PREFIX: uniquePrefix(target, 'db-faults'),
    // Eight clients share 127.0.0.1: the per-IP budget is raised so the test measures faults, not the limiter.
    RAMPART_RATE_LIMIT_POINTS: '100000',
    ...secrets,
  }));
  running.push(server);
  return { server, origin, databaseUrl, users };
}

async function accessToken(origin: string, agent: Agent, user: TestUser): Promise<string> {
  const answer = await send(origin, agent, { method: 'POST', path: '/api/auth/token', body: { email: user.email, password: user.password } });
  assert.equal(answer.status, 200, answer.body);
  return (JSON.parse(answer.body) as { access_token: string }).access_token;
}

function crashed(server: LoggingProcess): boolean {
  return server.lines.some((line) => line.msg === 'unexpected error: draining and exiting' || (line.securityEvent as { event?: string } | undefined)?.event === 'sys_crash');
}

if (testTarget().kind === 'real') {
  describe('a Rampart process on PostgreSQL whose connections are terminated', () => {
    it('stays up with 8 clients reading and writing while every backend is killed every 200 ms, answers 503 (never 500), and serves again afterwards', async (t) => {
      const { server, origin, databaseUrl, users } = await serverWithUsers(t, 8);
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      try {
        const tokens: string[] = [];
        for (const user of users) tokens.push(await accessToken(origin, agent, user));
        const statuses = new Map<number, number>();
        const failures: string[] = [];
        let stop = false;
        const client = async (token: string, index: number) => {
          for (let n = 0; !stop; n += 1) {
            const write = n % 2 === 0;
            try {
              const answer = write
                ? await send(origin, agent, { method: 'POST', path: '/api/posts', token, body: { title: `Fault ${index}.${n}`, body: 'Written while backends die.' } })
                : await send(origin, agent, { method: 'GET', path: '/api/posts?limit=5', token });
              statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
              if (answer.status >= 500 && answer.status !== 503) failures.push(`${answer.status} ${answer.body}`);
              if (answer.status === 503) {
                assert.equal((JSON.parse(answer.body) as { code?: string }).code, 'RAMPART_ERR_UNAVAILABLE', answer.body);
                assert.ok(answer.headers['retry-after'] !== undefined, 'a 503 says when to retry');
              }
            } catch (err) {
              failures.push(`transport: ${(err as Error).message}`);
            }
            await delay(20);
          }
        };
        const clients = tokens.map((token, index) => client(token, index));
        let terminated = 0;
        for (let round = 0; round < 20; round += 1) {
          await delay(200);
          terminated += await terminateBackends(admin);
        }
        stop = true;
        await Promise.all(clients);

        t.diagnostic(`backends terminated: ${terminated}; answers by status: ${JSON.stringify(Object.fromEntries(statuses))}`);
        assert.ok(terminated > 0, 'backends were terminated while the clients ran');
        assert.ok(server.running, `the process is still running\n${server.stderr}`);
        assert.equal(crashed(server), false, 'no crash was logged');
        assert.deepEqual(failures.slice(0, 5), [], `every answer was a success, a 4xx or a 503: ${JSON.stringify([...statuses])}`);

        // Recovery by itself: with the faults over, every client reads and writes again.
        for (const token of tokens) {
          const written = await send(origin, agent, { method: 'POST', path: '/api/posts', token, body: { title: 'After the faults', body: 'Served again.' } });
          assert.equal(written.status, 201, written.body);
          assert.equal((await send(origin, agent, { method: 'GET', path: '/api/posts?limit=5', token })).status, 200);
        }
        assert.equal((await send(origin, agent, { method: 'GET', path: '/readyz' })).status, 200);
      } finally {
        agent.destroy();
        await admin.end();
      }
    });
  });
}
