import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  checkDependencies,
  formatReport,
  httpRegistryLookup,
  linesBehind,
  parsePinTable,
  type AdvisoryLookup,
  type CheckInput,
  type Lockfile,
  type PackageJson,
  type RegistryLookup,
  type RegistryPackage,
} from '../../scripts/deps-check.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtureDir = (name: string) => `${root}test/fixtures/deps/${name}`;

async function fixture(name: string): Promise<{ packageJson: PackageJson; lockfile: Lockfile }> {
  const read = async (file: string): Promise<unknown> => JSON.parse(await readFile(`${fixtureDir(name)}/${file}`, 'utf8'));
  return { packageJson: (await read('package.json')) as PackageJson, lockfile: (await read('package-lock.json')) as Lockfile };
}

/** The registry as a table (every package at its latest, nothing deprecated unless listed). */
function registryOf(overrides: Record<string, Partial<RegistryPackage>> = {}, versions: Record<string, string> = {}): RegistryLookup {
  return (name) => Promise.resolve({ latest: versions[name] ?? overrides[name]?.latest ?? '1.0.0', deprecated: overrides[name]?.deprecated ?? {} });
}

/** The advisory endpoint as it behaves here: it does not answer. */
const advisoriesUnreachable: AdvisoryLookup = () => Promise.reject(new Error('HTTP 405'));

async function check(name: string, options: Partial<CheckInput> = {}) {
  const { packageJson, lockfile } = await fixture(name);
  const latest = { ms: '2.1.3', 'tiny-dev': '1.0.0', request: '2.88.2', bcrypt: '5.1.1' };
  return checkDependencies({ packageJson, lockfile, pinTable: '', lookup: registryOf({}, latest), advisories: advisoriesUnreachable, ...options });
}

const fatalKinds = (report: { findings: readonly { kind: string; name: string; fatal: boolean }[] }) =>
  report.findings.filter((f) => f.fatal).map((f) => `${f.kind}:${f.name}`);

async function withRegistry(handler: (name: string, res: ServerResponse) => void): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    // The advisory endpoint answers here as it does from this machine: not at all usefully.
    if (req.method === 'POST') {
      res.writeHead(405).end();
      return;
    }
    const name = decodeURIComponent((req.url ?? '/').slice(1));
    requests.push(name);
    handler(name, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server, requests };
}

function packument(res: ServerResponse, latest: string, deprecated: Record<string, string> = {}): void {
  const versions = Object.fromEntries([latest, ...Object.keys(deprecated)].map((v) => [v, deprecated[v] === undefined ? {} : { deprecated: deprecated[v] }]));
  res.writeHead(200, { 'content-type': 'application/vnd.npm.install-v1+json' }).end(JSON.stringify({ 'dist-tags': { latest }, versions }));
}

