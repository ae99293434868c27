import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { childEnvironment, CLI_ENTRY, httpGet, type LoggingProcess, runToExit, startServer } from '../fixtures/processes.js';
import { handshake, httpsGet } from '../helpers/tls.js';

const temp = mkdtempSync(join(tmpdir(), 'rampart-tls-process-'));
const running: LoggingProcess[] = [];
after(async () => {
  for (const server of running) await server.stop();
  rmSync(temp, { recursive: true, force: true });
});

async function tlsInit(dir: string, host: string): Promise<{ certFile: string; keyFile: string; cert: string }> {
  const result = await runToExit(CLI_ENTRY, ['tls', 'init', '--host', host, '--out', dir], childEnvironment({}));
  assert.equal(result.code, 0, result.stderr);
  return { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}

describe('the HTTPS process', () => {
  it('serves HTTPS, redirects its HTTP port with 308, and reloads the certificate on SIGHUP without dropping a connection', async () => {
    const [live, renewed] = await Promise.all([tlsInit(join(temp, 'live'), 'rampart.example'), tlsInit(join(temp, 'renewed'), 'renewed.example')]);
    const { server, origin } = await startServer(childEnvironment({
      RAMPART_PORT: '0',
      RAMPART_DATA_DIR: join(temp, 'data'),
      RAMPART_PUBLIC_URL: 'https://rampart.example',
      RAMPART_TLS_CERT_FILE: live.certFile,
      RAMPART_TLS_KEY_FILE: live.keyFile,
      RAMPART_HTTP_REDIRECT_PORT: '0',
    }));
    running.push(server);
    assert.match(origin, /^https:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(origin).port);

    // The redirect port: every request goes to the public URL, same path and query.
    const redirectLine = await server.waitForLine((line) => typeof line.msg === 'string' && line.msg.startsWith('HTTP redirect listening on '), 'the redirect line');
    const redirectOrigin = /^HTTP redirect listening on (http:\/\/\S+)/.exec(String(redirectLine.msg))?.[1] ?? '';
    const redirected = await httpGet(`${redirectOrigin}/posts?page=2`);
    assert.equal(redirected.status, 308);
    assert.equal(redirected.headers.location, 'https://rampart.example/posts?page=2');

    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await httpsGet(port, '/healthz', { ca: live.cert, servername: 'rampart.example', agent });
      assert.equal(first.status, 200);
      assert.equal(first.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
      assert.equal(first.fingerprint256, new X509Certificate(live.cert).fingerprint256);

      copyFileSync(renewed.certFile, live.certFile);
      copyFileSync(renewed.keyFile, live.keyFile);
      assert.ok(server.child.kill('SIGHUP'));
      await server.waitForLine((line) => line.msg === 'TLS certificate reloaded', 'the reload line', 30_000);

      const again = await httpsGet(port, '/healthz', { ca: live.cert, servername: 'rampart.example', agent });
      assert.equal(again.status, 200);
      assert.equal(again.localPort, first.localPort, 'the keep-alive connection from before the reload still serves');
      const fresh = await handshake(port, { ca: renewed.cert, servername: 'renewed.example' });
      assert.equal(fresh.fingerprint256, new X509Certificate(renewed.cert).fingerprint256, 'new connections get the renewed certificate');
      assert.ok(server.running, 'SIGHUP did not end the process');
    } finally {
      agent.destroy();
    }

    assert.ok(server.child.kill('SIGTERM'));
    assert.deepEqual(await server.waitForExit(), { code: 0, signal: null });
  });
});
