import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inspectEnvironment } from '../../src/config/config.js';
import { nodeEndOfLife } from '../../src/config/deploy-checks.js';
import { parseEncryptionKeys } from '../../src/config/encryption-keys.js';
import { assessSecret } from '../../src/config/secret-strength.js';
import { rampartMigrations } from '../../src/app.js';
import { openDatabase } from '../../src/platform/database.js';
import { childEnvironment, CLI_ENTRY, runToExit, type CommandResult } from '../fixtures/processes.js';
import { seedMigratedDataDirectory } from '../helpers/pglite-template.js';

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

  // The command judges the Node.js it runs on: CI runs this file on Node 20 (past its end of
  // life, so RAMPART-W020 is one more warning) and on the current LTS (no such warning).
  const endOfLifeNode = nodeEndOfLife(process.versions.node).getTime() <= Date.now();

  it('check --deploy exits 0 for a correct production environment without starting anything', async () => {
    const result = await rampart(['check', '--deploy'], goodProduction());
    assert.deepEqual({ code: result.code, stderr: result.stderr }, { code: 0, stderr: '' });
    if (endOfLifeNode) {
      assert.match(result.stdout, /^RAMPART-W020 \[warning\] Node\.js: /m);
      assert.match(result.stdout, /^0 error\(s\), 1 warning\(s\)\.$/m);
    } else {
      assert.equal(result.stdout, 'No findings: this configuration passes every deploy check.\n');
    }
  });

  it('check --deploy exits 0 when only warnings remain, and prints them', async () => {
    const settings = { ...goodProduction(), RAMPART_LOG_LEVEL: 'debug' };
    const result = await rampart(['check', '--deploy'], settings);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /^RAMPART-W003 \[warning\] RAMPART_LOG_LEVEL: /m);
    assert.ok(result.stdout.split('\n').includes(`0 error(s), ${endOfLifeNode ? 2 : 1} warning(s).`), result.stdout);
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
    const cases = [['frobnicate'], ['check', 'everything'], ['check', '--deploy', '--force'], []];
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

  it('check alone says whether a start would proceed: 0 with a pointer to --deploy, 1 with what a production start refuses', async () => {
    const development = await rampart(['check'], { RAMPART_DATA_DIR: join(temp, 'check-dev') });
    assert.equal(development.code, 0, development.stderr);
    assert.match(development.stdout, /^The configuration is valid: a development start would proceed\.\n/);
    assert.match(development.stdout, /run `rampart check --deploy` to list them/);
    const production = await rampart(['check'], { NODE_ENV: 'production', RAMPART_SECRET_KEY: 'secretKey' });
    assert.equal(production.code, 1);
    assert.match(production.stdout, /RAMPART-E004 \[error\] RAMPART_SECRET_KEY: /);
    assert.match(production.stdout, /A production start would refuse: \d+ problem\(s\)\.\n$/);
    assert.ok(!production.stdout.includes('secretKey'), 'the secret is never echoed');
    const good = await rampart(['check'], goodProduction());
    // On a Node past its end of life, RAMPART-W020 is the one production finding left (a warning).
    const expected = `The configuration is valid: a production start would proceed.\n${endOfLifeNode ? '1 deploy finding(s) for production: run `rampart check --deploy` to list them.\n' : ''}`;
    assert.deepEqual({ code: good.code, stdout: good.stdout }, { code: 0, stdout: expected });
  });

  it('<command> --help and help <command> print that command\'s help, not the global usage', async () => {
    const cases: [string[], RegExp][] = [
      [['users', 'create', '--help'], /users create --email E --name N/],
      [['help', 'users', 'create'], /users create --email E --name N/],
      [['check', '--help'], /check --deploy/],
      [['tls', 'init', '-h'], /tls init --host H/],
      [['keys', '--help'], /keys generate[\s\S]*keys rotate-signing[\s\S]*keys retire-signing KID --now[\s\S]*keys rotate-encryption[\s\S]*keys rebuild-index/],
      [['events', '--help'], /events verify[\s\S]*first\s+broken/],
    ];
    const results = await Promise.all(cases.map(([args]) => rampart(args)));
    for (const [index, result] of results.entries()) {
      const [args, expected] = cases[index]!;
      assert.equal(result.code, 0, args.join(' '));
      assert.match(result.stdout, expected, args.join(' '));
      assert.ok(!result.stdout.includes('Commands:'), `${args.join(' ')} prints only its own help:\n${result.stdout}`);
      assert.ok(result.stdout.startsWith(`Usage: rampart ${args.filter((a) => !a.startsWith('-') && a !== 'help')[0] ?? ''}`), result.stdout);
    }
  });

  it('migrate applies the migrations to an embedded data directory, then reports it up to date', async () => {
    const dataDir = join(temp, 'migrate', 'data');
    const names = rampartMigrations().map((m) => m.name);
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
    // A migrated data directory, as `rampart migrate` leaves it (the migrate test starts from nothing).
    const dataDir = join(temp, 'signing', 'data');
    await seedMigratedDataDirectory(dataDir);
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

  it('keys rotate-encryption re-encrypts under the new first key with JSON progress lines off a terminal; rebuild-index reseals; events verify names a broken row', async () => {
    const dataDir = join(temp, 'keys', 'data');
    await seedMigratedDataDirectory(dataDir);
    const [secret, newSecret, oldKey, newKey] = [strongKey(), strongKey(), `old-1:${strongKey()}`, `new-1:${strongKey()}`];
    const created = await rampart(['keys', 'rotate-signing'], { RAMPART_DATA_DIR: dataDir, RAMPART_SECRET_KEY: secret, RAMPART_ENCRYPTION_KEYS: oldKey });
    assert.equal(created.code, 0, created.stderr);

    const rotated = await rampart(['keys', 'rotate-encryption'], { RAMPART_DATA_DIR: dataDir, RAMPART_SECRET_KEY: secret, RAMPART_ENCRYPTION_KEYS: `${newKey},${oldKey}` });
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /^Re-encrypting under the active key "new-1"\.\n/);
    assert.match(rotated.stdout, /signing_keys\.private_key_ciphertext: 1 row\(s\) re-encrypted\./);
    assert.match(rotated.stdout, /"old-1" may now be removed from RAMPART_ENCRYPTION_KEYS\.\n$/);
    const progress = rotated.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { progress: string; column: string; done: number; total: number });
    assert.deepEqual(progress.filter((p) => p.column === 'signing_keys.private_key_ciphertext').map((p) => [p.progress, p.done, p.total]), [['rotate-encryption', 0, 1], ['rotate-encryption', 1, 1]]);
    assert.ok(!rotated.stdout.includes(secret) && !rotated.stderr.includes(secret), 'no secret is printed');

    const rebuilt = await rampart(['keys', 'rebuild-index'], { RAMPART_DATA_DIR: dataDir, RAMPART_SECRET_KEY: newSecret, RAMPART_SECRET_KEY_FALLBACKS: secret, RAMPART_ENCRYPTION_KEYS: newKey });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.match(rebuilt.stdout, /signing_keys\.integrity_mac: 1 MAC\(s\) resealed\./);

    const intact = await rampart(['events', 'verify'], { RAMPART_DATA_DIR: dataDir, RAMPART_SECRET_KEY: newSecret, RAMPART_ENCRYPTION_KEYS: newKey });
    assert.equal(intact.code, 0, intact.stderr);
    assert.match(intact.stdout, /^The security event chain is intact: 0 row\(s\) verified\./);
    // A row written straight into the table, as someone with database access but no key would.
    const database = await openDatabase({ dataDir: join(dataDir, 'pglite') });
    const [planted] = await database.db.insertInto('security_events').values({ event: 'authz_admin', severity: 'info', actor: null, client_ip: null, request_id: null, details: '{}', chain_prev: 'genesis', chain_mac: randomBytes(32).toString('base64url') } as never).returning('id').execute();
    await database.close();
    const broken = await rampart(['events', 'verify'], { RAMPART_DATA_DIR: dataDir, RAMPART_SECRET_KEY: newSecret, RAMPART_ENCRYPTION_KEYS: newKey });
    assert.equal(broken.code, 1, broken.stderr);
    assert.ok(broken.stdout.startsWith(`The security event chain is broken at row ${String(planted?.id)}: its MAC does not verify`), broken.stdout);
  });

  it('keys retire-signing needs a key id and --now', async () => {
    for (const args of [['keys', 'retire-signing', '--now'], ['keys', 'retire-signing', 'A'.repeat(43)], ['keys', 'rotate-signing', '--now']]) {
      const result = await rampart(args);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, /retire-signing|--now/);
    }
  });

  it('users create --admin makes a verified administrator from a password on stdin, and applies the policy', async () => {
    const dataDir = join(temp, 'users', 'data');
    await seedMigratedDataDirectory(dataDir);
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
