import 'reflect-metadata';
import assert from 'node:assert/strict';
import { KeyObject, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import * as x509 from '@peculiar/x509';
import { initTls } from '../../../src/cli/tls.js';
import { ids, listen, scan } from './scan-helpers.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-scan-tls-'));
after(() => { rmSync(temp, { recursive: true, force: true }); });

/** `rampart tls init`'s own code: an ECDSA P-256 key and a self-signed certificate for `host`. */
async function selfSigned(name: string, host: string, days: number): Promise<{ key: string; cert: string; certFile: string }> {
  const result = await initTls({ hosts: [host], out: join(temp, name), force: false, days });
  return { key: readFileSync(result.keyFile, 'utf8'), cert: readFileSync(result.certFile, 'utf8'), certFile: result.certFile };
}

/** A self-signed RSA certificate with a short key, which `tls init` rightly refuses to make. */
async function weakRsa(host: string): Promise<{ key: string; cert: string }> {
  x509.cryptoProvider.set(globalThis.crypto);
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: `CN=${host}`, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 90 * 86_400_000),
    keys, signingAlgorithm: algorithm, extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: host }])],
  });
  return { key: KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(), cert: cert.toString('pem') };
}

const PAGE = '<!doctype html><title>t</title>';

async function httpsServer(t: TestContext, options: ServerOptions): Promise<number> {
  const server = createHttpsServer(options, (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
  });
  return listen(t, server);
}

/** Plain HTTP on another port of the same host, answering every request with `status` (and `location`). */
async function plainHttp(t: TestContext, status: number, location?: string): Promise<number> {
  const server = createHttpServer((_request, response) => {
    response.writeHead(status, location === undefined ? {} : { location }).end();
  });
  return listen(t, server);
}

describe('rampart scan against TLS servers', () => {
  it('reports TLS 1.0, no TLS 1.2/1.3 and a self-signed certificate; --ca makes the chain verify', async (t) => {
    const { key, cert, certFile } = await selfSigned('tls10', '127.0.0.1', 90);
    // Node's OpenSSL 3 still speaks TLS 1.0 here at security level 0, so this is a real TLS 1.0 server.
    const port = await httpsServer(t, { key, cert, minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' });
    const httpPort = await plainHttp(t, 200);
    const report = await scan([`https://127.0.0.1:${port}/`, '--http-port', String(httpPort)]);
    const found = ids(report);
    for (const id of ['RAMPART-ST04', 'RAMPART-ST06', 'RAMPART-ST10', 'RAMPART-ST16', 'RAMPART-SH01'] as const) assert.ok(found.has(id), `${id} missing: ${[...found].join(', ')}`);
    for (const id of ['RAMPART-ST05', 'RAMPART-ST11', 'RAMPART-ST13', 'RAMPART-ST14', 'RAMPART-ST07', 'RAMPART-ST09'] as const) assert.ok(!found.has(id), `${id} reported for a server without that flaw`);
    assert.equal(report.categories.find((c) => c.category === 'tls')?.grade, 'F');
    assert.deepEqual(report.handshakes.slice(0, 4).map((h) => h.replace(/ \(.*\)$/, '')), ['TLS 1.0: accepted', 'TLS 1.1: refused', 'TLS 1.2: refused', 'TLS 1.3: refused']);
    // The suites this OpenSSL build cannot offer at all are said to be untested, not passed.
    const untestable = report.findings.filter((f) => f.id === 'RAMPART-ST03').map((f) => f.subject);
    assert.ok(untestable.includes('SSLv3') && untestable.includes('RC4 suites'), untestable.join(', '));
    // The headers were still read over TLS 1.0.
    assert.ok(report.requests.some((r) => r.url === `https://127.0.0.1:${port}/` && r.outcome === '200'));

    const trusted = await scan([`https://127.0.0.1:${port}/`, '--ca', certFile]);
    assert.ok(!ids(trusted).has('RAMPART-ST10') && !ids(trusted).has('RAMPART-ST11'), 'a certificate the operator trusts verifies');
    assert.ok(ids(trusted).has('RAMPART-ST04') && ids(trusted).has('RAMPART-ST19'), 'without --http-port the redirect is reported untested');
  });

  it('reports a certificate for another name that expires within 30 days, and a temporary HTTP redirect', async (t) => {
    const { key, cert } = await selfSigned('other', 'other.example', 10);
    const port = await httpsServer(t, { key, cert });
    const httpPort = await plainHttp(t, 302, `https://127.0.0.1:${port}/`);
    const report = await scan([`https://127.0.0.1:${port}/`, '--http-port', String(httpPort)]);
    const found = ids(report);
    for (const id of ['RAMPART-ST10', 'RAMPART-ST13', 'RAMPART-ST14', 'RAMPART-ST17'] as const) assert.ok(found.has(id), `${id} missing: ${[...found].join(', ')}`);
    for (const id of ['RAMPART-ST04', 'RAMPART-ST05', 'RAMPART-ST06', 'RAMPART-ST12', 'RAMPART-ST16', 'RAMPART-ST18'] as const) assert.ok(!found.has(id), `${id} reported for a server without that flaw`);
    assert.match(report.findings.find((f) => f.id === 'RAMPART-ST14')?.evidence ?? '', /^127\.0\.0\.1 is not in DNS:other\.example$/);
  });

  it('reports static RSA key exchange and a 1024-bit RSA key', async (t) => {
    const { key, cert } = await weakRsa('127.0.0.1');
    const port = await httpsServer(t, { key, cert, minVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA@SECLEVEL=0' });
    const httpPort = await plainHttp(t, 308, `https://127.0.0.1:${port}/`);
    const report = await scan([`https://127.0.0.1:${port}/`, '--http-port', String(httpPort)]);
    const found = ids(report);
    for (const id of ['RAMPART-ST09', 'RAMPART-ST15', 'RAMPART-ST10'] as const) assert.ok(found.has(id), `${id} missing: ${[...found].join(', ')}`);
    for (const id of ['RAMPART-ST04', 'RAMPART-ST06', 'RAMPART-ST16', 'RAMPART-ST17', 'RAMPART-ST18'] as const) assert.ok(!found.has(id), `${id} reported for a server without that flaw`);
    assert.equal(report.findings.find((f) => f.id === 'RAMPART-ST09')?.subject, 'AES128-SHA');
  });
});
