import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { build } from '../helpers/build.js';

/** Resolves with what the server sent once it closes the connection, or rejects after `limitMs`. */
function closed(socket: Socket, limitMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const timer = setTimeout(() => { reject(new Error(`the server kept the connection open for ${limitMs} ms`)); }, limitMs);
    socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

async function listen(t: Parameters<typeof build>[0], env: Record<string, string>): Promise<{ port: number }> {
  const { app } = await build(t, { env });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { port: address.port };
}

describe('transport limits', () => {
  it('cuts off a client that trickles its headers (slowloris)', async (t) => {
    const { port } = await listen(t, { RAMPART_HEADERS_TIMEOUT_MS: '1000', RAMPART_REQUEST_TIMEOUT_MS: '2000' });
    const socket = connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    const done = closed(socket, 15_000);
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    const trickle = setInterval(() => { if (socket.writable) socket.write('X-Slow: a\r\n'); }, 100);
    t.after(() => { clearInterval(trickle); });
    const received = await done;
    clearInterval(trickle);
    assert.doesNotMatch(received, /HTTP\/1\.1 200/, 'the trickled request was never served');
    if (received !== '') assert.match(received, /^HTTP\/1\.1 408/);
  });

  it('cuts off a client that trickles its body', async (t) => {
    const { port } = await listen(t, { RAMPART_HEADERS_TIMEOUT_MS: '1000', RAMPART_REQUEST_TIMEOUT_MS: '2000' });
    const socket = connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    const done = closed(socket, 15_000);
    socket.write('POST /api/status HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{');
    const trickle = setInterval(() => { if (socket.writable) socket.write(' '); }, 100);
    t.after(() => { clearInterval(trickle); });
    const received = await done;
    clearInterval(trickle);
    assert.doesNotMatch(received, /HTTP\/1\.1 200/);
  });

  it('answers oversized headers with 431 problem+json and the baseline headers', async (t) => {
    const { port } = await listen(t, { RAMPART_MAX_HEADER_BYTES: '4096' });
    const socket = connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    const done = closed(socket, 10_000);
    socket.write(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(8192)}\r\n\r\n`);
    const received = await done;
    assert.match(received, /^HTTP\/1\.1 431 /);
    assert.match(received, /content-type: application\/problem\+json/);
    assert.match(received, /x-content-type-options: nosniff/);
    assert.match(received, /"code":"RAMPART_ERR_HEADERS_TOO_LARGE"/);
  });

  it('refuses a request without a Host header', async (t) => {
    const { port } = await listen(t, {});
    const socket = connect(port, '127.0.0.1');
    t.after(() => socket.destroy());
    const done = closed(socket, 10_000);
    socket.write('GET /healthz HTTP/1.1\r\n\r\n');
    assert.match(await done, /^HTTP\/1\.1 400 /);
  });
});
