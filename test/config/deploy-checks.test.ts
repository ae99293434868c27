import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inspectEnvironment, loadConfig } from '../../src/config/config.js';
import { nodeEndOfLife, PRODUCTION_NODE_LTS } from '../../src/config/deploy-checks.js';
import { ConfigError, type Finding, formatFinding } from '../../src/config/findings.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-deploy-'));
after(() => {
  rmSync(temp, { recursive: true, force: true });
});
// The checks look only at whether the files are readable; serving TLS is the app's concern.
const certFile = join(temp, 'cert.pem');
const keyFile = join(temp, 'key.pem');
writeFileSync(certFile, '-----BEGIN CERTIFICATE-----\n');
writeFileSync(keyFile, '-----BEGIN PRIVATE KEY-----\n', { mode: 0o600 });

const strongKey = () => randomBytes(32).toString('base64url');

/** A production environment that passes every check; tests break one thing at a time. */
function production(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    NODE_ENV: 'production',
    RAMPART_SECRET_KEY: strongKey(),
    RAMPART_ENCRYPTION_KEYS: `k2:${strongKey()},k1:${strongKey()}`,
    DATABASE_URL: 'postgres://rampart_app:app-password@db.internal:5432/rampart?sslmode=verify-full',
    DATABASE_MIGRATION_URL: 'postgres://rampart_owner:owner-password@db.internal:5432/rampart?sslmode=verify-full',
    REDIS_URL: 'rediss://:redis-password@cache.internal:6380',
    RAMPART_TRUST_PROXY: '10.0.0.0/8',
    RAMPART_PUBLIC_URL: 'https://rampart.example.com',
    RAMPART_SECURITY_CONTACT: 'mailto:security@example.com',
    RAMPART_SMTP_URL: 'smtps://mailer:smtp-password@mail.example.com:465',
    RAMPART_DATA_DIR: join(temp, 'data'),
    ...overrides,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) Reflect.deleteProperty(env, name);
  return env;
}

// The documented production runtime, so the runtime these tests happen to run on (Node 20 on
// CI, past its end of life) is not one more finding in every report; W020 has its own tests.
const SUPPORTED_NODE = { nodeVersion: `${PRODUCTION_NODE_LTS}.0.0` };

function findings(env: NodeJS.ProcessEnv, options: { nodeVersion?: string; now?: Date } = SUPPORTED_NODE): readonly Finding[] {
  const { problems, deploy } = inspectEnvironment(env, options);
  assert.deepEqual(problems.filter((p) => p.id !== 'RAMPART-E030'), [], 'the environment itself is valid');
  return deploy;
}

function errorIds(env: NodeJS.ProcessEnv): string[] {
  return findings(env).filter((f) => f.severity === 'error').map((f) => f.id).sort();
}

function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('production accepted the configuration');
}

