import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import pino from 'pino';
import { boxed, createReadableLogStream, formatLogLine, printable, wantsReadableLogs } from '../../src/security/console-format.js';
import { setupNotice } from '../../src/server.js';

describe('console output in development', () => {
  it('formats a pino line as time, level, message, request and fields', () => {
    const line = JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 2, 3, 4, 5), pid: 1, hostname: 'h', reqId: 'req-1', method: 'GET', url: '/login', statusCode: 200, responseTime: 3.25, clientIp: '127.0.0.1', msg: 'request completed' });
    assert.equal(formatLogLine(line, { colour: false }), '03:04:05  INFO   request completed  GET /login 200 3.3ms  reqId=req-1  clientIp=127.0.0.1');
    assert.ok(formatLogLine(line, { colour: true }).includes('\u001b[32mINFO \u001b[0m'));
  });

  it('never passes a control character from a logged value to the terminal', () => {
    const hostile = JSON.stringify({ level: 40, time: 0, msg: 'bad \u001b[2J\u001b]0;owned\u0007 input', url: '/x\u001b[31m', method: 'GET', details: { ua: '\u009b6n' } });
    const text = formatLogLine(hostile, { colour: false });
    assert.equal(printable(text), text, 'nothing left to escape');
    assert.match(text, /bad \\u001b\[2J\\u001b\]0;owned\\u0007 input/);
    assert.equal(printable('a\u0000b\nc'), 'a\\u0000b\\u000ac');
    assert.equal(formatLogLine('not json \u001b[2J', { colour: false }), 'not json \\u001b[2J');
  });

  it('shows an error\'s type, message and a bounded stack', () => {
    const err = new TypeError('it broke');
    const text = formatLogLine(JSON.stringify({ level: 50, time: 0, msg: 'failed', err: { type: 'TypeError', message: err.message, stack: err.stack } }), { colour: false });
    assert.ok(text.startsWith('00:00:00  ERROR  failed\n    TypeError: it broke\n    at '), text);
    assert.ok(text.split('\n').length <= 12);
  });

  it('a pino logger writes readable lines through the stream, whole lines only', async () => {
    const out = new PassThrough();
    let written = '';
    out.on('data', (chunk: Buffer) => {
      written += chunk.toString();
    });
    const logger = pino({ level: 'info' }, createReadableLogStream(out, { colour: false }));
    logger.info({ path: '/tmp/outbox/x.txt' }, 'Mail written to the outbox');
    logger.warn('second');
    await new Promise((resolve) => setImmediate(resolve));
    const lines = written.trimEnd().split('\n');
    assert.equal(lines.length, 2, written);
    assert.match(lines[0] ?? '', /^\d{2}:\d{2}:\d{2} {2}INFO {3}Mail written to the outbox {2}path=\/tmp\/outbox\/x\.txt$/);
    assert.match(lines[1] ?? '', /WARN {3}second$/);
  });

  it('is used only in development at a terminal: production, test and piped output keep JSON', () => {
    assert.equal(wantsReadableLogs({ env: 'development', isTTY: true }), true);
    assert.equal(wantsReadableLogs({ env: 'development', isTTY: undefined }), false);
    assert.equal(wantsReadableLogs({ env: 'production', isTTY: true }), false);
    assert.equal(wantsReadableLogs({ env: 'test', isTTY: true }), false);
  });

  it('frames the one-time setup URL in a box, whole on its own line', () => {
    const url = 'http://localhost:3000/setup?token=MiXTCTyLI9hmeFQQybphrIMsCQ1PhoNobPuupUzfpmo';
    const lines = setupNotice(url, { embedded: true }).split('\n');
    assert.match(lines[0] ?? '', /^┌─+┐$/);
    assert.match(lines.at(-1) ?? '', /^└─+┘$/);
    assert.ok(lines.every((line) => line.length === (lines[0] ?? '').length), 'every line of the box has the same width');
    assert.ok(lines.some((line) => line === `│   ${url} │`), 'the URL stands whole on one line, copyable');
    assert.equal(boxed(['a\u001bb']), `┌${'─'.repeat(10)}┐\n│ a\\u001bb │\n└${'─'.repeat(10)}┘`, 'a control character in a boxed line is escaped too');
  });
});
