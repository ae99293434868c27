import { Writable } from 'node:stream';

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Readonly<Record<string, string>> = { TRACE: '90', DEBUG: '90', INFO: '32', WARN: '33', ERROR: '31', FATAL: '35' };
// Shown in the line itself (or dropped as noise); everything else follows as key=value.
const SHOWN = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'reqId', 'method', 'url', 'statusCode', 'responseTime', 'err']);
// A line longer than this is cut: a formatter must never turn one log call into a screenful.
const MAX_LINE = 2000;
// C0, DEL and C1 controls: a logged value (a URL, a header) must never move the terminal's
// cursor or change its colours, so each is shown as an escape instead.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** A value as printable text: control characters escaped (`\u001b`), never passed to the terminal. */
export function printable(value: string): string {
  return value.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function field(value: unknown): string {
  if (typeof value === 'string') return printable(value);
  // JSON.stringify answers undefined for undefined and functions, whatever its declared type.
  const json = JSON.stringify(value) as unknown;
  return printable(typeof json === 'string' ? json : String(value));
}

/**
 * One pino JSON line as a line a person reads: `12:00:01 INFO  Rampart is listening on …`,
 * then the request (`GET /login 200 3.2ms`) and the other fields as `key=value`. A line that
 * is not JSON is shown as it is, escaped.
 */
export function formatLogLine(line: string, options: { readonly colour: boolean }): string {
  let entry: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return printable(line).slice(0, MAX_LINE);
    entry = parsed as Record<string, unknown>;
  } catch {
    return printable(line).slice(0, MAX_LINE);
  }
  const level = LEVELS[typeof entry.level === 'number' ? entry.level : 30] ?? 'INFO';
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 19) : '';
  const label = options.colour ? `\u001b[${COLOURS[level] ?? '0'}m${level.padEnd(5)}\u001b[0m` : level.padEnd(5);
  const parts = [time, label, field(entry.msg ?? '')];
  if (typeof entry.method === 'string' && typeof entry.url === 'string') {
    parts.push(`${field(entry.method)} ${field(entry.url)}${typeof entry.statusCode === 'number' ? ` ${entry.statusCode}` : ''}${typeof entry.responseTime === 'number' ? ` ${entry.responseTime.toFixed(1)}ms` : ''}`);
  }
  const err = entry.err as { type?: unknown; message?: unknown; stack?: unknown } | undefined;
  const rest = Object.entries(entry).filter(([key]) => !SHOWN.has(key)).map(([key, value]) => `${printable(key)}=${field(value)}`);
  if (typeof entry.reqId === 'string') rest.unshift(`reqId=${field(entry.reqId)}`);
  let text = [...parts, ...rest].filter((part) => part !== '').join('  ').slice(0, MAX_LINE);
  if (err !== undefined && typeof err === 'object') {
    text += `\n    ${field(err.type ?? 'Error')}: ${field(err.message ?? '')}`;
    if (typeof err.stack === 'string') text += `\n${err.stack.split('\n').slice(1, 11).map((l) => `    ${printable(l.trim())}`).join('\n')}`;
  }
  return text;
}

/**
 * A stream for pino that writes each JSON line to `out` in the readable form of
 * {@link formatLogLine}. For a person at a terminal in development only: production and any
 * piped output keep JSON, which log shippers and the tests parse.
 */
export function createReadableLogStream(out: NodeJS.WritableStream, options: { readonly colour: boolean }): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      const text = lines.filter((l) => l.trim() !== '').map((l) => `${formatLogLine(l, options)}\n`).join('');
      if (text === '') {
        callback();
        return;
      }
      out.write(text, () => {
        callback();
      });
    },
  });
}

/** Whether the process logs in the readable form: development (not production or test), to a terminal. */
export function wantsReadableLogs(options: { readonly env: string; readonly isTTY: boolean | undefined }): boolean {
  return options.env === 'development' && options.isTTY === true;
}

/** Lines framed in a box, for the one message an operator must not miss among the log lines. */
export function boxed(lines: readonly string[]): string {
  const safe = lines.map(printable);
  const width = Math.max(...safe.map((l) => l.length));
  const rule = '─'.repeat(width + 2);
  return [`┌${rule}┐`, ...safe.map((l) => `│ ${l.padEnd(width)} │`), `└${rule}┘`].join('\n');
}