describe('deps:check', () => {
  it('passes a clean lockfile, and says that advisories were not checked when the endpoint does not answer', async () => {
    const report = await check('clean');
    assert.deepEqual(fatalKinds(report), []);
    assert.equal(report.failed, false);
    const text = formatReport(report);
    assert.match(text, /advisories-not-checked .*known vulnerabilities were NOT checked/);
    assert.match(text, /passed .*known vulnerabilities NOT checked/);
  });

  it('fails on a runtime package the registry reports deprecated (injected registry, no network)', async () => {
    const report = await check('clean', { lookup: registryOf({ ms: { latest: '2.1.3', deprecated: { '2.1.3': 'use something else' } } }, { 'tiny-dev': '1.0.0' }) });
    assert.deepEqual(fatalKinds(report), ['deprecated:ms']);
    assert.match(formatReport(report), /FAIL {2}deprecated .*ms@2\.1\.3 \(runtime\): deprecated: use something else/);
  });

  it('fails on the deprecated package of the fixture lockfile (request 2.88.2), from the notice npm wrote into it', async () => {
    const report = await check('deprecated');
    assert.deepEqual(fatalKinds(report), ['deprecated:request']);
  });

  it('only reports a deprecated development package', async () => {
    const report = await check('clean', { lookup: registryOf({ 'tiny-dev': { deprecated: { '1.0.0': 'gone' } } }, { ms: '2.1.3' }) });
    assert.equal(report.failed, false);
    assert.ok(report.findings.some((f) => f.kind === 'deprecated' && f.name === 'tiny-dev' && !f.fatal));
  });

  it('fails on a runtime package with an install script, and only reports a development one', async () => {
    assert.deepEqual(fatalKinds(await check('install-script')), ['install-script:bcrypt']);
    const { packageJson, lockfile } = await fixture('clean');
    const devScript: Lockfile = { ...lockfile, packages: { ...lockfile.packages, 'node_modules/tiny-dev': { version: '1.0.0', dev: true, hasInstallScript: true } } };
    const report = await checkDependencies({ packageJson, lockfile: devScript, pinTable: '', lookup: registryOf({}, { ms: '2.1.3' }), advisories: advisoriesUnreachable });
    assert.equal(report.failed, false);
    assert.ok(report.findings.some((f) => f.kind === 'install-script' && f.name === 'tiny-dev' && !f.fatal));
  });

  it('fails on a pin without a written reason, and on a reason written for another version', async () => {
    const held = registryOf({}, { ms: '3.0.0', 'tiny-dev': '1.0.0' });
    assert.deepEqual(fatalKinds(await check('clean', { lookup: held })), ['pin-without-reason:ms']);
    const empty = '| Package | Pinned | Reason |\n| --- | --- | --- |\n| `ms` | 2.1.3 |  |\n';
    assert.deepEqual(fatalKinds(await check('clean', { lookup: held, pinTable: empty })), ['pin-without-reason:ms']);
    const stale = '| Package | Pinned | Reason |\n| --- | --- | --- |\n| `ms` | 2.1.2 | 3.x needs Node 22 |\n';
    assert.deepEqual(fatalKinds(await check('clean', { lookup: held, pinTable: stale })), ['pin-without-reason:ms']);
    const written = '| Package | Pinned | Reason |\n| --- | --- | --- |\n| `ms` | 2.1.3 | 3.x needs Node 22 |\n';
    const report = await check('clean', { lookup: held, pinTable: written });
    assert.equal(report.failed, false);
    assert.ok(!report.findings.some((f) => f.kind === 'majors-behind'), 'one major behind is not reported');
  });

  it('only reports a package behind within its release line (a new minor or patch is upkeep, not a pin)', async () => {
    const report = await check('clean', { lookup: registryOf({}, { ms: '2.2.0', 'tiny-dev': '1.0.0' }) });
    assert.equal(report.failed, false);
    assert.ok(report.findings.some((f) => f.kind === 'update-available' && f.name === 'ms' && !f.fatal));
  });

  it('fails on an override without a reason', async () => {
    const { packageJson, lockfile } = await fixture('clean');
    const report = await checkDependencies({ packageJson: { ...packageJson, overrides: { ms: '2.1.3' } }, lockfile, pinTable: '', lookup: registryOf({}, { ms: '2.1.3' }), advisories: advisoriesUnreachable });
    assert.deepEqual(fatalKinds(report), ['pin-without-reason:ms']);
  });

  it('reports a package more than one major release behind (0.x minors count as majors)', async () => {
    assert.equal(linesBehind('1.2.3', '3.0.0'), 2);
    assert.equal(linesBehind('1.2.3', '2.9.0'), 1);
    assert.equal(linesBehind('0.4.6', '0.6.1'), 2);
    assert.equal(linesBehind('0.4.6', '1.0.0'), 1);
    const pins = '| Package | Pinned | Reason |\n|---|---|---|\n| ms | 2.1.3 | kept for a test |\n';
    const report = await check('clean', { lookup: registryOf({}, { ms: '5.0.0', 'tiny-dev': '1.0.0' }), pinTable: pins });
    assert.ok(report.findings.some((f) => f.kind === 'majors-behind' && f.name === 'ms' && f.detail.includes('3 major releases behind')));
  });

  it('reads the pin table of docs/dependencies.md, and the project pins each held package with a reason', async () => {
    const table = await readFile(`${root}docs/dependencies.md`, 'utf8');
    const pins = parsePinTable(table);
    assert.ok(pins.size >= 5);
    for (const [name, pin] of pins) assert.ok(pin.reason.length > 20 && pin.version !== '', `${name} has a version and a reason`);
    const packageJson = JSON.parse(await readFile(`${root}package.json`, 'utf8')) as PackageJson;
    for (const name of Object.keys(packageJson.overrides ?? {})) assert.ok(pins.has(name), `override ${name} has a reason`);
  });

  it('fails, saying so, when the registry cannot be reached (a closed port, a real HTTP lookup)', async () => {
    const { url, server } = await withRegistry(() => {
      // never reached: the server is closed before the lookup
    });
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    const report = await check('clean', { lookup: httpRegistryLookup({ registry: url, timeoutMs: 2_000 }) });
    assert.equal(report.failed, true);
    assert.deepEqual([...new Set(fatalKinds(report).map((k) => k.split(':')[0]))], ['registry-unreachable']);
    assert.match(formatReport(report), /registry did not answer .*deprecation and versions are unknown/);
  });

  it('gives up on a registry that never answers after its timeout', async () => {
    const { url, server } = await withRegistry(() => {
      // never answers
    });
    try {
      const lookup = httpRegistryLookup({ registry: url, timeoutMs: 200 });
      await assert.rejects(lookup('ms'), /aborted|timeout/i);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('asks the registry once per package name and at most `concurrency` at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const { url, server, requests } = await withRegistry((name, res) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight -= 1;
        packument(res, name === 'ms' ? '2.1.3' : '1.0.0');
      }, 20);
    });
    try {
      const { packageJson, lockfile } = await fixture('clean');
      const many: Lockfile = {
        ...lockfile,
        packages: {
          ...lockfile.packages,
          ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`node_modules/dep-${i}`, { version: '1.0.0' }])),
          // The same package at the same version twice in the tree, and once more at another version.
          'node_modules/dep-0/node_modules/ms': { version: '2.1.3' },
          'node_modules/dep-1/node_modules/ms': { version: '2.0.0' },
        },
      };
      const lookup = httpRegistryLookup({ registry: url });
      const report = await checkDependencies({ packageJson, lockfile: many, pinTable: '', lookup, advisories: advisoriesUnreachable, concurrency: 3 });
      assert.equal(report.failed, false, formatReport(report));
      assert.equal(requests.length, 14, 'one request per name');
      assert.equal(new Set(requests).size, 14);
      assert.ok(most <= 3, `at most 3 requests at a time (saw ${most})`);
      await lookup('ms');
      assert.equal(requests.length, 14, 'a second lookup in the same run is served from the cache');
    } finally {
      server.close();
    }
  });

  it('exits 1 as a command on the fixture with a deprecated package, read from a registry over HTTP', async () => {
    const { url, server } = await withRegistry((name, res) => {
      if (name === 'request') packument(res, '2.88.2', { '2.88.2': 'request has been deprecated' });
      else packument(res, name === 'ms' ? '2.1.3' : '1.0.0');
    });
    try {
      const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', `${root}scripts/deps-check.ts`, '--root', fixtureDir('deprecated'), '--registry', url], { stdio: ['ignore', 'pipe', 'inherit'] });
        let stdout = '';
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString('utf8');
        });
        child.on('close', (code) => {
          resolve({ code, stdout });
        });
      });
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stdout, /FAIL {2}deprecated .*request@2\.88\.2 \(runtime\)/);
      assert.match(result.stdout, /deps:check FAILED/);
    } finally {
      server.close();
    }
  });
});
