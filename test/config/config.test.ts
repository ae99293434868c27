import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type Config, inspectEnvironment, loadConfig } from '../../src/config/config.js';
import { ConfigError, type Finding, formatFinding } from '../../src/config/findings.js';
import { decodeSecret } from '../../src/config/secret-strength.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-config-'));
after(() => {
  rmSync(temp, { recursive: true, force: true });
});

let dirs = 0;
/** A fresh directory path under the suite's temp dir (not created). */
function freshDir(label: string): string {
  dirs += 1;
  return join(temp, `${label}-${dirs}`);
}

function writeTempFile(name: string, content: string): string {
  const dir = freshDir('files');
  mkdirSync(dir);
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

const strongKey = () => randomBytes(32).toString('base64url');
const keyEntry = (id: string) => `${id}:${randomBytes(32).toString('base64url')}`;
const secrets = () => ({ RAMPART_SECRET_KEY: strongKey(), RAMPART_ENCRYPTION_KEYS: keyEntry('k1') });

function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('the configuration was accepted');
}

function problemFor(env: NodeJS.ProcessEnv, setting: string): Finding {
  const { config, problems } = inspectEnvironment(env);
  assert.equal(config, null, `expected ${setting} to be refused`);
  const problem = problems.find((p) => p.setting === setting);
  assert.ok(problem, `no problem names ${setting}: ${problems.map(formatFinding).join('\n')}`);
  return problem;
}

/** Every object reachable from the config, with its path (Buffers and Dates are values, not containers). */
function containers(value: unknown, path = 'config'): [string, object][] {
  if (typeof value !== 'object' || value === null || Buffer.isBuffer(value) || value instanceof Date) return [];
  return [[path, value], ...Object.entries(value).flatMap(([key, inner]) => containers(inner, `${path}.${key}`))];
}

