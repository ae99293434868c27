import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { destination, stdSerializers, symbols, type DestinationStream, type LoggerOptions } from 'pino';

/**
 * Keys whose values never leave the process in clear: fields named like a password, token or
 * secret, and the headers that carry credentials.
 */
const SENSITIVE_FIELDS = ['password', 'newPassword', 'currentPassword', 'token', 'access_token', 'refresh_token', 'secret', 'secretKey', 'authorization', 'cookie', 'apiKey', 'csrfToken', '_csrf'];
const SENSITIVE_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-csrf-token', 'x-api-key'];
const SENSITIVE_KEYS: ReadonlySet<string> = new Set([...SENSITIVE_FIELDS, ...SENSITIVE_HEADERS]);
const CENSOR = '[redacted]';
// How far below a log line's top level a key is checked: `password`, `body.password`,
// `req.headers.cookie`, `users.0.token`, `err.headers.authorization`: the depths of the redact
// paths this replaces. Handlers log request parts (`{ body, headers }`), credentials one level down.
const MAX_DEPTH = 2;

/**
 * `value` with the value of every sensitive key at `depth` to {@link MAX_DEPTH} replaced by
 * `[redacted]`. One pass with a set lookup per key; objects are copied only along the way to a
 * sensitive key, so the caller's object (often `request.headers` itself) is never touched and a
 * clean value comes back as the same reference.
 */
export function scrub<T>(value: T, depth = 0): T {
  // Typed arrays and Buffers hold bytes, not keys; walking their indices would cost per byte.
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  const source = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(source)) {
    const item = source[key];
    const clean = SENSITIVE_KEYS.has(key) && item !== undefined ? CENSOR : depth < MAX_DEPTH ? scrub(item, depth + 1) : item;
    if (clean === item) continue;
    copy ??= (Array.isArray(source) ? [...source] : { ...source }) as Record<string, unknown>;
    copy[key] = clean;
  }
  return (copy ?? value) as T;
}

interface LoggedRequest { method: string; url: string; ip: string }

// Applied by pino after `formatters.log`, so their output is what must be clean.
const serializers = {
  req: (req: LoggedRequest) => ({ method: req.method, url: redactUrl(req.url), clientIp: req.ip }),
  res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
  // pino's error serializer keeps an error's own properties (a client's `config`, a cause's
  // fields), which may hold credentials like any other logged object.
  err: (err: Error) => scrub(stdSerializers.err(err), 1),
};

/** The log object with sensitive keys scrubbed; keys that have a serializer are scrubbed after it runs. */
function scrubLogObject(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    if (Object.hasOwn(serializers, key)) continue;
    const item = object[key];
    const clean = SENSITIVE_KEYS.has(key) && item !== undefined ? CENSOR : scrub(item, 1);
    if (clean === item) continue;
    copy ??= { ...object };
    copy[key] = clean;
  }
  return copy ?? object;
}

// Query values under these names are credentials (verification and reset links carry tokens).
const SENSITIVE_QUERY = /token|code|pass|secret|key|session|jwt|auth|sig/i;

/** The request URL with the values of credential-like query parameters replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    return eq !== -1 && SENSITIVE_QUERY.test(decodeURIComponentSafe(name)) ? `${name}=[redacted]` : pair;
  });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * pino options for Fastify: JSON lines, requests logged without headers or bodies, and every
 * line scrubbed of credentials.
 *
 * Scrubbing is a `formatters.log` pass rather than pino's `redact`: pino 10 applies wildcard
 * redact paths (`*.password`, `*.*.password`) by cloning and walking every value of every line,
 * the per-request child logger's bindings included, which cost more than the rest of a request's
 * logging. The pass below checks the same keys at the same depths in one walk. Child-logger
 * bindings are not scrubbed: Rampart binds only the request id.
 */
export function loggerOptions({ level }: { level: string }): LoggerOptions {
  return {
    level,
    formatters: { log: scrubLogObject },
    serializers,
  };
}

