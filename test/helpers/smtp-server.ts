import { once } from 'node:events';
import { SMTPServer } from 'smtp-server';

/** One message as the test SMTP server received it. */
export interface ReceivedMail {
  /** The envelope sender (MAIL FROM), `''` for a null sender. */
  readonly from: string;
  /** The envelope recipients (RCPT TO). */
  readonly to: string[];
  /** The message exactly as transferred (headers and encoded body). */
  readonly raw: string;
  /** The Subject header, unfolded and with RFC 2047 encoded words decoded. */
  readonly subject: string;
  /** The body with its transfer encoding undone and line ends as `\n`. */
  readonly text: string;
}

export interface TestSmtpServer {
  readonly port: number;
  /** `smtp://127.0.0.1:<port>` */
  readonly url: string;
  /** Every message received so far, oldest first. */
  readonly messages: ReceivedMail[];
  /** The first message, received or still to come, that `predicate` accepts; rejects after `timeoutMs` (default 5 000). */
  waitFor(predicate: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

export interface TestSmtpServerOptions {
  /** Answer every AUTH with 535, to exercise a refused login. By default any login is accepted. */
  readonly rejectLogins?: boolean;
}

// Account mail is a few KiB; the cap only keeps a runaway test from filling the heap.
const MAX_MESSAGE_BYTES = 1024 * 1024;
const DEFAULT_WAIT_MS = 5_000;

/**
 * A real SMTP server (the smtp-server package) on an ephemeral port of 127.0.0.1. Plain SMTP
 * only: STARTTLS is not offered, logins are optional (and allowed without TLS). It keeps every
 * message it receives, parsed well enough to read a subject and a plain-text body.
 */
export async function startSmtpServer(options: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const messages: ReceivedMail[] = [];
  const waiters = new Set<(mail: ReceivedMail) => void>();

  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    size: MAX_MESSAGE_BYTES,
    logger: false,
    // Connections a test left open (a mailer's pool) must not hold close() for the default 30 s.
    closeTimeout: 500,
    onAuth(auth, _session, callback) {
      if (options.rejectLogins === true) {
        callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
        return;
      }
      callback(null, { user: auth.username ?? '' });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', callback);
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          callback(Object.assign(new Error('Message too large for the test server'), { responseCode: 552 }));
          return;
        }
        const { mailFrom, rcptTo } = session.envelope;
        const mail: ReceivedMail = {
          from: mailFrom === false ? '' : mailFrom.address,
          to: rcptTo.map((recipient) => recipient.address),
          ...parseMessage(Buffer.concat(chunks)),
        };
        messages.push(mail);
        for (const waiter of [...waiters]) waiter(mail);
        callback(null);
      });
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  const address = server.server.address();
  if (address === null || typeof address === 'string') throw new Error('the SMTP server has no TCP address');

  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    url: `smtp://127.0.0.1:${address.port}`,
    messages,
    waitFor(predicate, timeoutMs = DEFAULT_WAIT_MS) {
      const found = messages.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const stop = (): void => {
          clearTimeout(timer);
          waiters.delete(waiter);
        };
        const timer = setTimeout(() => {
          stop();
          reject(new Error(`no matching mail within ${timeoutMs} ms (${messages.length} received)`));
        }, timeoutMs);
        const waiter = (mail: ReceivedMail): void => {
          try {
            if (!predicate(mail)) return;
            stop();
            resolve(mail);
          } catch (err) {
            stop();
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        };
        waiters.add(waiter);
      });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
      return closing;
    },
  };
}

/**
 * Reads the Subject and the body of a single-part message (all the mailer sends): undoes
 * header folding, RFC 2047 encoded words, and a quoted-printable or base64 body.
 */
export function parseMessage(message: Buffer): { raw: string; subject: string; text: string } {
  // latin1 maps each byte to one character, so byte offsets survive until the body is decoded.
  const bytes = message.toString('latin1');
  const separator = /\r?\n\r?\n/.exec(bytes);
  const head = separator === null ? bytes : bytes.slice(0, separator.index);
  const body = separator === null ? '' : bytes.slice(separator.index + separator[0].length);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n(?=[ \t])/g, '').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const charset = /charset="?([\w-]+)"?/i.exec(headers.get('content-type') ?? '')?.[1] ?? 'utf-8';
  let decoded: Buffer;
  if (encoding === 'quoted-printable') decoded = decodeQuotedPrintable(body);
  else if (encoding === 'base64') decoded = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  else decoded = Buffer.from(body, 'latin1');
  return {
    raw: message.toString('utf8'),
    subject: decodeEncodedWords(headers.get('subject') ?? ''),
    text: decodeCharset(decoded, charset).replace(/\r\n/g, '\n'),
  };
}

/** RFC 2045 §6.7: `=` at a line end is a soft break, `=XX` one byte. */
function decodeQuotedPrintable(input: string): Buffer {
  const joined = input.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i += 1) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(joined.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** RFC 2047: `=?charset?B|Q?text?=`, with the white space between adjacent words dropped. */
function decodeEncodedWords(value: string): string {
  return value.replace(/(\?=)\s+(?==\?)/g, '$1').replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_word, charset: string, kind: string, text: string) => {
    const bytes =
      kind.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64')
        : decodeQuotedPrintable(text.replace(/_/g, ' '));
    return decodeCharset(bytes, charset);
  });
}

function decodeCharset(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}
