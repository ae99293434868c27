import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createHttpsRedirectServer, redirectTarget } from '../../src/security/https-redirect.js';
import { within } from '../fixtures/processes.js';

const PUBLIC = 'https://rampart.example:8443';

/** Sends raw bytes and resolves with everything the server wrote before closing. */
function raw(port: number, request: string): Promise<string> {
  const exchange = new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => { socket.write(request); });
    let received = '';
    socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
    socket.on('error', reject);
    socket.on('close', () => { resolve(received); });
  });
  return within(exchange, 10_000, 'a raw HTTP exchange');
}

function header(response: string, name: string): string | undefined {
  const line = response.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

describe('the HTTP redirect port', () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = createHttpsRedirectServer({ publicOrigin: PUBLIC, headersTimeoutMs: 2000, requestTimeoutMs: 3000, maxHeaderBytes: 8192 });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => { server.close(); });

  it('answers a GET with 308 to the same path and query on the public URL, nothing else', async () => {
    const response = await raw(port, 'GET /posts/42?page=2&q=a%20b HTTP/1.1\r\nHost: rampart.example\r\n\r\n');
    assert.match(response, /^HTTP\/1\.1 308 Permanent Redirect\r\n/);
    assert.equal(header(response, 'location'), `${PUBLIC}/posts/42?page=2&q=a%20b`);
    assert.equal(header(response, 'content-length'), '0');
    assert.equal(header(response, 'strict-transport-security'), undefined, 'HSTS means nothing over plain HTTP');
    assert.ok(response.endsWith('\r\n\r\n'), 'no body');
  });

  it('takes the host from configuration, never from the Host header', async () => {
    for (const host of ['evil.example', 'rampart.example.evil.example', '']) {
      const response = await raw(port, `GET /login HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.equal(header(response, 'location'), `${PUBLIC}/login`, host);
    }
    const forwarded = await raw(port, 'GET /login HTTP/1.1\r\nHost: rampart.example\r\nX-Forwarded-Host: evil.example\r\n\r\n');
    assert.equal(header(forwarded, 'location'), `${PUBLIC}/login`);
  });

  it('redirects every method with 308, which keeps the method, and never reads the body', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) {
      const response = await raw(port, `${method} /api/auth/login HTTP/1.1\r\nHost: rampart.example\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"password":"x"}`);
      assert.match(response, /^HTTP\/1\.1 308 /, method);
      assert.equal(header(response, 'location'), `${PUBLIC}/api/auth/login`, method);
    }
  });

  it('sends request targets that are not a plain path to the home page, on the public host', async () => {
    for (const target of ['http://evil.example/x', '*']) {
      const response = await raw(port, `GET ${target} HTTP/1.1\r\nHost: rampart.example\r\n\r\n`);
      assert.equal(header(response, 'location'), `${PUBLIC}/`, target);
    }
    // Authority-form is for CONNECT only: Node's parser refuses it before any redirect is made.
    assert.match(await raw(port, 'GET evil.example:443 HTTP/1.1\r\nHost: rampart.example\r\n\r\n'), /^HTTP\/1\.1 400 /);
    for (const target of ['//evil.example/x', '/\\evil.example', '/%2F%2Fevil.example']) {
      const response = await raw(port, `GET ${target} HTTP/1.1\r\nHost: rampart.example\r\n\r\n`);
      const location = header(response, 'location') ?? '';
      assert.equal(new URL(location).origin, PUBLIC, `${target} -> ${location}`);
    }
  });

  it('keeps every redirect on the public origin, whatever the request target', () => {
    for (const target of ['/', '/a?b=c#d', '//evil.example', '/\\evil.example', '/..//evil.example', '/@evil.example', '/%00', '/\u00e9', 'https://evil.example', '', undefined]) {
      assert.equal(new URL(redirectTarget(PUBLIC, target)).origin, PUBLIC, String(target));
    }
  });

  it('refuses to be built for anything but an https origin', () => {
    for (const publicOrigin of ['http://rampart.example', 'https://rampart.example/', 'rampart.example', 'https://rampart.example/app']) {
      assert.throws(() => createHttpsRedirectServer({ publicOrigin, headersTimeoutMs: 1000, requestTimeoutMs: 1000, maxHeaderBytes: 8192 }), /https origin/, publicOrigin);
    }
  });
});