/**
 * Bytes of log lines gathered before one write: about 130 access lines per write(2). Each write
 * is handed to libuv's thread pool and its completion back to the event loop, which costs far
 * more than the bytes; under load the buffer fills in milliseconds, and when the server is
 * quiet {@link LOG_FLUSH_INTERVAL_MS} bounds the wait.
 */
const LOG_BUFFER_BYTES = 32_768;
/** The most one write(2) carries; lines gathered beyond it wait for the next. */
const LOG_MAX_WRITE_BYTES = 2 * LOG_BUFFER_BYTES;
/** The longest a line waits in the buffer when the server is quiet. */
const LOG_FLUSH_INTERVAL_MS = 100;

/** A log destination that gathers lines and writes them out in the background (pino's sonic-boom). */
export type BufferedLogDestination = ReturnType<typeof destination>;

/**
 * The default log destination: stdout (or `dest`, a file descriptor or path) written
 * asynchronously in batches, so a request never waits for a write(2). Lines gather until
 * {@link LOG_BUFFER_BYTES} or {@link LOG_FLUSH_INTERVAL_MS} have passed, whichever comes first,
 * and none is ever dropped (no `maxLength`: a slow reader costs memory, not lines). What is
 * still buffered when the process exits, normally or on a crash, is written synchronously by
 * pino's exit handler; {@link drainLogs} writes it out earlier, at close.
 *
 * The destination holds each line as its own UTF-8 Buffer (sonic-boom's buffer mode) and joins
 * them once per write. In its string mode sonic-boom appends every line to one growing string
 * and measures that string's byte length again on each append, so a line's cost grew with the
 * batch, and each write encoded the joined string once more.
 */
