import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { formatDryRun, parseScanArgs, scanCommand } from '../../../src/cli/scan/command.js';
import { FINDINGS } from '../../../src/cli/scan/findings.js';
import { buildPlan, planRequests } from '../../../src/cli/scan/plan.js';
import { ids, listen, scan } from './scan-helpers.js';

interface Received {
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly body: string;
}

/** A server that answers and records every request it receives, body included. */
async function recordingServer(t: TestContext, host: string, answer: (request: IncomingMessage) => { status: number; headers?: Record<string, string> }): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ method: request.method ?? '', path: request.url ?? '', host: request.headers.host ?? '', body: Buffer.concat(chunks).toString('utf8') });
      const { status, headers } = answer(request);
      response.writeHead(status, headers).end();
    });
  });
  // Node's parser refuses an unknown method before the handler: record those too.
  server.on('clientError', (error: Error & { rawPacket?: Buffer }, socket) => {
    const line = error.rawPacket?.toString('latin1').split('\r\n')[0] ?? '';
    const [method = '', path = ''] = line.split(' ');
    received.push({ method, path, host: '', body: '' });
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  return { port: await listen(t, server, host), received };
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

describe('what rampart scan sends', () => {
  it('uses safe methods except the documented probes, stays on the target host, and follows no redirect off it', async (t) => {
    // Another loopback address stands for "another host": anything it receives is a failure.
    const elsewhere = await recordingServer(t, '127.0.0.2', () => ({ status: 200 }));
    const target = await recordingServer(t, '127.0.0.1', (request) => {
      if (request.url === '/') return { status: 302, headers: { location: '/welcome' } };
      if (request.url === '/welcome') return { status: 302, headers: { location: `http://127.0.0.2:${elsewhere.port}/stolen` } };
      if (request.url?.startsWith('/.well-known/security.txt') === true) return { status: 301, headers: { location: `http://127.0.0.2:${elsewhere.port}/security.txt` } };
      return { status: 404 };
    });
    const origin = `http://127.0.0.1:${target.port}`;
    const args = [`${origin}/`, '--path', '/api/status'];
    const report = await scan(args);

    assert.deepEqual(elsewhere.received, [], 'nothing reached the other host');
    assert.ok(target.received.every((r) => r.host === `127.0.0.1:${target.port}` || r.method === 'RAMPARTSCAN'), 'every request names the target host');
    assert.ok(target.received.some((r) => r.path === '/welcome'), 'a same-origin redirect is followed');
    const offOrigin = report.findings.filter((f) => f.id === 'RAMPART-SX01').map((f) => f.subject);
    assert.deepEqual(offOrigin, [`http://127.0.0.2:${elsewhere.port}`]);

    const unsafe = target.received.filter((r) => !SAFE.has(r.method));
    const id = /rampart-scan-([0-9a-f]{12})/.exec(unsafe[0]?.path ?? '')?.[1] ?? 'none';
    assert.deepEqual(unsafe.map((r) => `${r.method} ${r.path} ${r.body}`).sort(), [
      `POST /api/rampart-scan-${id} {"rampart-scan":`,
      `POST /rampart-scan-${id} {"rampart-scan":`,
      `RAMPARTSCAN /rampart-scan-${id} `,
    ], 'only the malformed-JSON probes (bodies no parser accepts, to paths that cannot exist) and the unknown method');
    assert.throws(() => JSON.parse('{"rampart-scan":') as unknown, SyntaxError);

    // Every request received is one the plan (which --dry-run prints) lists, or one of its conditional steps.
    const settings = { ...parseScanArgs(args).settings, scanId: id };
    const planned = new Set(planRequests(buildPlan(settings)).map((p) => `${p.method} ${p.path}`));
    for (const request of target.received) {
      const conditional = request.path === '/welcome' || request.path === '/favicon.ico';
      assert.ok(conditional || planned.has(`${request.method} ${request.path}`), `${request.method} ${request.path.slice(0, 80)} is not in the plan`);
    }
    const dryRun = formatDryRun(settings);
    for (const line of planned) if (line.length < 100) assert.ok(dryRun.includes(line.replace(' ', ` ${origin}`)), `--dry-run lists ${line}`);
    assert.ok(report.requests.length <= 100);
  });

  it('sends failed logins only with --probe-rate-limit, bounded, and only to the login path', async (t) => {
    const target = await recordingServer(t, '127.0.0.1', (request) => (request.method === 'POST' && request.url === '/login' ? { status: 401 } : { status: 404 }));
    const origin = `http://127.0.0.1:${target.port}`;
    await scan([`${origin}/`]);
    assert.ok(!target.received.some((r) => r.path === '/api/auth/token' || r.path === '/login'), 'no login attempt without the flag');

    target.received.length = 0;
    const report = await scan([`${origin}/`, '--probe-rate-limit', '--login-path', '/login', '--rate-limit-attempts', '7']);
    const logins = target.received.filter((r) => r.path === '/login');
    assert.equal(logins.length, 7);
    for (const login of logins) {
      assert.equal(login.method, 'POST');
      const body = JSON.parse(login.body) as { email: string; password: string };
      assert.match(body.email, /^rampart-scan-[0-9a-f]{12}@example\.invalid$/, 'an address no account can have');
    }
    assert.ok(ids(report).has('RAMPART-SR01'));
  });

  it('--dry-run sends nothing; the rate-limit probe refuses a host that is not loopback without --i-own-this-host', async (t) => {
    const target = await recordingServer(t, '127.0.0.1', () => ({ status: 200 }));
    const printed: string[] = [];
    const out = (text: string) => printed.push(text);
    assert.equal(await scanCommand([`http://127.0.0.1:${target.port}/`, '--dry-run', '--probe-rate-limit'], out, out), 0);
    assert.deepEqual(target.received, []);
    assert.match(printed.join('\n'), /POST http:\/\/127\.0\.0\.1:\d+\/api\/auth\/token \(up to 10 times\)/);

    printed.length = 0;
    assert.equal(await scanCommand(['https://rampart.example.com/', '--probe-rate-limit'], out, out), 2);
    assert.match(printed.join('\n'), /--probe-rate-limit sends failed logins; against rampart\.example\.com, which is not a loopback address, it also needs --i-own-this-host/);
    printed.length = 0;
    assert.equal(await scanCommand(['https://rampart.example.com/', '--probe-rate-limit', '--i-own-this-host', '--dry-run'], out, out), 0);

    for (const args of [['https://user:pw@example.com/'], ['ftp://example.com/'], ['https://example.com/', '--path', '//evil.example/x'], ['https://example.com/', '--path', 'https://evil.example/'], ['https://example.com/', '--fail-on', 'critical'], ['https://example.com/', '--rate-limit-attempts', '31', '--probe-rate-limit', '--i-own-this-host']]) {
      assert.equal(await scanCommand(args, out, out), 2, args.join(' '));
    }
  });

  it('is bounded against a hostile target: an endless body, an answer that never comes, a redirect loop, the request budget', async (t) => {
    let streamed = 0;
    const received: string[] = [];
    const server = createServer((request, response) => {
      received.push(request.url ?? '');
      if (request.url === '/') {
        response.writeHead(200, { 'content-type': 'text/html' });
        // An endless body: the scanner must stop reading, not buffer it.
        const chunk = Buffer.alloc(64 * 1024, 'a');
        const pump = () => {
          while (!response.destroyed && response.write(chunk)) streamed += chunk.length;
          if (!response.destroyed) response.once('drain', pump);
        };
        pump();
        return;
      }
      if (request.url?.startsWith('/loop') === true) {
        response.writeHead(302, { location: `/loop${received.length}` }).end();
        return;
      }
      if (request.url?.startsWith('/api/') === true) return; // never answers
      response.writeHead(404).end();
    });
    const port = await listen(t, server);
    const report = await scan([`http://127.0.0.1:${port}/`, '--path', '/cors-target', '--path', '/loop', '--timeout', '1']);
    assert.ok(streamed < 64 * 1024 * 1024, `the scanner stopped reading the endless body (${streamed} bytes written)`);
    assert.equal(received.filter((url) => url.startsWith('/loop')).length, 4, 'a redirect loop is followed 3 times, no more');
    assert.ok(report.findings.some((f) => f.id === 'RAMPART-SX02' && f.evidence === 'no answer within 1000 ms'), 'a hanging answer times out');

    received.length = 0;
    const budget = await scan([`http://127.0.0.1:${port}/`, '--max-requests', '5', '--timeout', '1']);
    assert.equal(received.length, 5);
    assert.ok(ids(budget).has('RAMPART-SX03'));
  });

  it('retries a request the target shed (503 with Retry-After) a bounded number of times, and says when it gave up', async (t) => {
    let homeCalls = 0;
    const target = await recordingServer(t, '127.0.0.1', (request) => {
      if (request.url === '/') {
        homeCalls += 1;
        return homeCalls === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 };
      }
      if (request.url === '/busy') return { status: 503, headers: { 'retry-after': '1' } };
      return { status: 404 };
    });
    const report = await scan([`http://127.0.0.1:${target.port}/`, '--path', '/cors-target', '--path', '/busy']);
    assert.equal(homeCalls, 2, 'the shed home page was asked again once');
    assert.equal(target.received.filter((r) => r.path === '/busy').length, 3, 'a path that keeps shedding is tried 3 times, no more');
    const gaveUp = report.findings.filter((f) => f.id === 'RAMPART-SX04').map((f) => f.subject);
    assert.deepEqual(gaveUp, ['GET /busy']);
    assert.ok(!report.findings.some((f) => f.id === 'RAMPART-SE05'), 'a shed answer is not judged as the probe\'s answer');
  });

  it('gives every finding a unique, well-formed id with a reason and a fix', () => {
    for (const [id, definition] of Object.entries(FINDINGS)) {
      assert.match(id, /^RAMPART-S[HCTEOSRX]\d{2}$/);
      assert.ok(definition.reason.length > 10 && definition.fix.length > 5, id);
    }
  });
});
