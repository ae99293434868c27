// The CSR is read back with @peculiar/x509, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import type { FastifyInstance } from 'fastify';
import { reloadCertificate, TLS_CIPHERS, type SecureContextHolder } from '../../src/security/tls.js';
import { childEnvironment, CLI_ENTRY, runToExit } from '../fixtures/processes.js';
import { build, buildUnmanaged } from '../helpers/build.js';
import { handshake, httpsGet } from '../helpers/tls.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-tls-'));
after(() => {
  rmSync(temp, { recursive: true, force: true });
});

interface Material { dir: string; certFile: string; keyFile: string; csrFile: string; cert: string; key: string }

async function tlsInit(dir: string, hosts: readonly string[], extra: readonly string[] = []): Promise<Material> {
  const result = await runToExit(CLI_ENTRY, ['tls', 'init', ...hosts.flatMap((h) => ['--host', h]), '--out', dir, ...extra], childEnvironment({}));
  assert.equal(result.code, 0, result.stderr);
  const files = { dir, certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), csrFile: join(dir, 'csr.pem') };
  return { ...files, cert: readFileSync(files.certFile, 'utf8'), key: readFileSync(files.keyFile, 'utf8') };
}

/** A Rampart serving HTTPS with the given files, listening on an ephemeral port of 127.0.0.1. */
async function listenTls(t: Parameters<typeof build>[0], material: Material, env: Record<string, string> = {}): Promise<{ app: FastifyInstance; port: number; logs: Awaited<ReturnType<typeof build>>['logs'] }> {
  const { app, logs } = await build(t, { env: { RAMPART_TLS_CERT_FILE: material.certFile, RAMPART_TLS_KEY_FILE: material.keyFile, ...env } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { app, port: address.port, logs };
}

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : String(err);
}

let example: Material;
let other: Material;

before(async () => {
  [example, other] = await Promise.all([tlsInit(join(temp, 'example'), ['example.com']), tlsInit(join(temp, 'other'), ['other.example', '127.0.0.1'])]);
});

describe('rampart tls init', () => {
  it('writes an ECDSA P-256 key readable only by its owner', () => {
    assert.equal(statSync(example.keyFile).mode & 0o777, 0o600);
    const key = createPrivateKey(example.key);
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(example.key, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  it('writes a CSR signed by that key, naming the host in subjectAltName', async () => {
    x509.cryptoProvider.set(globalThis.crypto);
    const csr = new x509.Pkcs10CertificateRequest(readFileSync(example.csrFile, 'utf8'));
    assert.ok(await csr.verify(), 'the CSR signature verifies');
    assert.equal(csr.subject, 'CN=example.com');
    const requested = csr.extensions.find((extension) => extension.type === '2.5.29.17');
    assert.ok(requested !== undefined, 'the CSR requests a subjectAltName');
    assert.deepEqual(new x509.SubjectAlternativeNameExtension(requested.rawData).names.toJSON(), [{ type: 'dns', value: 'example.com' }]);
    const csrKey = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    assert.ok(csrKey.equals(createPublicKey(createPrivateKey(example.key))), 'the CSR carries the written key');
  });

  it('writes a short-lived self-signed server certificate for exactly the hosts given', () => {
    const cert = new X509Certificate(example.cert);
    assert.equal(cert.subjectAltName, 'DNS:example.com');
    assert.equal(cert.ca, false);
    assert.ok(cert.checkPrivateKey(createPrivateKey(example.key)));
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    assert.ok(days > 89 && days <= 90.01, `valid for ${days} days`);
    assert.equal(new X509Certificate(other.cert).subjectAltName, 'DNS:other.example, IP Address:127.0.0.1');
  });

  it('refuses to overwrite existing files without --force, and replaces them all with it', async () => {
    const dir = join(temp, 'again');
    const first = await tlsInit(dir, ['again.example']);
    const refused = await runToExit(CLI_ENTRY, ['tls', 'init', '--host', 'again.example', '--out', dir], childEnvironment({}));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refusing to overwrite .*key\.pem.*--force/);
    assert.equal(readFileSync(first.keyFile, 'utf8'), first.key, 'the key is untouched');
    assert.equal(readFileSync(first.certFile, 'utf8'), first.cert);
    const forced = await tlsInit(dir, ['again.example'], ['--force']);
    assert.notEqual(forced.key, first.key);
    assert.equal(statSync(forced.keyFile).mode & 0o777, 0o600);
  });

  it('refuses a host that is not a DNS name or an IP address, and a missing host', async () => {
    for (const args of [['--host', 'evil.example/path'], ['--host', '*.example.com'], ['--host', 'a b'], []]) {
      const result = await runToExit(CLI_ENTRY, ['tls', 'init', ...args, '--out', join(temp, 'bad')], childEnvironment({}));
      assert.equal(result.code, 1, args.join(' '));
      assert.match(result.stderr, /--host/);
    }
  });
});

describe('HTTPS served by Rampart', () => {
  // One server for the handshake tests (PGlite takes seconds to start); each test opens its own connections.
  let shared: { app: FastifyInstance; port: number };
  before(async () => {
    const { app } = await buildUnmanaged({ env: { RAMPART_TLS_CERT_FILE: example.certFile, RAMPART_TLS_KEY_FILE: example.keyFile } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(address !== null && typeof address === 'object');
    shared = { app, port: address.port };
  });
  after(() => shared.app.close());

  it('loads the tls init output and negotiates TLS 1.3 with a client that trusts the certificate', async () => {
    const { port } = shared;
    const result = await handshake(port, { ca: example.cert, servername: 'example.com', minVersion: 'TLSv1.3' });
    assert.equal(result.protocol, 'TLSv1.3');
    assert.ok(result.authorized);
    assert.equal(result.fingerprint256, new X509Certificate(example.cert).fingerprint256);
  });

  it('negotiates TLS 1.2 only with an ECDHE key exchange and an AEAD cipher', async () => {
    const { port } = shared;
    const result = await handshake(port, { ca: example.cert, servername: 'example.com', maxVersion: 'TLSv1.2' });
    assert.equal(result.protocol, 'TLSv1.2');
    assert.match(result.cipher, /^ECDHE-ECDSA-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$/);
    assert.equal(result.ephemeral, 'ECDH', 'a fresh ephemeral key per connection');
  });

  for (const version of ['TLSv1.1', 'TLSv1'] as const) {
    it(`refuses ${version} from a client that really offers it`, async () => {
      const { app, port } = shared;
      const serverSaw = new Promise<string>((resolve) => {
        app.server.once('tlsClientError', (err: unknown) => { resolve(errorCode(err)); });
      });
      // SECLEVEL=0 lets OpenSSL 3 offer the old versions at all, so the refusal is the server's.
      const attempt = handshake(port, { ca: example.cert, servername: 'example.com', minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' });
      await assert.rejects(attempt, (err) => {
        assert.equal(errorCode(err), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'the server answered with a protocol_version alert');
        return true;
      });
      assert.equal(await serverSaw, 'ERR_SSL_UNSUPPORTED_PROTOCOL');
    });
  }

  it('refuses TLS 1.2 clients that offer only CBC or non-forward-secret suites', async () => {
    const { port } = shared;
    for (const ciphers of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'AES128-GCM-SHA256:AES256-SHA']) {
      await assert.rejects(handshake(port, { ca: example.cert, servername: 'example.com', maxVersion: 'TLSv1.2', ciphers }), (err) => {
        assert.match(errorCode(err), /HANDSHAKE_FAILURE|NO_SHARED_CIPHER/, ciphers);
        return true;
      });
    }
  });

  it('configures only forward-secret AEAD suites', () => {
    for (const suite of TLS_CIPHERS.split(':')) {
      assert.match(suite, /^(TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)|ECDHE-(ECDSA|RSA)-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305))$/);
    }
  });

  it('sends HSTS over HTTPS, with preload only when asked', async (t) => {
    const response = await httpsGet(shared.port, '/healthz', { ca: example.cert, servername: 'example.com' });
    assert.equal(response.status, 200);
    assert.equal(response.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
    const preload = await listenTls(t, example, { RAMPART_HSTS_PRELOAD: 'true' });
    const preloaded = await httpsGet(preload.port, '/healthz', { ca: example.cert, servername: 'example.com' });
    assert.equal(preloaded.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains; preload');
  });

  it('sends no HSTS over plain HTTP, even with preload on', async (t) => {
    const { app } = await build(t, { env: { RAMPART_HSTS_PRELOAD: 'true' } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    assert.ok(address !== null && typeof address === 'object');
    const response = await fetch(`http://127.0.0.1:${address.port}/healthz`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('strict-transport-security'), null);
  });
});

describe('certificate reload', () => {
  it('swaps the certificate for new connections while an open keep-alive connection keeps working', async (t) => {
    const dir = join(temp, 'reload');
    const live = await tlsInit(dir, ['example.com']);
    const { app, port, logs } = await listenTls(t, live);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => { agent.destroy(); });
    const ca = live.cert;
    const before = await httpsGet(port, '/healthz', { ca, servername: 'example.com', agent });
    assert.equal(before.fingerprint256, new X509Certificate(live.cert).fingerprint256);

    copyFileSync(other.certFile, live.certFile);
    copyFileSync(other.keyFile, live.keyFile);
    assert.equal(reloadCertificate(app.server as unknown as SecureContextHolder, live, app.log), true);

    const sameConnection = await httpsGet(port, '/healthz', { ca, servername: 'example.com', agent });
    assert.equal(sameConnection.status, 200);
    assert.equal(sameConnection.localPort, before.localPort, 'served on the connection opened before the reload');
    const fresh = await handshake(port, { ca: other.cert, servername: 'other.example' });
    assert.equal(fresh.fingerprint256, new X509Certificate(other.cert).fingerprint256, 'new connections get the new certificate');
    assert.ok(logs.entries().some((line) => line.msg === 'TLS certificate reloaded' && line.subjectAltName === 'DNS:other.example, IP Address:127.0.0.1'));
  });

  it('keeps the current certificate when the new files are broken or do not match, and keeps refusing old TLS', async (t) => {
    const dir = join(temp, 'broken');
    const live = await tlsInit(dir, ['example.com']);
    const { app, port, logs } = await listenTls(t, live);
    const server = app.server as unknown as SecureContextHolder;
    const expected = new X509Certificate(live.cert).fingerprint256;

    writeFileSync(live.certFile, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    assert.equal(reloadCertificate(server, live, app.log), false);
    writeFileSync(live.certFile, other.cert);
    assert.equal(reloadCertificate(server, live, app.log), false, 'a certificate whose key is not the key file is refused');
    rmSync(live.keyFile);
    assert.equal(reloadCertificate(server, live, app.log), false);

    const result = await handshake(port, { ca: example.cert, rejectUnauthorized: false, servername: 'example.com' });
    assert.equal(result.fingerprint256, expected, 'the old certificate is still served');
    assert.equal(logs.entries().filter((line) => line.msg === 'TLS certificate not reloaded: keeping the current one' && line.level === 50).length, 3);
    await assert.rejects(handshake(port, { rejectUnauthorized: false, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }));
  });

  it('reloads in place: settings survive the swap', async (t) => {
    const dir = join(temp, 'settings');
    const live = await tlsInit(dir, ['example.com']);
    const { app, port } = await listenTls(t, live);
    copyFileSync(other.certFile, live.certFile);
    copyFileSync(other.keyFile, live.keyFile);
    assert.ok(reloadCertificate(app.server as unknown as SecureContextHolder, live, app.log));
    await assert.rejects(handshake(port, { ca: other.cert, servername: 'other.example', minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }), (err) => {
      assert.equal(errorCode(err), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
      return true;
    });
    await assert.rejects(handshake(port, { ca: other.cert, servername: 'other.example', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }));
    const ok = await handshake(port, { ca: other.cert, servername: 'other.example' });
    assert.equal(ok.protocol, 'TLSv1.3');
  });
});