export function createLogDestination(options: { readonly dest?: number | string } = {}): BufferedLogDestination {
  const stream = destination({ dest: options.dest ?? 1, sync: false, minLength: LOG_BUFFER_BYTES, maxWrite: LOG_MAX_WRITE_BYTES, periodicFlush: LOG_FLUSH_INTERVAL_MS, contentMode: 'buffer' });
  // sonic-boom's types describe the string mode only; in buffer mode `write` takes a Buffer.
  const writeBuffer = stream.write.bind(stream) as unknown as (chunk: Buffer) => boolean;
  // pino writes strings; buffer mode takes Buffers. An instance property, so sonic-boom's own
  // replacement on a broken pipe (a no-op write) still takes precedence.
  stream.write = (chunk: string | Buffer): boolean => writeBuffer(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  return stream;
}

interface Flushable { flush(callback?: (err?: Error | null) => void): void }

function isFlushable(stream: DestinationStream): stream is DestinationStream & Flushable {
  return typeof (stream as Partial<Flushable>).flush === 'function';
}

/** Starts writing a buffered destination's lines now, without waiting; other streams write as they go. */
export function writeOutLogs(stream: DestinationStream): void {
  if (isFlushable(stream)) stream.flush();
}

/**
 * Resolves once a buffered destination has written the lines it holds; other streams resolve
 * at once. A failure is not thrown: it is the destination's to report (an fsync refused by a
 * pipe, for one, comes after the lines are written), and a close must not fail on it.
 */
export function drainLogs(stream: DestinationStream): Promise<void> {
  if (!isFlushable(stream)) return Promise.resolve();
  return new Promise((resolve) => {
    stream.flush(() => {
      resolve();
    });
  });
}

/** The pino levels at which `info` lines are written. */
const INFO_AND_BELOW: ReadonlySet<string> = new Set(['info', 'debug', 'trace']);
const INFO = 30;

/** The parts of a request's pino logger the access line is written with, exactly as pino uses them. */
interface PinoInternals {
  readonly [symbols.streamSym]?: DestinationStream & { readonly [symbols.needsMetadataGsym]?: boolean };
  /** The line start per level (`{"level":30`), as pino's level formatter made it. */
  readonly [symbols.lsCacheSym]?: Readonly<Record<number, string>>;
  /** The timestamp function (`,"time":1764…`). */
  readonly [symbols.timeSym]?: () => string;
  /** The logger's bindings (`,"pid":…,"hostname":…,"reqId":…`), serialized once when the child was made. */
  readonly [symbols.chindingsSym]?: string;
  readonly [symbols.messageKeySym]?: string;
  /** `}` and the line ending. */
  readonly [symbols.endSym]?: string;
  readonly [symbols.formattersSym]?: { readonly log?: unknown };
  readonly [symbols.mixinSym]?: unknown;
  readonly [symbols.hooksSym]?: { readonly logMethod?: unknown; readonly streamWrite?: unknown };
  readonly [symbols.nestedKeySym]?: string | null;
}

/**
 * The access line of a successful request, written straight to the logger's stream from the
 * pieces pino itself builds a line from (level start, timestamp, the bindings it serialized
 * when the request's child logger was made, message key, line end), so it is byte for byte
 * what `log.info(fields, 'request completed')` writes with {@link loggerOptions}, without
 * pino's generic pass over the fields on every request (serializer lookups, the scrub, a
 * stringifier per key). The fields are fixed and none is a credential (the URL's are
 * redacted); every string goes through JSON.stringify. Returns false when the logger is not
 * one this applies to (another logger, other formatters, a mixin or hook, a stream that needs
 * pino's metadata such as a multistream): the caller then logs through pino. True, with
 * nothing written, when the level is above `info`.
 */
function writeAccessLine(log: FastifyReply['log'], request: FastifyRequest, reply: FastifyReply): boolean {
  const pino = log as unknown as PinoInternals;
  const stream = pino[symbols.streamSym];
  const start = pino[symbols.lsCacheSym]?.[INFO];
  const time = pino[symbols.timeSym];
  const bindings = pino[symbols.chindingsSym];
  const end = pino[symbols.endSym];
  if (stream === undefined || start === undefined || time === undefined || bindings === undefined || end === undefined) return false;
  if (stream[symbols.needsMetadataGsym] === true || pino[symbols.formattersSym]?.log !== scrubLogObject || pino[symbols.mixinSym] !== undefined) return false;
  const hooks = pino[symbols.hooksSym];
  if (hooks?.logMethod !== undefined || hooks?.streamWrite !== undefined || (pino[symbols.nestedKeySym] ?? null) !== null) return false;
  // A pino logger above `info` writes no access line (Rampart defines no custom levels).
  if (!INFO_AND_BELOW.has(log.level)) return true;
  const responseTime = reply.elapsedTime;
  stream.write(`${start}${time()}${bindings},"method":${JSON.stringify(request.method)},"url":${JSON.stringify(redactUrl(request.url))},"statusCode":${reply.statusCode},"responseTime":${Number.isFinite(responseTime) ? responseTime : 'null'},"clientIp":${JSON.stringify(request.ip)},"${pino[symbols.messageKeySym] ?? 'msg'}":"request completed"${end}`);
  return true;
}

/**
 * Fastify's request logging as one access line per request, written when the response has
 * finished: method, URL (credential-like query values redacted), status, response time and
 * client IP, with the request id from the request's logger. Fastify's error lines (the default
 * error handler, stream and serializer failures) are unchanged.
 */
export class AccessLogController extends LogController {
  override incomingRequest(): void {
    // The access line is written on completion; a second line per request would double the logging cost.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const log = reply.log;
    if (!error && writeAccessLine(log, request, reply)) return;
    const line = { method: request.method, url: redactUrl(request.url), statusCode: reply.statusCode, responseTime: reply.elapsedTime, clientIp: request.ip };
    if (error) log.error({ ...line, err: error }, 'request errored');
    else log.info(line, 'request completed');
  }
}