describe('configuration', () => {
  it('builds a deeply frozen configuration from the defaults alone', () => {
    const dataDir = freshDir('defaults');
    const { config } = loadConfig({ RAMPART_DATA_DIR: dataDir }, { generateDevSecrets: true });
    assert.equal(config.env, 'development');
    assert.equal(config.isProduction, false);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 3000);
    assert.equal(config.publicUrl, 'http://localhost:3000');
    assert.equal(config.dataDir, dataDir);
    assert.equal(config.bodyLimitBytes, 10 * 1024);
    assert.equal(config.trustProxy, false);
    assert.equal(config.tls, null);
    assert.deepEqual(config.cors, { origins: [], credentials: false });
    assert.deepEqual(config.database, { url: null, migrationUrl: null, embeddedOptIn: false });
    assert.deepEqual(config.store, { redisUrl: null, keyPrefix: 'rampart:', singleInstance: false });
    assert.equal(config.secrets.secretKey.length, 32);

    const all = containers(config);
    assert.ok(all.length >= 15, `walked ${all.length} objects`);
    for (const [path, object] of all) assert.ok(Object.isFrozen(object), `${path} is not frozen`);
    // ESM is strict mode: writing to a frozen object throws rather than being ignored.
    const writable = config as unknown as { port: number; http: { headersTimeoutMs: number }; cors: { origins: string[] }; secrets: { encryptionKeys: { id: string }[] } };
    assert.throws(() => { writable.port = 80; }, TypeError);
    assert.throws(() => { writable.http.headersTimeoutMs = 1; }, TypeError);
    assert.throws(() => { writable.cors.origins.push('https://evil.example'); }, TypeError);
    assert.throws(() => { writable.secrets.encryptionKeys[0]!.id = 'other'; }, TypeError);
    assert.equal(config.port, 3000);
  });

  it('refuses an unknown RAMPART_* variable, naming the closest valid one and not its value', () => {
    const value = `typo-${strongKey()}`;
    const problem = problemFor({ ...secrets(), RAMPART_SECRET_KY: value }, 'RAMPART_SECRET_KY');
    assert.equal(problem.id, 'RAMPART-E090');
    assert.match(problem.fix, /Did you mean RAMPART_SECRET_KEY\?/);

    const err = refusal({ ...secrets(), RAMPART_SECRET_KY: value });
    assert.match(err.message, /RAMPART-E090 \[error\] RAMPART_SECRET_KY: unknown setting/);
    assert.ok(!err.message.includes(value));
  });

  it('names the closest setting for misspelled database, Redis and _FILE variables too', () => {
    const cases: [string, string][] = [
      ['DATABASE_URI', 'DATABASE_URL'],
      ['REDIS_URI', 'REDIS_URL'],
      ['RAMPART_SECRET_KEY_FIEL', 'RAMPART_SECRET_KEY_FILE'],
      ['RAMPART_TRUSTED_PROXY', 'RAMPART_TRUST_PROXY'],
    ];
    for (const [typo, meant] of cases) {
      const problem = problemFor({ ...secrets(), [typo]: 'x' }, typo);
      assert.equal(problem.id, 'RAMPART-E090');
      assert.ok(problem.fix.includes(`Did you mean ${meant}?`), `${typo}: ${problem.fix}`);
    }
  });

  it('accepts _FILE only for secrets', () => {
    const problem = problemFor({ ...secrets(), RAMPART_PORT_FILE: writeTempFile('port', '8080\n') }, 'RAMPART_PORT_FILE');
    assert.equal(problem.id, 'RAMPART-E090');
  });

  it('refuses unknown variables in production as in development', () => {
    const err = refusal({ ...secrets(), NODE_ENV: 'production', RAMPART_SECRET_KY: 'x' });
    assert.ok(err.findings.some((f) => f.id === 'RAMPART-E090' && f.setting === 'RAMPART_SECRET_KY'));
  });

  it('reads secrets from NAME_FILE, stripping one trailing newline', () => {
    const key = strongKey();
    const keys = keyEntry('from-file');
    const databaseUrl = 'postgres://app:s3cret-from-file@127.0.0.1:5432/rampart';
    const { config } = loadConfig({
      RAMPART_SECRET_KEY_FILE: writeTempFile('secret-key', `${key}\n`),
      RAMPART_ENCRYPTION_KEYS_FILE: writeTempFile('encryption-keys', `${keys}\r\n`),
      DATABASE_URL_FILE: writeTempFile('database-url', databaseUrl),
    });
    assert.deepEqual(config.secrets.secretKey, decodeSecret(key));
    assert.equal(config.secrets.encryptionKeys[0]?.id, 'from-file');
    assert.equal(config.database.url, databaseUrl);
    assert.equal(config.secrets.source, 'environment');
  });

  it('refuses a secret set both directly and through NAME_FILE', () => {
    const direct = strongKey();
    const inFile = strongKey();
    const problem = problemFor({ ...secrets(), RAMPART_SECRET_KEY: direct, RAMPART_SECRET_KEY_FILE: writeTempFile('key', inFile) }, 'RAMPART_SECRET_KEY');
    assert.equal(problem.id, 'RAMPART-E092');
    const text = formatFinding(problem);
    assert.ok(!text.includes(direct) && !text.includes(inFile));
  });

  it('refuses an unreadable NAME_FILE with the reason only', () => {
    const missing = join(freshDir('missing'), 'secret-key');
    const directory = freshDir('a-directory');
    mkdirSync(directory);
    for (const [path, code] of [[missing, 'ENOENT'], [directory, 'EISDIR']] as const) {
      const problem = problemFor({ RAMPART_ENCRYPTION_KEYS: keyEntry('k1'), RAMPART_SECRET_KEY_FILE: path }, 'RAMPART_SECRET_KEY_FILE');
      assert.equal(problem.id, 'RAMPART-E093');
      assert.equal(problem.reason, `the file cannot be read (${code})`);
    }
  });

  it('refuses a readable NAME_FILE holding a bad value without quoting the file', () => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const badUrl = problemFor({ ...secrets(), DATABASE_URL_FILE: writeTempFile('url', `mysql://app:${password}@db.internal/rampart\n`) }, 'DATABASE_URL');
    assert.equal(badUrl.id, 'RAMPART-E091');
    assert.ok(!formatFinding(badUrl).includes(password));

    // A key pasted where the id goes, and a key of the wrong length.
    const key = randomBytes(32).toString('base64url');
    const shortKey = randomBytes(20).toString('base64url');
    for (const content of [`${key}:k1\n`, `k1:${shortKey}\n`]) {
      const badKeys = problemFor({ RAMPART_SECRET_KEY: strongKey(), RAMPART_ENCRYPTION_KEYS_FILE: writeTempFile('keys', content) }, 'RAMPART_ENCRYPTION_KEYS');
      assert.ok(!formatFinding(badKeys).includes(key) && !formatFinding(badKeys).includes(shortKey), formatFinding(badKeys));
    }
  });

  it('refuses out-of-range and malformed values, naming the setting', () => {
    const cases: Record<string, string> = {
      RAMPART_PORT: '70000',
      RAMPART_LOG_LEVEL: 'loud',
      NODE_ENV: 'staging',
      RAMPART_PUBLIC_URL: 'https://rampart.example.com/app',
      RAMPART_BODY_LIMIT_BYTES: '1',
      RAMPART_REDIS_PREFIX: 'has spaces',
      RAMPART_CORS_ORIGINS: 'https://app.example.com/path',
      REDIS_URL: 'http://127.0.0.1:6379',
    };
    for (const [setting, value] of Object.entries(cases)) {
      assert.equal(problemFor({ ...secrets(), [setting]: value }, setting).id, 'RAMPART-E091', setting);
    }
    const port = refusal({ ...secrets(), RAMPART_PORT: '70000' });
    assert.match(port.message, /RAMPART-E091 \[error\] RAMPART_PORT: /);
  });

  it('treats an empty value as unset, so RAMPART_PORT= does not mean a random port', () => {
    const { config } = loadConfig({ ...secrets(), RAMPART_PORT: '', RAMPART_SHUTDOWN_GRACE_MS: '', RAMPART_PUBLIC_URL: '' });
    assert.equal(config.port, 3000);
    assert.equal(config.shutdownGraceMs, 10_000);
    assert.equal(config.publicUrl, 'http://localhost:3000');
  });

  it('refuses blanket proxy trust in every spelling', () => {
    const blanket = ['*', 'true', 'TRUE', 'all', '0.0.0.0/0', '::/0', '10.0.0.1, *', '0.0.0.0/1,128.0.0.0/1', '::ffff:0:0/96', '::/80', '2000::/3', '0', '11'];
    for (const value of blanket) {
      const problem = problemFor({ ...secrets(), RAMPART_TRUST_PROXY: value }, 'RAMPART_TRUST_PROXY');
      assert.equal(problem.id, 'RAMPART-E091', value);
    }
  });

  it('refuses a proxy entry that is not an address, CIDR or known name', () => {
    for (const value of ['10.0.0.0/33', '10.0.0.300', 'proxy.internal', 'fd00::/129', 'loopback,']) {
      const { problems } = inspectEnvironment({ ...secrets(), RAMPART_TRUST_PROXY: value });
      if (value === 'loopback,') {
        assert.deepEqual(problems, [], 'a trailing comma is harmless');
        continue;
      }
      assert.ok(problems.some((p) => p.setting === 'RAMPART_TRUST_PROXY' && p.id === 'RAMPART-E091'), value);
    }
  });

  it('refuses a hop count, which cannot tell a proxy from a client forging X-Forwarded-For', () => {
    for (const value of ['1', '2', '10']) {
      const { problems } = inspectEnvironment({ ...secrets(), RAMPART_TRUST_PROXY: value });
      assert.ok(problems.some((p) => p.setting === 'RAMPART_TRUST_PROXY' && p.id === 'RAMPART-E091'), value);
    }
  });

  it('accepts address and CIDR lists and named ranges as trusted proxies', () => {
    const cases: [string, Config['trustProxy']][] = [
      ['10.0.0.5', { addresses: ['10.0.0.5'] }],
      ['10.0.0.0/8, 192.168.1.10', { addresses: ['10.0.0.0/8', '192.168.1.10'] }],
      ['loopback', { addresses: ['loopback'] }],
      ['loopback,uniquelocal,linklocal', { addresses: ['loopback', 'uniquelocal', 'linklocal'] }],
      ['fd00::/8,::1', { addresses: ['fd00::/8', '::1'] }],
      ['::ffff:10.0.0.0/104', { addresses: ['::ffff:10.0.0.0/104'] }],
    ];
    for (const [value, expected] of cases) {
      const { config } = loadConfig({ ...secrets(), RAMPART_TRUST_PROXY: value });
      assert.deepEqual(config.trustProxy, expected, value);
    }
  });

  it('refuses CORS `*` with credentials in development and test too', () => {
    for (const NODE_ENV of ['development', 'test']) {
      const err = refusal({ ...secrets(), NODE_ENV, RAMPART_CORS_ORIGINS: '*', RAMPART_CORS_CREDENTIALS: 'true' });
      assert.ok(err.findings.some((f) => f.id === 'RAMPART-E030' && f.setting === 'RAMPART_CORS_ORIGINS'), NODE_ENV);
    }
  });

  it('refuses a TLS certificate or key file that cannot be read', () => {
    const key = writeTempFile('key.pem', 'not checked here');
    const problem = problemFor({ ...secrets(), RAMPART_TLS_CERT_FILE: join(freshDir('tls'), 'cert.pem'), RAMPART_TLS_KEY_FILE: key }, 'RAMPART_TLS_CERT_FILE');
    assert.equal(problem.id, 'RAMPART-E091');
  });
});

