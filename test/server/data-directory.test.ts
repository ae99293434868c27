/**
 * Boot on a data directory that cannot be used: a read-only file system, a full disk, a path
 * under a file. Each must end in a message naming the cause, the path and the fix, with a
 * stable id (RAMPART-E070 / E071), and exit 1: never a stack trace, a mislabelled ENOENT or
 * PGlite's bare `ErrnoError { errno: 51 }`.
 *
 * The real errors come from real file systems: a read-only tmpfs and a 1 MiB tmpfs, mounted
 * here (this needs root, as the suite runs here and in CI; root ignores permission bits, so
 * chmod cannot produce them). A run that cannot mount fails, saying why. The path under a file
 * needs no privilege. Both targets run the same (the process uses the
 * embedded database, the only one with a data directory).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { childEnvironment, runToExit, SERVER_FIXTURE } from '../fixtures/processes.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-data-dir-'));
const mounted: string[] = [];

after(() => {
  for (const point of mounted.reverse()) {
    try {
      execFileSync('umount', [point], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', point], { stdio: 'ignore' });
    }
  }
  rmSync(temp, { recursive: true, force: true });
});

/** Mounts a tmpfs with `options` at a fresh directory; null (with the reason) when this process may not mount. */
function mountTmpfs(name: string, options: string): { point: string } | { unavailable: string } {
  const point = join(temp, name);
  mkdirSync(point);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', point], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    return { unavailable: `cannot mount a tmpfs here (${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err)})` };
  }
  mounted.push(point);
  return { point };
}

const secrets = () => ({ RAMPART_SECRET_KEY: randomBytes(32).toString('base64url'), RAMPART_ENCRYPTION_KEYS: `dev-1:${randomBytes(32).toString('base64')}` });

function assertIncludes(text: string, fragment: string): void {
  assert.ok(text.includes(fragment), `expected:\n${fragment}\nin:\n${text}`);
}

function assertCleanRefusal(result: { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }): void {
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.signal, null);
  assert.doesNotMatch(result.stderr, /\n\s+at /, `a refusal is a message, not a stack trace:\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /ErrnoError|FastifyError|DB_ERR_/, result.stderr);
}

describe('booting on a data directory that cannot be used', { concurrency: true }, () => {
  it('names a read-only file system (EROFS, not ENOENT), the path and the fix, for the secrets and for the database', async () => {
    const mount = mountTmpfs('read-only', 'ro,size=1m');
    // CI and every development machine run the suite as root; a run that cannot mount fails
    // rather than passing without the check.
    if ('unavailable' in mount) assert.fail(`cannot mount a tmpfs for this test: ${mount.unavailable}`);
    const dataDir = join(mount.point, 'data');
    // A fresh clone: development secrets would be generated into the data directory.
    const fresh = await runToExit(SERVER_FIXTURE, [], childEnvironment({ RAMPART_PORT: '0', RAMPART_DATA_DIR: dataDir }));
    assertCleanRefusal(fresh);
    assertIncludes(fresh.stderr, `RAMPART-E070 [error] RAMPART_DATA_DIR: development secrets cannot be kept in ${dataDir}/secrets.json: ${mount.point} is on a read-only file system (EROFS)`);
    assert.match(fresh.stderr, /fix: Point RAMPART_DATA_DIR at a writable location/);
    assert.doesNotMatch(fresh.stderr, /ENOENT/);

    // Secrets from the environment: the embedded database is the first to write.
    const withSecrets = await runToExit(SERVER_FIXTURE, [], childEnvironment({ RAMPART_PORT: '0', RAMPART_DATA_DIR: dataDir, ...secrets() }));
    assertCleanRefusal(withSecrets);
    assertIncludes(withSecrets.stderr, `RAMPART-E070 [error] RAMPART_DATA_DIR: ${mount.point} is on a read-only file system (EROFS), so ${dataDir}/pglite cannot be written`);
    assert.equal(withSecrets.stdout.includes('Rampart is listening'), false);
  });

  it('names a full disk (ENOSPC), the path and the fix, when the embedded database runs out of space', async () => {
    const mount = mountTmpfs('full', 'size=1m');
    // CI and every development machine run the suite as root; a run that cannot mount fails
    // rather than passing without the check.
    if ('unavailable' in mount) assert.fail(`cannot mount a tmpfs for this test: ${mount.unavailable}`);
    const dataDir = join(mount.point, 'data');
    const result = await runToExit(SERVER_FIXTURE, [], childEnvironment({ RAMPART_PORT: '0', RAMPART_DATA_DIR: dataDir, ...secrets() }));
    assertCleanRefusal(result);
    assertIncludes(result.stderr, `RAMPART-E071 [error] RAMPART_DATA_DIR: the file system holding ${dataDir}/pglite is full (ENOSPC)`);
    assert.match(result.stderr, /fix: Free space on that file system/);
    assert.doesNotMatch(result.stderr, /errno: 51/);
  });

  it('names a data directory below a file (ENOTDIR)', async () => {
    const file = join(temp, 'a-file');
    writeFileSync(file, 'not a directory');
    const result = await runToExit(SERVER_FIXTURE, [], childEnvironment({ RAMPART_PORT: '0', RAMPART_DATA_DIR: join(file, 'data'), ...secrets() }));
    assertCleanRefusal(result);
    assertIncludes(result.stderr, `RAMPART-E070 [error] RAMPART_DATA_DIR: ${file} is a file, so ${file}/data/pglite cannot be a directory (ENOTDIR)`);
  });
});
