import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inspectEnvironment } from '../../src/config/config.js';
import { parseEncryptionKeys } from '../../src/config/encryption-keys.js';
import { assessSecret } from '../../src/config/secret-strength.js';
import { migrationProvider } from '../../src/platform/migrations/index.js';
import { childEnvironment, CLI_ENTRY, runToExit, type CommandResult } from '../fixtures/processes.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-cli-'));
after(() => {
  rmSync(temp, { recursive: true, force: true });
});

function rampart(args: readonly string[], settings: Record<string, string> = {}): Promise<CommandResult> {
  return runToExit(CLI_ENTRY, args, childEnvironment(settings));
}

const strongKey = () => randomBytes(32).toString('base64url');

const goodProduction = (): Record<string, string> => ({
  NODE_ENV: 'production',
  RAMPART_SECRET_KEY: strongKey(),
  RAMPART_ENCRYPTION_KEYS: `k1:${strongKey()}`,
  DATABASE_URL: 'postgres://rampart_app:app-password@127.0.0.1:5432/rampart',
  DATABASE_MIGRATION_URL: 'postgres://rampart_owner:owner-password@127.0.0.1:5432/rampart',
  REDIS_URL: 'redis://127.0.0.1:6379',
  RAMPART_TRUST_PROXY: 'loopback',
  RAMPART_PUBLIC_URL: 'https://rampart.example.com',
  RAMPART_SECURITY_CONTACT: 'mailto:security@example.com',
  RAMPART_SMTP_URL: 'smtps://mailer:smtp-password@mail.example.com:465',
});

