import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { pino } from 'pino';
import { AccessLogController, createLogDestination, drainLogs, loggerOptions, scrub } from '../../src/security/logging.js';
import { LogCapture } from '../helpers/build.js';

function capturedLogger(): { log: pino.Logger; logs: LogCapture } {
  const logs = new LogCapture();
  return { log: pino(loggerOptions({ level: 'info' }), logs), logs };
}

describe('log scrubbing', () => {
  it('censors credential keys at the top level and two levels down, in objects and arrays', () => {
    const { log, logs } = capturedLogger();
    log.info({
      password: 'top',
      body: { email: 'ada@example.com', newPassword: 'one down' },
      request: { headers: { cookie: 'two down', 'x-csrf-token': 'two down', accept: 'text/html' } },
      users: [{ token: 'in an array' }],
    }, 'scrub me');
    assert.deepEqual(logs.entries()[0], {
      ...logs.entries()[0],
      password: '[redacted]',
      body: { email: 'ada@example.com', newPassword: '[redacted]' },
      request: { headers: { cookie: '[redacted]', 'x-csrf-token': '[redacted]', accept: 'text/html' } },
      users: [{ token: '[redacted]' }],
    });
  });

  it("never modifies the caller's object, and returns a clean one as it is", () => {
    const headers = { authorization: 'Bearer secret', accept: '*/*' };
    const logged = { headers };
    assert.deepEqual(scrub(logged), { headers: { authorization: '[redacted]', accept: '*/*' } });
    assert.equal(headers.authorization, 'Bearer secret');
    const clean = { method: 'GET', nested: { url: '/api/status' } };
    assert.equal(scrub(clean), clean);
  });

  it('scrubs the own properties of a logged error after pino serializes it', () => {
    const { log, logs } = capturedLogger();
    log.error({ err: Object.assign(new Error('connect failed'), { headers: { authorization: 'Bearer secret' }, apiKey: 'k' }) }, 'boom');
    const { err } = logs.entries()[0] as { err: Record<string, unknown> };
    assert.equal(err.message, 'connect failed');
    assert.equal(err.apiKey, '[redacted]');
    assert.doesNotMatch(logs.text(), /Bearer secret/);
  });
});

describe('access log', () => {
  it('writes one line per request with method, redacted URL, status, response time, client IP and request id', async (t) => {
    const logs = new LogCapture();
    const app = Fastify({ logger: { ...loggerOptions({ level: 'info' }), stream: logs }, logController: new AccessLogController() });
    t.after(() => app.close());
    app.get('/verify', () => ({ ok: true }));
    await app.inject({ method: 'GET', url: '/verify?token=abc&page=2', remoteAddress: '203.0.113.5' });
    const lines = logs.entries().filter((line) => typeof line.reqId === 'string');
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.ok(line !== undefined);
    assert.equal(line.msg, 'request completed');
    assert.deepEqual([line.method, line.url, line.statusCode, line.clientIp], ['GET', '/verify?token=[redacted]&page=2', 200, '203.0.113.5']);
    assert.equal(typeof line.responseTime, 'number');
  });
});

describe('access line', () => {
  const masked = (line: string | undefined): string => String(line).replace(/"time":\d+/, '"time":T');

  it('is byte for byte the line pino writes for the same fields, hostile URLs and addresses included', async (t) => {
    const logs = new LogCapture();
    const app = Fastify({ logger: { ...loggerOptions({ level: 'info' }), stream: logs }, logController: new AccessLogController(), trustProxy: true });
    t.after(() => app.close());
    app.get('/*', () => ({ ok: true }));
    await app.ready();
    const urls = ['/a', '/verify?token=abc&page=2', '/x?q=%22%0d%0a{"level":60}', '/caf%C3%A9/\u2028?session=s&next=/', `/${'long'.repeat(500)}`];
    for (const url of urls) {
      logs.lines.length = 0;
      await app.inject({ method: 'GET', url, headers: { 'x-forwarded-for': '"injected\\' }, remoteAddress: '203.0.113.5' });
      const [actual] = logs.lines.filter((line) => line.includes('"request completed"'));
      const entry = JSON.parse(String(actual)) as Record<string, unknown>;
      app.log.child({ reqId: entry.reqId }).info({ method: entry.method, url: entry.url, statusCode: entry.statusCode, responseTime: entry.responseTime, clientIp: entry.clientIp }, 'request completed');
      assert.equal(masked(actual), masked(logs.lines.at(-1)), url);
      assert.doesNotMatch(String(actual), /token=abc|session=s/);
      assert.equal(logs.lines.length, 2, 'one line per request');
    }
  });

  it('goes through pino for a stream that needs pino\'s metadata, and not at all above info', async (t) => {
    const logs = new LogCapture();
    const multi = pino.multistream([{ level: 'info', stream: logs }]);
    const app = Fastify({ logger: { ...loggerOptions({ level: 'info' }), stream: multi }, logController: new AccessLogController() });
    t.after(() => app.close());
    app.get('/m', () => ({ ok: true }));
    await app.inject({ method: 'GET', url: '/m' });
    assert.equal(logs.entries().filter((line) => line.msg === 'request completed').length, 1);
    const quiet = new LogCapture();
    const warnApp = Fastify({ logger: { ...loggerOptions({ level: 'warn' }), stream: quiet }, logController: new AccessLogController() });
    t.after(() => warnApp.close());
    warnApp.get('/q', () => ({ ok: true }));
    await warnApp.inject({ method: 'GET', url: '/q' });
    assert.deepEqual(quiet.lines, []);
  });
});

describe('default log destination', () => {
  const logging = fileURLToPath(new URL('../../src/security/logging.ts', import.meta.url));

  it('gathers lines into batches and writes every one out when drained', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-log-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const file = join(dir, 'out.log');
    const destination = createLogDestination({ dest: file });
    t.after(() => {
      destination.end();
    });
    const log = pino(loggerOptions({ level: 'info' }), destination);
    for (let i = 0; i < 3; i++) log.info({ i }, 'buffered');
    await drainLogs(destination);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { i: number; msg: string });
    assert.deepEqual(lines.map((line) => [line.i, line.msg]), [[0, 'buffered'], [1, 'buffered'], [2, 'buffered']]);
  });

  it('writes the lines still buffered when the process exits, on a crash too', () => {
    // The child logs two lines (far below one batch) on stdout, then exits at once: normally, or by an uncaught error.
    for (const end of ['process.exit(0)', "setImmediate(() => { throw new Error('crash'); })"]) {
      const code = `import { pino } from 'pino'; import { createLogDestination } from ${JSON.stringify(logging)};
        const log = pino({ level: 'info' }, createLogDestination());
        log.info('first'); log.warn({ securityEvent: { event: 'sys_crash' } }, 'last'); ${end};`;
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
      const messages = child.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { msg: string }).msg);
      assert.deepEqual(messages, ['first', 'last'], `${end}: ${child.stderr}`);
    }
  });
});
