import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { scanCommand } from '../../../src/cli/scan/command.js';
import { initTls } from '../../../src/cli/tls.js';
import { build } from '../../helpers/build.js';
import { scan } from './scan-helpers.js';

/** A free port, so Rampart's public URL (security.txt's Canonical) can name the address it is scanned at. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => { resolve(port); });
    });
  });
}

const temp = mkdtempSync(join(tmpdir(), 'rampart-scan-'));
after(() => { rmSync(temp, { recursive: true, force: true }); });

describe('rampart scan against Rampart itself', () => {
  it('finds nothing above info, with cookies, the API, the static file and the login throttle all reached', async (t) => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const { app } = await build(t, { env: { RAMPART_PUBLIC_URL: origin } });
    await app.listen({ port, host: '127.0.0.1' });

    const report = await scan([`${origin}/`, '--path', '/login', '--path', '/api/status', '--probe-rate-limit']);
    const aboveInfo = report.findings.filter((f) => f.severity !== 'info');
    assert.deepEqual(aboveInfo, [], 'no finding above info');
    // The only info: TLS cannot be judged on plain HTTP at a loopback address.
    assert.deepEqual(report.findings.map((f) => f.id), ['RAMPART-ST02']);
    assert.equal(report.grade, 'A');

    const sent = report.requests.map((r) => `${r.method} ${new URL(r.url).pathname} ${r.outcome}`);
    assert.ok(sent.some((line) => /^GET \/static\/app\.[0-9a-f]{16}\.(js|css) 200$/.test(line)), `the static file was audited: ${sent.join('\n')}`);
    assert.ok(sent.includes('GET /login 200') && sent.includes('GET /api/status 200') && sent.includes('GET /.well-known/security.txt 200'));
    assert.ok(sent.some((line) => /^POST \/rampart-scan-[0-9a-f]{12} 400$/.test(line)), 'the malformed JSON got a 400');
    const cookies = report.categories.find((c) => c.category === 'cookies');
    assert.deepEqual(cookies?.notes, [], 'the pre-session cookie of /login was checked (no "no cookie" note)');
    const rateLimit = report.categories.find((c) => c.category === 'rate-limit');
    assert.equal(rateLimit?.grade, 'A');
    assert.match(rateLimit.notes.at(0) ?? '', /^throttled after \d+ failed login\(s\): HTTP 429, Retry-After: \d+$/);

    const printed: string[] = [];
    assert.equal(await scanCommand([`${origin}/`, '--fail-on', 'low'], (text) => printed.push(text), (text) => printed.push(text)), 0);
    assert.match(printed.join('\n'), /\nOverall grade: A\n/);
  });

  it('over HTTPS, trusting its development certificate, finds nothing above info either (HSTS, TLS versions, suites, certificate)', async (t) => {
    const port = await freePort();
    const origin = `https://127.0.0.1:${port}`;
    const tls = await initTls({ hosts: ['127.0.0.1'], out: join(temp, 'https'), force: false, days: 90 });
    const { app } = await build(t, { env: { RAMPART_PUBLIC_URL: origin, RAMPART_TLS_CERT_FILE: tls.certFile, RAMPART_TLS_KEY_FILE: tls.keyFile } });
    await app.listen({ port, host: '127.0.0.1' });

    const report = await scan([`${origin}/`, '--path', '/login', '--ca', tls.certFile]);
    assert.deepEqual(report.findings.filter((f) => f.severity !== 'info'), [], 'no finding above info');
    assert.equal(report.categories.find((c) => c.category === 'tls')?.grade, 'A');
    assert.ok(report.handshakes.some((h) => h.startsWith('TLS 1.3: accepted')) && report.handshakes.some((h) => h.startsWith('TLS 1.0: refused')), report.handshakes.join('\n'));
    // What this client could not try, and the redirect port it was not told, are said, not passed over.
    assert.deepEqual([...new Set(report.findings.map((f) => f.id))].sort(), ['RAMPART-ST03', 'RAMPART-ST19']);

    const untrusted = await scan([`${origin}/`]);
    assert.deepEqual(untrusted.findings.filter((f) => f.severity === 'high').map((f) => f.id), ['RAMPART-ST10'], 'without --ca the self-signed certificate is the one high finding');
  });
});