// Each case is its own process; none shares state with another, so they run side by side.
describe('the rampart command', { concurrency: true }, () => {
  it('check --deploy prints every finding with its id, setting and fix, and exits 1 on errors', async () => {
    const settings = { NODE_ENV: 'production', RAMPART_SECRET_KEY: 'secretKey', RAMPART_CORS_ORIGINS: '*', RAMPART_CORS_CREDENTIALS: 'true' };
    const result = await rampart(['check', '--deploy'], settings);
    assert.equal(result.code, 1, result.stderr);

    const { problems, deploy } = inspectEnvironment(settings);
    const expected = [...problems, ...deploy.filter((f) => !problems.includes(f))];
    assert.ok(expected.some((f) => f.id === 'RAMPART-E004' && f.setting === 'RAMPART_SECRET_KEY'));
    for (const finding of expected) {
      assert.ok(result.stdout.includes(`${finding.id} [${finding.severity}] ${finding.setting}: ${finding.reason}\n    fix: ${finding.fix}`), `${finding.id} is missing:\n${result.stdout}`);
    }
    const printed = [...result.stdout.matchAll(/^RAMPART-[EW]\d{3} /gm)].length;
    assert.equal(printed, expected.length, 'each finding is printed once');
    const errors = expected.filter((f) => f.severity === 'error').length;
    assert.ok(result.stdout.endsWith(`\n${errors} error(s), ${expected.length - errors} warning(s).\n`), result.stdout);
    assert.ok(!result.stdout.includes('secretKey') && !result.stderr.includes('secretKey'), 'the secret is never echoed');
  });

  it('check --deploy exits 0 for a correct production environment without starting anything', async () => {
    const result = await rampart(['check', '--deploy'], goodProduction());
    assert.deepEqual({ code: result.code, stderr: result.stderr }, { code: 0, stderr: '' });
    assert.equal(result.stdout, 'No findings: this configuration passes every deploy check.\n');
  });

  it('check --deploy exits 0 when only warnings remain, and prints them', async () => {
    const settings = { ...goodProduction(), RAMPART_LOG_LEVEL: 'debug' };
    const result = await rampart(['check', '--deploy'], settings);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /^RAMPART-W003 \[warning\] RAMPART_LOG_LEVEL: /m);
    assert.match(result.stdout, /^0 error\(s\), 1 warning\(s\)\.$/m);
  });

  it('secrets generate prints a key that passes the secret-strength checks', async () => {
    const [first, second] = await Promise.all([rampart(['secrets', 'generate']), rampart(['secrets', 'generate'])]);
    for (const result of [first, second]) {
      assert.equal(result.code, 0, result.stderr);
      const key = result.stdout.trim();
      assert.deepEqual(assessSecret(key).problems, []);
      assert.equal(assessSecret(key).bytes.length, 32);
    }
    assert.notEqual(first.stdout, second.stdout);
  });

  it('keys generate --id k1 prints an entry RAMPART_ENCRYPTION_KEYS accepts', async () => {
    const result = await rampart(['keys', 'generate', '--id', 'k1']);
    assert.equal(result.code, 0, result.stderr);
    const keys = parseEncryptionKeys(result.stdout.trim());
    assert.deepEqual(keys.map(({ id, key }) => [id, key.length]), [['k1', 32]]);
    assert.deepEqual(assessSecret(result.stdout.trim().slice('k1:'.length)).problems, []);
  });

  it('keys generate without an id names the key after the date', async () => {
    const result = await rampart(['keys', 'generate']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(parseEncryptionKeys(result.stdout.trim())[0]?.id ?? '', /^\d{4}-\d{2}-\d{2}$/);
  });

  it('exits 2 with the usage for an unknown command, an unknown option or no command', async () => {
    const cases = [['frobnicate'], ['check'], ['check', '--deploy', '--force'], []];
    const [help, ...results] = await Promise.all([rampart(['help']), ...cases.map((args) => rampart(args))]);
    for (const [index, result] of results.entries()) {
      const label = (cases[index] ?? []).join(' ') || '(no arguments)';
      assert.equal(result.code, 2, `${label}: ${result.stderr}`);
      assert.match(result.stderr, /Usage: rampart <command> \[options\]/, label);
      assert.equal(result.stdout, '', label);
    }
    assert.ok(help);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /check --deploy/);
  });

  it('migrate applies the migrations to an embedded data directory, then reports it up to date', async () => {
    const dataDir = join(temp, 'migrate', 'data');
    const names = Object.keys(await migrationProvider.getMigrations()).sort();
    const first = await rampart(['migrate'], { RAMPART_DATA_DIR: dataDir });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, `Applied: ${names.join(', ')}\n`);
    assert.ok(statSync(join(dataDir, 'pglite')).isDirectory());
    assert.equal(statSync(join(dataDir, 'secrets.json')).mode & 0o777, 0o600);

    const second = await rampart(['migrate'], { RAMPART_DATA_DIR: dataDir });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, 'The database is up to date.\n');
  });

  it('keys rotate-signing adds a new active signing key and keeps the previous one verifying for the overlap', async () => {
    const dataDir = join(temp, 'signing', 'data');
    const first = await rampart(['keys', 'rotate-signing'], { RAMPART_DATA_DIR: dataDir });
    assert.equal(first.code, 0, first.stderr);
    const firstKid = /^New signing key ([A-Za-z0-9_-]{43}) is active\.\nThere was no previous key\.\n$/.exec(first.stdout)?.[1];
    assert.ok(firstKid !== undefined, first.stdout);
    const before = Date.now();
    const second = await rampart(['keys', 'rotate-signing'], { RAMPART_DATA_DIR: dataDir, RAMPART_ACCESS_TOKEN_MINUTES: '15' });
    assert.equal(second.code, 0, second.stderr);
    const match = /^New signing key ([A-Za-z0-9_-]{43}) is active\.\nThe previous key ([A-Za-z0-9_-]{43}) no longer signs; it verifies until (\S+) and is then retired\.\n$/.exec(second.stdout);
    assert.ok(match !== null, second.stdout);
    assert.notEqual(match[1], firstKid);
    assert.equal(match[2], firstKid);
    // 15 min of token lifetime, 30 s of clock tolerance and 10 s of key-cache age.
    const overlapMs = Date.parse(match[3] ?? '') - before;
    assert.ok(overlapMs >= 15 * 60_000 + 40_000 && overlapMs < 15 * 60_000 + 40_000 + 60_000, `overlap ${overlapMs} ms`);
  });

  it('users create --admin makes a verified administrator from a password on stdin, and applies the policy', async () => {
    const dataDir = join(temp, 'users', 'data');
    const email = `root.${randomBytes(4).toString('hex')}@example.com`;
    const password = `copper kettle ${randomBytes(6).toString('hex')} meadow`;
    const args = ['users', 'create', '--admin', '--email', email, '--name', 'Root', '--password-stdin'];
    const created = await runToExit(CLI_ENTRY, args, childEnvironment({ RAMPART_DATA_DIR: dataDir }), undefined, `${password}\n`);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^Created administrator [0-9a-f-]{36} \(/);
    assert.ok(!created.stdout.includes(password) && !created.stderr.includes(password));
    const again = await runToExit(CLI_ENTRY, args, childEnvironment({ RAMPART_DATA_DIR: dataDir }), undefined, `${password}\n`);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already has an account/);
    const weak = await runToExit(CLI_ENTRY, ['users', 'create', '--email', `w.${email}`, '--name', 'W', '--password-stdin'], childEnvironment({ RAMPART_DATA_DIR: dataDir }), undefined, 'password123\n');
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /Password refused/);
    const noTerminal = await rampart(['users', 'create', '--email', `t.${email}`, '--name', 'T'], { RAMPART_DATA_DIR: dataDir });
    assert.equal(noTerminal.code, 2, 'without a terminal or --password-stdin it refuses rather than read an empty password');
  });

  it('migrate refuses a production environment that fails the deploy checks, naming the finding', async () => {
    const result = await rampart(['migrate'], { NODE_ENV: 'production', RAMPART_SECRET_KEY: 'secretKey', RAMPART_DATA_DIR: join(temp, 'refused') });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /RAMPART-E004 \[error\] RAMPART_SECRET_KEY/);
    assert.equal(result.stdout, '');
  });
});