describe('deploy checks', () => {
  it('pass a fully correct production environment behind a trusted proxy', () => {
    const env = production();
    assert.deepEqual(findings(env).map(formatFinding), []);
    const { config, warnings } = loadConfig(env, SUPPORTED_NODE);
    assert.equal(config.isProduction, true);
    assert.deepEqual(warnings, []);
  });

  it('pass a fully correct production environment serving TLS itself', () => {
    const env = production({ RAMPART_TRUST_PROXY: undefined, RAMPART_TLS_CERT_FILE: certFile, RAMPART_TLS_KEY_FILE: keyFile });
    assert.deepEqual(errorIds(env), []);
    assert.deepEqual(loadConfig(env).config.tls, { certFile, keyFile });
  });

  it('refuse RAMPART_SECRET_KEY=secretKey in production, naming the setting, the reasons and the fix', () => {
    const err = refusal(production({ RAMPART_SECRET_KEY: 'secretKey' }));
    assert.deepEqual(err.findings.map((f) => f.id).sort(), ['RAMPART-E002', 'RAMPART-E003', 'RAMPART-E004']);
    for (const finding of err.findings) {
      assert.equal(finding.setting, 'RAMPART_SECRET_KEY');
      assert.match(finding.fix, /rampart secrets generate/);
      assert.ok(err.message.includes(formatFinding(finding)));
    }
    assert.ok(!err.message.includes('secretKey'), 'the value itself is not repeated');
  });

  it('refuse every family of weak secret key', () => {
    const cases: [string, string, string[]][] = [
      ['a changeme value padded with random text', `changeme-${randomBytes(24).toString('hex')}`, ['RAMPART-E004']],
      ['a tutorial phrase', 'your-super-secret-key-goes-here-please-change-it', ['RAMPART-E004']],
      ['64 repeated hex characters', 'a'.repeat(64), ['RAMPART-E003']],
      ['a repeated pattern', 'Qz7Wx3Rm'.repeat(8), ['RAMPART-E003']],
      ['a repeated pattern with a partial tail', `${'Qz7Wx3Rm'.repeat(8)}Qz7`, ['RAMPART-E003']],
      ['a long pattern typed three times', 'Xk9#mP2$vL5@nQ8&w'.repeat(3), ['RAMPART-E003']],
      ['a short random value', randomBytes(16).toString('base64url'), ['RAMPART-E002']],
      ['a short random hex value', randomBytes(16).toString('hex'), ['RAMPART-E002']],
      ['24 random bytes in base64url', randomBytes(24).toString('base64url'), ['RAMPART-E002']],
      ['24 random bytes in hex', randomBytes(24).toString('hex'), ['RAMPART-E002']],
    ];
    for (const [label, value, expected] of cases) {
      const ids = errorIds(production({ RAMPART_SECRET_KEY: value }));
      for (const id of expected) assert.ok(ids.includes(id), `${label}: expected ${id}, got ${ids.join(', ') || 'nothing'}`);
      const err = refusal(production({ RAMPART_SECRET_KEY: value }));
      assert.ok(err.findings.every((f) => f.setting === 'RAMPART_SECRET_KEY'), `${label}: ${err.message}`);
      assert.ok(!err.message.includes(value), `${label}: the value is not repeated`);
    }
  });

  it('accept a strong random key as base64url, base64 or hex', () => {
    for (const value of [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64'), randomBytes(32).toString('hex'), randomBytes(64).toString('base64url')]) {
      assert.deepEqual(errorIds(production({ RAMPART_SECRET_KEY: value })), [], value.length.toString());
    }
  });

  it('warn (W005) unless a remote database is reached with sslmode=verify-full', () => {
    const w005 = (url: string) => findings(production({ DATABASE_URL: url })).some((f) => f.id === 'RAMPART-W005');
    for (const mode of ['', '?sslmode=disable', '?sslmode=prefer', '?sslmode=require', '?sslmode=verify-ca', '?sslmode=verify-fullx']) {
      assert.ok(w005(`postgres://app:pw@db.internal:5432/rampart${mode}`), `sslmode ${mode || 'absent'} must warn: it does not verify both certificate and host name`);
    }
    assert.equal(w005('postgres://app:pw@db.internal:5432/rampart?sslmode=verify-full'), false);
    assert.equal(w005('postgres://app:pw@db.internal:5432/rampart?application_name=x&sslmode=verify-full'), false);
    assert.equal(w005('postgres://app:pw@127.0.0.1:5432/rampart'), false, 'loopback needs no TLS');
  });

  it('refuse a missing secret key or encryption key', () => {
    assert.deepEqual(errorIds(production({ RAMPART_SECRET_KEY: undefined })), ['RAMPART-E001']);
    assert.deepEqual(errorIds(production({ RAMPART_ENCRYPTION_KEYS: undefined })), ['RAMPART-E005']);
  });

  it('refuse a hand-made encryption key (E006)', () => {
    const zeros = Buffer.alloc(32).toString('base64url');
    const finding = findings(production({ RAMPART_ENCRYPTION_KEYS: `k2:${strongKey()},k1:${zeros}` })).find((f) => f.id === 'RAMPART-E006');
    assert.equal(finding?.setting, 'RAMPART_ENCRYPTION_KEYS');
  });

  it('refuse the in-memory store unless told there is one instance (E010)', () => {
    const found = findings(production({ REDIS_URL: undefined })).find((f) => f.id === 'RAMPART-E010');
    assert.ok(found);
    assert.equal(found.setting, 'REDIS_URL');
    assert.match(found.fix, /RAMPART_SINGLE_INSTANCE=true/);
    assert.deepEqual(errorIds(production({ REDIS_URL: undefined, RAMPART_SINGLE_INSTANCE: 'true' })), []);
  });

  it('refuse the embedded database without an explicit opt-in (E011)', () => {
    const env = production({ DATABASE_URL: undefined, DATABASE_MIGRATION_URL: undefined });
    const found = findings(env).find((f) => f.id === 'RAMPART-E011');
    assert.ok(found);
    assert.equal(found.setting, 'DATABASE_URL');
    assert.match(found.fix, /RAMPART_EMBEDDED_DATABASE=true/);
    assert.deepEqual(errorIds({ ...env, RAMPART_EMBEDDED_DATABASE: 'true' }), []);
  });

  it('refuse a missing or plain-http public URL (E012, E013)', () => {
    assert.deepEqual(errorIds(production({ RAMPART_PUBLIC_URL: undefined })), ['RAMPART-E012']);
    const plain = findings(production({ RAMPART_PUBLIC_URL: 'http://rampart.example.com' }));
    assert.deepEqual(plain.filter((f) => f.severity === 'error').map((f) => f.id), ['RAMPART-E013']);
    assert.ok(plain.every((f) => f.setting === 'RAMPART_PUBLIC_URL'));
  });

  it('refuse a start with neither TLS nor a trusted proxy (E020)', () => {
    const found = findings(production({ RAMPART_TRUST_PROXY: undefined })).filter((f) => f.severity === 'error');
    assert.deepEqual(found.map((f) => [f.id, f.setting]), [['RAMPART-E020', 'RAMPART_TLS_CERT_FILE']]);
    assert.deepEqual(errorIds(production({ RAMPART_TRUST_PROXY: '10.0.0.5' })), []);
  });

  it('refuse CORS `*` with credentials (E030), and accept either one alone', () => {
    const err = refusal(production({ RAMPART_CORS_ORIGINS: '*', RAMPART_CORS_CREDENTIALS: 'true' }));
    assert.equal(err.findings.filter((f) => f.id === 'RAMPART-E030').length, 1, 'reported once, not as a problem and again as a deploy error');
    assert.deepEqual(errorIds(production({ RAMPART_CORS_ORIGINS: '*' })), []);
    assert.deepEqual(errorIds(production({ RAMPART_CORS_ORIGINS: 'https://app.example.com', RAMPART_CORS_CREDENTIALS: 'true' })), []);
  });

  it('warn when migrations would run as the application role (W001)', () => {
    const found = findings(production({ DATABASE_MIGRATION_URL: undefined }));
    assert.deepEqual(found.map((f) => [f.id, f.severity, f.setting]), [['RAMPART-W001', 'warning', 'DATABASE_MIGRATION_URL']]);
    assert.equal(loadConfig(production({ DATABASE_MIGRATION_URL: undefined }), SUPPORTED_NODE).warnings.length, 1, 'a warning does not stop the start');
  });

  it('warn on a Node.js past its end of life (W020), and only then', () => {
    const now = new Date('2026-12-03T00:00:00Z');
    const on = (nodeVersion: string, at = now) => findings(production(), { nodeVersion, now: at }).map((f) => [f.id, f.severity, f.setting]);
    assert.deepEqual(on('20.19.0'), [['RAMPART-W020', 'warning', 'Node.js']]);
    assert.deepEqual(on('25.2.0'), [['RAMPART-W020', 'warning', 'Node.js']], 'odd lines end in June of the next year');
    assert.deepEqual(on('16.20.2'), [['RAMPART-W020', 'warning', 'Node.js']]);
    assert.deepEqual(on('22.12.0'), []);
    assert.deepEqual(on('26.1.0'), []);
    assert.deepEqual(on('22.12.0', new Date('2027-04-30T00:00:00Z')), [['RAMPART-W020', 'warning', 'Node.js']], 'Node 22 ends on 30 April 2027');
    assert.deepEqual(on('20.19.0', new Date('2026-04-29T00:00:00Z')), [], 'Node 20 was supported until 30 April 2026');
    const finding = findings(production(), { nodeVersion: '20.19.0', now }).find((f) => f.id === 'RAMPART-W020');
    assert.match(finding?.reason ?? '', /Node 20\.19\.0 is past its end of life \(2026-04-30\)/);
    assert.ok(finding?.fix.includes(`Node ${PRODUCTION_NODE_LTS}`), finding?.fix);
    assert.ok(nodeEndOfLife(`${PRODUCTION_NODE_LTS}.0.0`).getTime() > now.getTime(), 'the documented production runtime is supported');
    const { config, warnings } = loadConfig(production(), { nodeVersion: '20.19.0', now });
    assert.ok(config.isProduction, 'an end-of-life Node warns but does not stop the start');
    assert.deepEqual(warnings.map((w) => w.id), ['RAMPART-W020']);
  });

  it('warn on a metrics listener bound beyond loopback without a token (W031), and only then', () => {
    const ids = (env: Record<string, string | undefined>) => findings(production(env)).map((f) => [f.id, f.severity, f.setting]);
    assert.deepEqual(ids({ RAMPART_METRICS_PORT: '9464' }), [], 'loopback by default');
    assert.deepEqual(ids({ RAMPART_METRICS_PORT: '9464', RAMPART_METRICS_HOST: '::1' }), []);
    assert.deepEqual(ids({ RAMPART_METRICS_PORT: '9464', RAMPART_METRICS_HOST: '0.0.0.0' }), [['RAMPART-W031', 'warning', 'RAMPART_METRICS_HOST']]);
    assert.deepEqual(ids({ RAMPART_METRICS_PORT: '9464', RAMPART_METRICS_HOST: '10.0.0.5' }), [['RAMPART-W031', 'warning', 'RAMPART_METRICS_HOST']]);
    assert.deepEqual(ids({ RAMPART_METRICS_PORT: '9464', RAMPART_METRICS_HOST: '127.0.0.1.evil.example' }), [['RAMPART-W031', 'warning', 'RAMPART_METRICS_HOST']], 'a name that only starts like loopback is not loopback');
    assert.deepEqual(ids({ RAMPART_METRICS_PORT: '9464', RAMPART_METRICS_HOST: '0.0.0.0', RAMPART_METRICS_TOKEN: strongKey() }), []);
    assert.deepEqual(ids({ RAMPART_METRICS_HOST: '0.0.0.0' }), [], 'no listener, nothing exposed');
  });

  it('refuse a weak metrics token and a metrics port equal to the main port, in every environment', () => {
    for (const env of [production({ RAMPART_METRICS_TOKEN: 'metrics' }), production({ RAMPART_METRICS_TOKEN: 'a'.repeat(64) }), production({ RAMPART_METRICS_PORT: '3000', RAMPART_PORT: '3000' })]) {
      const { problems } = inspectEnvironment(env, SUPPORTED_NODE);
      assert.ok(problems.some((p) => p.id === 'RAMPART-E091' && p.setting.startsWith('RAMPART_METRICS_')), JSON.stringify(problems));
      assert.ok(!JSON.stringify(problems).includes('a'.repeat(64)), 'the token itself is never printed');
    }
    const token = strongKey();
    const { config } = loadConfig(production({ RAMPART_METRICS_TOKEN: token }), SUPPORTED_NODE);
    assert.equal(config.metrics.token, token);
    assert.deepEqual([config.metrics.port, config.metrics.host], [null, '127.0.0.1']);
  });

  it('give every finding a well-formed id, unique within one report', () => {
    const worst = production({
      RAMPART_SECRET_KEY: 'secretKey', RAMPART_ENCRYPTION_KEYS: undefined, DATABASE_URL: undefined, DATABASE_MIGRATION_URL: undefined,
      REDIS_URL: undefined, RAMPART_TRUST_PROXY: undefined, RAMPART_PUBLIC_URL: 'http://rampart.example.com', RAMPART_SECURITY_CONTACT: undefined,
      RAMPART_SMTP_URL: undefined, RAMPART_LOG_LEVEL: 'debug', RAMPART_CORS_ORIGINS: '*', RAMPART_CORS_CREDENTIALS: 'true',
      RAMPART_SECURITY_TXT_EXPIRES: '2001-01-01',
    });
    const { problems, deploy } = inspectEnvironment(worst);
    const remote = inspectEnvironment(production({ REDIS_URL: 'redis://cache.internal:6379', DATABASE_URL: 'postgres://app:pw@db.internal/rampart', RAMPART_SECURITY_TXT_EXPIRES: '2999-01-01' }));
    const all = [...problems, ...deploy, ...remote.deploy];
    assert.ok(deploy.length >= 12, `the worst environment produced ${deploy.length} findings`);
    for (const finding of all) {
      assert.match(finding.id, /^RAMPART-[EW]\d{3}$/);
      assert.equal(finding.severity, finding.id.startsWith('RAMPART-E') ? 'error' : 'warning', finding.id);
      assert.ok(finding.setting.length > 0 && finding.reason.length > 0 && finding.fix.length > 0, finding.id);
    }
    for (const report of [deploy, remote.deploy]) {
      const ids = report.map((f) => f.id);
      assert.deepEqual(ids, [...new Set(ids)], 'no id twice in one report');
    }
  });

  it('give each check its own id in the source', () => {
    const source = readFileSync(new URL('../../src/config/deploy-checks.ts', import.meta.url), 'utf8');
    const ids = [...source.matchAll(/\b(error|warning)\('(\d{3})'/g)].map((m) => `${m[1] === 'error' ? 'E' : 'W'}${m[2] ?? ''}`);
    assert.ok(ids.length >= 20, `found ${ids.length} checks`);
    assert.deepEqual(ids, [...new Set(ids)], 'two checks share an id');
    const config = readFileSync(new URL('../../src/config/config.ts', import.meta.url), 'utf8');
    const problemIds = new Set([...config.matchAll(/id: 'RAMPART-([EW]\d{3})'/g)].map((m) => m[1]));
    for (const id of ids) assert.ok(!problemIds.has(id), `${id} is used both by a deploy check and by config validation`);
  });
});
