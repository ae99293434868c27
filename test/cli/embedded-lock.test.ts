/**
 * The embedded database belongs to one process at a time. With a server running on a data
 * directory, a CLI command that would write the same PGlite files must refuse, naming the
 * server's process, and exit non-zero: never print "Created user" for a user the server
 * never sees and a restart loses. Both targets run it the same (the processes use the
 * embedded database, the only one with this hazard).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { childEnvironment, CLI_ENTRY, type LoggingProcess, runToExit, SERVER_FIXTURE, startServer } from '../fixtures/processes.js';
import { seedMigratedDataDirectory } from '../helpers/pglite-template.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-lock-'));
const running: LoggingProcess[] = [];

after(async () => {
  await Promise.all(running.map((server) => server.stop()));
  rmSync(temp, { recursive: true, force: true });
});

function createUser(dataDir: string, email: string) {
  const password = `copper kettle ${randomBytes(6).toString('hex')} meadow`;
  return runToExit(CLI_ENTRY, ['users', 'create', '--email', email, '--name', 'Locked Out', '--password-stdin'], childEnvironment({ RAMPART_DATA_DIR: dataDir }), undefined, `${password}\n`);
}

describe('the embedded database lock', { concurrency: true }, () => {
  it('refuses `users create` beside a running server, naming its process, and lets it through once the server has stopped', async () => {
    // Migrated already, as after a first start: the lock, not the first start, is under test.
    const dataDir = join(temp, 'beside-server');
    await seedMigratedDataDirectory(dataDir);
    const { server } = await startServer(childEnvironment({ RAMPART_PORT: '0', RAMPART_DATA_DIR: dataDir }));
    running.push(server);
    const pid = server.child.pid;
    assert.ok(pid !== undefined);
    const lock = JSON.parse(readFileSync(join(dataDir, 'pglite.lock'), 'utf8')) as { pid: number };
    assert.equal(lock.pid, pid, 'the lock names the server');

    const email = `locked.${randomBytes(4).toString('hex')}@example.com`;
    const refused = await createUser(dataDir, email);
    assert.equal(refused.code, 1, refused.stdout);
    assert.doesNotMatch(refused.stdout, /Created/, 'no success is reported');
    assert.ok(refused.stderr.includes(`RAMPART-E072 [error] RAMPART_DATA_DIR: the embedded database ${join(dataDir, 'pglite')} is in use by process ${pid} `), refused.stderr);
    assert.ok(refused.stderr.includes(`fix: Stop process ${pid} first`), refused.stderr);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'a refusal is a message, not a stack trace');

    // A second server on the same directory is refused the same way.
    const second = await runToExit(SERVER_FIXTURE, [], childEnvironment({ RAMPART_PORT: '0', RAMPART_DATA_DIR: dataDir }));
    assert.equal(second.code, 1);
    assert.match(second.stderr, /RAMPART-E072/);
    assert.ok(server.running, 'the first server is untouched');

    assert.ok(server.child.kill('SIGTERM'));
    assert.deepEqual(await server.waitForExit(), { code: 0, signal: null });
    assert.equal(existsSync(join(dataDir, 'pglite.lock')), false, 'a clean shutdown releases the lock');
    const created = await createUser(dataDir, email);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^Created user [0-9a-f-]{36} \(/);
  });

  it('takes over a lock left by a process that no longer runs', async () => {
    const dataDir = join(temp, 'stale');
    await seedMigratedDataDirectory(dataDir);
    // The pid of a process that has exited: what a crash or SIGKILL leaves behind.
    const gone = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid;
    const first = await createUser(dataDir, `first.${randomBytes(4).toString('hex')}@example.com`);
    assert.equal(first.code, 0, first.stderr);
    writeFileSync(join(dataDir, 'pglite.lock'), JSON.stringify({ pid: gone, host: hostname(), command: 'node crashed.js', since: new Date().toISOString() }));
    const created = await createUser(dataDir, `stale.${randomBytes(4).toString('hex')}@example.com`);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^Created user /);
    assert.equal(existsSync(join(dataDir, 'pglite.lock')), false, 'released after the command');

    // After a reboot the pid may name an unrelated live process: not a Node.js one, so not the holder.
    const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dataDir, 'pglite.lock'), JSON.stringify({ pid: unrelated.pid, host: hostname(), command: 'node server.js', since: new Date().toISOString() }));
      const reused = await createUser(dataDir, `reused.${randomBytes(4).toString('hex')}@example.com`);
      assert.equal(reused.code, 0, reused.stderr);
    } finally {
      unrelated.kill('SIGKILL');
    }
  });
});