describe('development secrets', () => {
  it('are generated once into <dataDir>/secrets.json with mode 0600, then reused', () => {
    const dataDir = freshDir('dev-secrets');
    const first = loadConfig({ RAMPART_DATA_DIR: dataDir }, { generateDevSecrets: true }).config;
    const file = join(dataDir, 'secrets.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(first.secrets.source, 'generated');
    const written = readFileSync(file, 'utf8');

    const second = loadConfig({ RAMPART_DATA_DIR: dataDir }, { generateDevSecrets: true }).config;
    assert.deepEqual(second.secrets.secretKey, first.secrets.secretKey);
    assert.deepEqual(second.secrets.encryptionKeys, first.secrets.encryptionKeys);
    assert.equal(readFileSync(file, 'utf8'), written, 'the file is not rewritten');
  });

  it('fill in only what the environment leaves out', () => {
    const dataDir = freshDir('partial');
    const key = strongKey();
    const { config } = loadConfig({ RAMPART_DATA_DIR: dataDir, RAMPART_SECRET_KEY: key }, { generateDevSecrets: true });
    assert.deepEqual(config.secrets.secretKey, decodeSecret(key));
    assert.equal(config.secrets.encryptionKeys[0]?.id, 'dev-1');
  });

  it('are never generated with NODE_ENV=production', () => {
    const dataDir = freshDir('production');
    let err: unknown;
    try {
      loadConfig({ NODE_ENV: 'production', RAMPART_DATA_DIR: dataDir }, { generateDevSecrets: true });
    } catch (caught) {
      err = caught;
    }
    assert.ok(err instanceof ConfigError);
    assert.ok(err.findings.some((f) => f.id === 'RAMPART-E001'));
    assert.ok(err.findings.some((f) => f.id === 'RAMPART-E005'));
    assert.equal(existsSync(dataDir), false, 'nothing was written');
  });

  it('are not generated unless asked for: missing secrets are then refused in development', () => {
    const dataDir = freshDir('not-asked');
    const err = refusal({ RAMPART_DATA_DIR: dataDir });
    assert.deepEqual(err.findings.map((f) => f.id).sort(), ['RAMPART-E001', 'RAMPART-E005']);
    assert.equal(existsSync(dataDir), false);
  });

  it('refuse a malformed secrets file without quoting it', () => {
    const dataDir = freshDir('malformed');
    mkdirSync(dataDir, { mode: 0o700 });
    const fragment = randomBytes(16).toString('hex');
    for (const content of [`{"secretKey": "${fragment}`, fragment, JSON.stringify({ secretKey: fragment })]) {
      writeFileSync(join(dataDir, 'secrets.json'), content, { mode: 0o600 });
      const { config, problems } = inspectEnvironment({ RAMPART_DATA_DIR: dataDir }, { generateDevSecrets: true });
      assert.equal(config, null);
      const problem = problems.find((p) => p.setting === 'RAMPART_DATA_DIR');
      assert.equal(problem?.id, 'RAMPART-E091');
      for (const p of problems) assert.ok(!formatFinding(p).includes(fragment), formatFinding(p));
    }
  });

  it('tighten a secrets file other users could read', () => {
    const dataDir = freshDir('loose');
    loadConfig({ RAMPART_DATA_DIR: dataDir }, { generateDevSecrets: true });
    const file = join(dataDir, 'secrets.json');
    chmodSync(file, 0o644);
    loadConfig({ RAMPART_DATA_DIR: dataDir }, { generateDevSecrets: true });
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});

describe('secret values in messages', () => {
  it('never appear in a problem, a deploy finding or the refusal message', () => {
    const mark = () => randomBytes(9).toString('hex');
    const values = {
      placeholder: `changeme-${mark()}`,
      short: mark(),
      strong: strongKey(),
      dbPassword: `db-${mark()}`,
      redisPassword: `redis-${mark()}`,
      smtpPassword: `smtp-${mark()}`,
      keyMaterial: randomBytes(32).toString('base64url'),
      badKey: `bad-${mark()}`,
      misspelled: `typo-${mark()}`,
      fileSecret: strongKey(),
    };
    const environments: NodeJS.ProcessEnv[] = [
      { RAMPART_SECRET_KEY: values.placeholder, RAMPART_ENCRYPTION_KEYS: `k1:${values.keyMaterial}` },
      { RAMPART_SECRET_KEY: values.short, RAMPART_ENCRYPTION_KEYS: `k1:${values.badKey}` },
      { RAMPART_SECRET_KEY: values.strong, RAMPART_ENCRYPTION_KEYS: `k1:${values.keyMaterial},k1:${values.keyMaterial}` },
      { RAMPART_SECRET_KEY: values.strong, RAMPART_SECRET_KEY_FILE: writeTempFile('both', values.fileSecret), RAMPART_ENCRYPTION_KEYS: values.keyMaterial },
      { RAMPART_SECRET_KY: values.misspelled, RAMPART_ENCRYPTION_KEYS: `${values.keyMaterial}:x` },
      {
        RAMPART_SECRET_KEY: values.placeholder,
        DATABASE_URL: `postgres://app:${values.dbPassword}@db.example.com/rampart`,
        REDIS_URL: `redis://:${values.redisPassword}@cache.example.com:6379`,
        RAMPART_SMTP_URL: `smtp://mailer:${values.smtpPassword}@mail.example.com:587`,
      },
      { DATABASE_URL: `mysql://app:${values.dbPassword}@db/x`, REDIS_URL: `http://:${values.redisPassword}@cache`, RAMPART_SMTP_URL: `ftp://u:${values.smtpPassword}@m` },
    ];
    let checked = 0;
    for (const base of environments) {
      for (const NODE_ENV of ['development', 'production']) {
        const env = { ...base, NODE_ENV };
        const { problems, deploy } = inspectEnvironment(env);
        const texts = [...problems, ...deploy].map(formatFinding);
        try {
          loadConfig(env);
        } catch (err) {
          texts.push(err instanceof Error ? err.message : String(err));
        }
        for (const text of texts) {
          checked += 1;
          for (const [name, value] of Object.entries(values)) assert.ok(!text.includes(value), `${name} leaked into: ${text}`);
        }
      }
    }
    assert.ok(checked > 50, `checked ${checked} texts`);
  });
});
