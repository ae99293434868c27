import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { createTransport } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import { MAIL_ERR_UNAVAILABLE } from './errors.js';

/** One plain-text message to one recipient: account mail needs no HTML, and text carries no script. */
export interface MailMessage {
  /** One bare address (`name@domain`): no display name, no list. */
  readonly to: string;
  /** One line: CR, LF and other control characters are refused. */
  readonly subject: string;
  readonly text: string;
}

/** The subset of a pino logger the mailers write to, so tests can capture calls. */
export interface MailerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Sends account mail. Implemented over SMTP and by a development outbox that writes files.
 * A malformed message is a programming error and rejects with a `TypeError` before anything is
 * sent; a delivery that fails rejects with `MAIL_ERR_UNAVAILABLE`. Neither the message text
 * (it carries one-time tokens) nor the SMTP password ever reaches the logger or an error.
 */
export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  /** Resolves when the SMTP server accepted the message, or the outbox file is written. */
  send(message: MailMessage): Promise<void>;
  /** Waits for sends in progress, then releases connections. Idempotent; later sends reject with `MAIL_ERR_UNAVAILABLE`. */
  close(): Promise<void>;
}

/** Options of {@link createSmtpMailer}. */
export interface SmtpMailerOptions {
  /**
   * `smtp://` (STARTTLS, port 587 by default) or `smtps://` (TLS from the first byte, port 465),
   * with optional `user:password@`; percent-encoded characters are decoded. The password
   * never appears in errors or logs.
   */
  readonly url: string;
  /** The From header: one address, with or without a display name (`Rampart <no-reply@example.com>`). */
  readonly from: string;
  readonly logger?: MailerLogger;
  /**
   * Refuse an `smtp://` server that does not upgrade to TLS with STARTTLS. Default: true, except
   * for a loopback host (a local relay or a test server), where the traffic never leaves the machine.
   */
  readonly requireTls?: boolean;
}

/** Options of {@link createOutboxMailer}. */
export interface OutboxMailerOptions {
  /** Where the `.eml` files go; created with mode 0700 (an existing directory is tightened to it). */
  readonly directory: string;
  /** The From header, as for {@link SmtpMailerOptions.from}. */
  readonly from: string;
  readonly logger?: MailerLogger;
}

// Without bounds nodemailer waits 2 minutes to connect, 30 s for the greeting and 10 minutes on
// a silent socket, holding a pool slot for each.
const CONNECTION_TIMEOUT_MS = 10_000;
const GREETING_TIMEOUT_MS = 10_000;
const SOCKET_TIMEOUT_MS = 10_000;
const DNS_TIMEOUT_MS = 10_000;
// Shorter than the socket timeout, so an idle pooled connection says QUIT before it times out.
const POOL_IDLE_TIMEOUT_MS = 5_000;
// A server that trickles its replies resets the socket timeout forever; this ends the send.
const SEND_TIMEOUT_MS = 30_000;
// Sends are usually fire-and-forget; past this many in flight, a flood would only grow the heap.
const MAX_PENDING_SENDS = 1_000;

const MAX_ADDRESS_LENGTH = 254;
const MAX_FROM_LENGTH = 320;
const MAX_SUBJECT_LENGTH = 255;
const MAX_TEXT_LENGTH = 100_000;
// C0 controls (CR and LF among them), DEL, C1 controls and the Unicode line separators.
const CONTROL_CHARACTERS = /[\p{Cc}\u2028\u2029]/u;
const LINE_BREAK = /[\r\n]/;
// RFC 5322 atext plus any letter, mark or digit (RFC 6531); no quoted local parts, no comments.
const LOCAL_PART = /^[\p{L}\p{M}\p{N}!#$%&'*+/=?^_`{|}~.-]{1,64}$/u;
const DOMAIN_LABEL = /^[\p{L}\p{M}\p{N}-]{1,63}$/u;

const silentLogger: MailerLogger = Object.freeze({
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

/**
 * A mailer over SMTP with a small connection pool. Every wait is bounded (10 s to connect, for
 * the greeting and per reply; 30 s per send), TLS certificates are verified, and a message is
 * built by nodemailer, which encodes every header. Throws a `TypeError` on a bad URL or From.
 */
export function createSmtpMailer(options: SmtpMailerOptions): Mailer {
  const server = parseSmtpUrl(options.url);
  const from = checkFrom(options.from);
  const logger = options.logger ?? silentLogger;
  const requireTls = options.requireTls ?? !server.loopback;
  if (typeof requireTls !== 'boolean') throw new TypeError('requireTls must be a boolean when set');
  if (!requireTls && !server.secure && !server.loopback) {
    logger.warn({ server: server.redacted }, 'STARTTLS is not required: mail and the SMTP password may cross the network in clear');
  }

  const transport = createTransport({
    pool: true,
    host: server.host,
    port: server.port,
    secure: server.secure,
    requireTLS: requireTls && !server.secure,
    tls: { minVersion: 'TLSv1.2' },
    auth: server.user === '' ? undefined : { user: server.user, pass: server.pass },
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    greetingTimeout: GREETING_TIMEOUT_MS,
    socketTimeout: SOCKET_TIMEOUT_MS,
    dnsTimeout: DNS_TIMEOUT_MS,
    idleTimeout: POOL_IDLE_TIMEOUT_MS,
    // nodemailer's own logging would copy server replies, and with debug the whole message.
    logger: false,
    debug: false,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  // An 'error' event without a listener would crash the process.
  transport.on('error', (err: unknown) => {
    logger.warn({ server: server.redacted, reason: describeFailure(err) }, 'The SMTP connection pool reported an error');
  });

  return createMailer('smtp', {
    async deliver(message) {
      try {
        const info = await transport.sendMail({ ...message, from, signal: AbortSignal.timeout(SEND_TIMEOUT_MS) });
        logger.info({ server: server.redacted, messageId: info.messageId }, 'Mail sent');
      } catch (err) {
        const reason = describeFailure(err);
        logger.warn({ server: server.redacted, reason }, 'Mail could not be sent');
        throw new MAIL_ERR_UNAVAILABLE({ cause: new Error(`SMTP delivery through ${server.redacted} failed: ${reason}`) });
      }
    },
    shutdown() {
      transport.close();
    },
  });
}

/** The plain-text companion of an outbox message: its recipient, subject and text, unencoded. */
function plainCompanion(message: MailMessage): string {
  return `To: ${message.to}\nSubject: ${message.subject}\n\n${message.text}${message.text.endsWith('\n') ? '' : '\n'}`;
}

/**
 * The development twin: each message becomes an RFC 5322 `.eml` file (built by nodemailer, so
 * it is the message SMTP would have carried) under `directory`, named
 * `<ISO time with - for :>-<random>.eml`, mode 0600, never overwriting, and beside it a `.txt`
 * file of the same name with the recipient, subject and text as written (the `.eml` body is
 * quoted-printable, so a link copied from it would carry `=3D` and soft line breaks). The paths
 * are logged; the body is not, since it carries one-time tokens. Throws a `TypeError` on a bad
 * directory or From.
 */
export function createOutboxMailer(options: OutboxMailerOptions): Mailer {
  const { directory } = options;
  if (typeof directory !== 'string' || directory.trim() === '') throw new TypeError('directory must be a non-empty path');
  const from = checkFrom(options.from);
  const logger = options.logger ?? silentLogger;
  const composer = createTransport({ streamTransport: true, buffer: true, newline: 'windows', disableFileAccess: true, disableUrlAccess: true });
  let ready: Promise<void> | undefined;

  const prepareDirectory = async (): Promise<void> => {
    // The files hold live one-time tokens: other local users must not list or read them.
    // mkdir's mode applies only to directories it creates, so an existing one is tightened too.
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the path comes from configuration, never from a request
    await mkdir(directory, { recursive: true, mode: 0o700 });
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- as above
    await chmod(directory, 0o700);
  };

  return createMailer('outbox', {
    async deliver(message) {
      try {
        ready ??= prepareDirectory().catch((err: unknown) => {
          ready = undefined;
          throw err;
        });
        await ready;
        const info = await composer.sendMail({ ...message, from });
        if (!Buffer.isBuffer(info.message)) throw new Error('nodemailer returned a stream where a buffer was asked for');
        const name = join(directory, `${new Date().toISOString().replaceAll(':', '-')}-${randomBytes(8).toString('hex')}`);
        const path = `${name}.eml`;
        const textPath = `${name}.txt`;
        // 'wx' fails on an existing file instead of replacing it.
        // eslint-disable-next-line security/detect-non-literal-fs-filename -- the directory is configured, the name generated here
        await writeFile(path, info.message, { mode: 0o600, flag: 'wx' });
        // The .eml body is quoted-printable (`=3D`, soft line breaks), so a link copied from it
        // fails; the companion holds the text as written, for a person to read and copy.
        // eslint-disable-next-line security/detect-non-literal-fs-filename -- as above
        await writeFile(textPath, plainCompanion(message), { mode: 0o600, flag: 'wx' });
        logger.info({ path, textPath, messageId: info.messageId }, 'Mail written to the outbox (not sent): open the .txt file to copy its link');
      } catch (err) {
        const reason = describeFailure(err);
        logger.warn({ directory, reason }, 'Mail could not be written to the outbox');
        throw new MAIL_ERR_UNAVAILABLE({ cause: new Error(`Writing to the outbox ${directory} failed: ${reason}`) });
      }
    },
    shutdown: () => undefined,
  });
}

/** The lifecycle both mailers share: message checks, the bound on sends in flight, and close. */
function createMailer(
  kind: Mailer['kind'],
  parts: { deliver(message: MailMessage): Promise<void>; shutdown(): void },
): Mailer {
  const pending = new Set<Promise<void>>();
  let closing: Promise<void> | undefined;
  return Object.freeze({
    kind,
    async send(message: MailMessage): Promise<void> {
      // Copied first, so a getter cannot pass the checks and then answer something else.
      const checked = checkMessage(message);
      if (closing !== undefined) throw new MAIL_ERR_UNAVAILABLE({ cause: new Error('the mailer is closed') });
      if (pending.size >= MAX_PENDING_SENDS) {
        throw new MAIL_ERR_UNAVAILABLE({ cause: new Error(`${MAX_PENDING_SENDS} messages are already being sent`) });
      }
      const delivery = parts.deliver(checked);
      pending.add(delivery);
      try {
        await delivery;
      } finally {
        pending.delete(delivery);
      }
    },
    close(): Promise<void> {
      closing ??= (async () => {
        // Every send is bounded by SEND_TIMEOUT_MS, so this wait is too.
        await Promise.allSettled([...pending]);
        parts.shutdown();
      })();
      return closing;
    },
  });
}

function checkMessage(message: unknown): MailMessage {
  if (typeof message !== 'object' || message === null) throw new TypeError('message must be an object');
  const { to, subject, text } = message as Record<string, unknown>;
  // Messages name the field, never its value: the address is personal data.
  checkLine('message.to', to, MAX_ADDRESS_LENGTH);
  if (!isAddress(to) || !parsesAsOneAddress(to, to)) {
    throw new TypeError('message.to must be exactly one bare address (name@domain): no display name, no list, no group');
  }
  checkLine('message.subject', subject, MAX_SUBJECT_LENGTH);
  if (typeof text !== 'string') throw new TypeError('message.text must be a string');
  if (text.length > MAX_TEXT_LENGTH) throw new TypeError(`message.text must be at most ${MAX_TEXT_LENGTH} characters long`);
  return { to, subject, text };
}

/**
 * A header value must stay one line. nodemailer encodes headers anyway; refusing the line break
 * here makes header injection a loud programming error rather than something silently repaired.
 */
function checkLine(what: string, value: unknown, max: number): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
  if (LINE_BREAK.test(value)) throw new TypeError(`${what} must not contain CR or LF: a line break in a header could start another header`);
  if (CONTROL_CHARACTERS.test(value)) throw new TypeError(`${what} must not contain control characters`);
  if (value.length === 0 || value.length > max) throw new TypeError(`${what} must be 1–${max} characters long`);
}

function checkFrom(from: unknown): string {
  checkLine('from', from, MAX_FROM_LENGTH);
  const [first, ...rest] = addressparser(from);
  if (first?.address === undefined || rest.length > 0 || !isAddress(first.address)) {
    throw new TypeError('from must be one sender address, such as "Rampart <no-reply@example.com>"');
  }
  return from;
}

/** A bare `local@domain`: dot-atom local part, domain of letter-digit-hyphen labels. */
function isAddress(address: string): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0 || address.length > MAX_ADDRESS_LENGTH) return false;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (!LOCAL_PART.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return false;
  return domain.split('.').every((label) => DOMAIN_LABEL.test(label) && !label.startsWith('-') && !label.endsWith('-'));
}

/** nodemailer reads recipients with its own parser: it must see exactly the address checked here. */
function parsesAsOneAddress(value: string, address: string): boolean {
  const parsed = addressparser(value);
  return parsed.length === 1 && parsed[0]?.address === address;
}

interface SmtpServer {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  readonly user: string;
  readonly pass: string;
  readonly loopback: boolean;
  /** The URL for messages and logs, its password replaced. */
  readonly redacted: string;
}

function parseSmtpUrl(url: unknown): SmtpServer {
  if (typeof url !== 'string') throw new TypeError('url must be a string');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The unparsed text may be nothing but a password; it must not reach the message.
    throw new TypeError('url must be an smtp:// or smtps:// URL (it does not parse)');
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new TypeError(`url must be an smtp:// or smtps:// URL (got ${parsed.protocol})`);
  }
  if (parsed.hostname === '') throw new TypeError('url must name a host');
  // nodemailer would read query parameters as transport options (tls.rejectUnauthorized=false
  // among them); settings come from code, not from a URL.
  if (parsed.search !== '' || parsed.hash !== '' || (parsed.pathname !== '' && parsed.pathname !== '/')) {
    throw new TypeError('url must be scheme, credentials, host and port only: no path, query or fragment');
  }
  const secure = parsed.protocol === 'smtps:';
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  let user: string;
  let pass: string;
  try {
    user = decodeURIComponent(parsed.username);
    pass = decodeURIComponent(parsed.password);
  } catch {
    throw new TypeError('url credentials must be valid percent-encoded UTF-8');
  }
  if (pass !== '' && user === '') throw new TypeError('url has a password but no user name');
  if (parsed.password !== '') parsed.password = '***';
  return {
    host,
    port: parsed.port === '' ? (secure ? 465 : 587) : Number(parsed.port),
    secure,
    user,
    pass,
    loopback: isLoopback(host),
    redacted: parsed.toString(),
  };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  return isIP(host) !== 0 && ipaddr.process(host).range() === 'loopback';
}

const FAILURE_REASONS: Readonly<Record<string, string>> = Object.freeze({
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  EDNS: 'host lookup failed',
  ETLS: 'TLS negotiation failed',
  ESOCKET: 'socket error',
  ECONNECTION: 'connection failed',
  EPROTOCOL: 'unexpected server reply',
  EAUTH: 'the server refused the login',
  ENOAUTH: 'the server wants a login and the URL has none',
  EENVELOPE: 'the server refused the sender or the recipient',
  EMESSAGE: 'the server refused the message',
  EABORT: `no result within ${SEND_TIMEOUT_MS / 1000} s`,
  EACCES: 'permission denied',
  EEXIST: 'the file already exists',
  ENOENT: 'no such directory',
  ENOTDIR: 'a path component is not a directory',
  ENOSPC: 'no space left on the device',
  EROFS: 'read-only file system',
});
const SAFE_CODE = /^[A-Z][A-Z0-9_]{0,31}$/;
const SAFE_COMMAND = /^[A-Z][A-Z -]{0,31}$/;

/**
 * A reason built only from codes. Foreign messages are never copied: nodemailer appends the
 * server's reply, which may quote the recipient's address.
 */
function describeFailure(err: unknown): string {
  const fields = typeof err === 'object' && err !== null ? (err as Record<string, unknown>) : {};
  const codes = [fields.originalCode, fields.code].filter((code): code is string => typeof code === 'string' && SAFE_CODE.test(code));
  const reason = codes.map((code) => FAILURE_REASONS[code]).find((text) => text !== undefined) ?? 'failed';
  const details = [
    ...codes,
    typeof fields.responseCode === 'number' && Number.isInteger(fields.responseCode) ? `reply ${fields.responseCode}` : undefined,
    typeof fields.command === 'string' && SAFE_COMMAND.test(fields.command) ? `at ${fields.command}` : undefined,
  ].filter((detail) => detail !== undefined);
  return details.length === 0 ? reason : `${reason} (${[...new Set(details)].join(', ')})`;
}
