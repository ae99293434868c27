import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  createOutboxMailer,
  createSmtpMailer,
  type Mailer,
  type MailerLogger,
  type MailMessage,
} from '../../src/platform/mailer.js';
import { MAIL_ERR_UNAVAILABLE } from '../../src/platform/errors.js';
import { parseMessage, startSmtpServer, type TestSmtpServer } from '../helpers/smtp-server.js';

const FROM = 'Rampart <no-reply@rampart.test>';

interface CapturedLogger extends MailerLogger {
  readonly lines: { level: string; obj: object; msg: string }[];
  /** Everything the logger received, serialized, to scan for secrets. */
  text(): string;
}

function captureLogger(): CapturedLogger {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const at = (level: string) => (obj: object, msg: string) => {
    lines.push({ level, obj, msg });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), text: () => inspect(lines, { depth: null }) };
}

/** A message shaped like account mail: a link with a one-time token, long enough to be folded. */
function tokenMail(to = 'ada@example.com'): { message: MailMessage; token: string } {
  const token = randomBytes(32).toString('base64url');
  const link = `https://rampart.example/verify-email?token=${token}&continue=${'/account/settings'.repeat(4)}`;
  return {
    token,
    message: { to, subject: 'Confirm your email address', text: `Welcome to Rampart.\n\nOpen this link within 24 hours:\n\n${link}\n\nIgnore this message if it was not you.\n` },
  };
}

function isCoded(code: string): (err: unknown) => boolean {
  return (err) => err instanceof Error && (err as Error & { code?: unknown }).code === code;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => {
      assert.ok(err instanceof Error);
      return err;
    },
  );
}

const HEADER_INJECTIONS: readonly (readonly [string, Partial<MailMessage>])[] = [
  ['CRLF in the subject', { subject: 'Hello\r\nBcc: victim@example.com' }],
  ['LF in the subject', { subject: 'Hello\nBcc: victim@example.com' }],
  ['CR in the subject', { subject: 'Hello\rBcc: victim@example.com' }],
  ['CRLF in the recipient', { to: 'ada@example.com\r\nBcc: victim@example.com' }],
  ['LF in the recipient', { to: 'ada@example.com\nvictim@example.com' }],
];

const NOT_ONE_ADDRESS: readonly string[] = [
  'ada@example.com, victim@example.com',
  'ada@example.com; victim@example.com',
  'ada@example.com victim@example.com',
  'Ada <ada@example.com>',
  'friends: ada@example.com, victim@example.com;',
  'ada@example.com (comment)',
  '"quoted"@example.com',
  'ada@@example.com',
  'ada',
  '@example.com',
  'ada@',
  '',
];

describe('SMTP mailer against a real SMTP server', () => {
  let smtp: TestSmtpServer;
  let mailer: Mailer | undefined;
  before(async () => {
    smtp = await startSmtpServer();
  });
  after(() => smtp.close());
  afterEach(async () => {
    await mailer?.close();
    mailer = undefined;
  });

  it('delivers a message whose subject and long token link survive the transfer encoding', async () => {
    mailer = createSmtpMailer({ url: smtp.url, from: FROM });
    assert.equal(mailer.kind, 'smtp');
    const { message, token } = tokenMail('deliver@example.com');
    await mailer.send(message);

    const mail = await smtp.waitFor((m) => m.to.includes('deliver@example.com'));
    assert.equal(mail.from, 'no-reply@rampart.test');
    assert.deepEqual(mail.to, ['deliver@example.com']);
    assert.equal(mail.subject, message.subject);
    assert.match(mail.raw, /^From: Rampart <no-reply@rampart\.test>\r$/m);
    // The link line is longer than 76 characters, so it travelled quoted-printable with soft breaks.
    assert.match(mail.raw, /^Content-Transfer-Encoding: quoted-printable\r$/m);
    assert.ok(!mail.raw.includes(`token=${token}&continue`), 'the raw message folds the link');
    assert.equal(mail.text, message.text);
    assert.ok(mail.text.includes(`token=${token}&`));
  });

  it('delivers non-ASCII subjects and text as encoded words and a decodable body', async () => {
    mailer = createSmtpMailer({ url: smtp.url, from: FROM });
    const message = { to: 'unicode@example.com', subject: 'Bestätigen Sie Ihre Adresse ✓', text: 'Grüße — 你好 — 🔐\n' };
    await mailer.send(message);
    const mail = await smtp.waitFor((m) => m.to.includes('unicode@example.com'));
    assert.match(mail.raw, /^Subject: =\?UTF-8\?/m);
    assert.equal(mail.subject, message.subject);
    assert.equal(mail.text, message.text);
  });

  it('logs the message id and never the text or the SMTP password, even when logging in', async () => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const logger = captureLogger();
    const url = new URL(smtp.url);
    url.username = 'mailer';
    url.password = password;
    mailer = createSmtpMailer({ url: url.toString(), from: FROM, logger });
    const { message, token } = tokenMail('logged@example.com');
    await mailer.send(message);
    const mail = await smtp.waitFor((m) => m.to.includes('logged@example.com'));
    assert.ok(mail.text.includes(token));

    const sent = logger.lines.find((line) => line.msg === 'Mail sent');
    assert.ok(sent !== undefined, 'a line records the send');
    assert.match(String((sent.obj as { messageId?: unknown }).messageId), /^<.+@rampart\.test>$/);
    const logged = logger.text();
    for (const secret of [password, token, message.text, 'logged@example.com']) {
      assert.ok(!logged.includes(secret), `the logs must not contain ${secret}`);
    }
  });

  for (const [name, change] of HEADER_INJECTIONS) {
    it(`refuses ${name} with a TypeError and sends nothing`, async () => {
      mailer = createSmtpMailer({ url: smtp.url, from: FROM });
      const before = smtp.messages.length;
      const err = await rejection(mailer.send({ ...tokenMail().message, ...change }));
      assert.ok(err instanceof TypeError);
      assert.match(err.message, /CR or LF/);
      assert.ok(!err.message.includes('victim'), 'the message names the field, not its value');
      // A valid message sent afterwards is the only one that arrives: nothing was smuggled out.
      await mailer.send({ to: 'after-injection@example.com', subject: 'after', text: 'after\n' });
      await smtp.waitFor((m) => m.to.includes('after-injection@example.com'));
      assert.equal(smtp.messages.length, before + 1);
      assert.ok(!smtp.messages.some((m) => m.to.includes('victim@example.com')));
    });
  }

  it('accepts only one bare address as the recipient', async () => {
    mailer = createSmtpMailer({ url: smtp.url, from: FROM });
    const before = smtp.messages.length;
    for (const to of NOT_ONE_ADDRESS) {
      const err = await rejection(mailer.send({ to, subject: 'Hello', text: 'Hello\n' }));
      assert.ok(err instanceof TypeError, `${JSON.stringify(to)} is refused`);
    }
    await mailer.send({ to: 'jörg@bücher.example', subject: 'Hello', text: 'Hello\n' });
    await smtp.waitFor((m) => m.subject === 'Hello');
    assert.equal(smtp.messages.length, before + 1);
  });

  it('refuses to send in clear when TLS is required and the server offers no STARTTLS', async () => {
    mailer = createSmtpMailer({ url: smtp.url, from: FROM, requireTls: true });
    const before = smtp.messages.length;
    const err = await rejection(mailer.send(tokenMail('tls@example.com').message));
    assert.ok(isCoded('MAIL_ERR_UNAVAILABLE')(err));
    assert.ok(err.cause instanceof Error);
    assert.match(err.cause.message, /at STARTTLS/);
    assert.equal(smtp.messages.length, before);
  });

  it('closes idempotently, and a send after close rejects with MAIL_ERR_UNAVAILABLE', async () => {
    const closing = createSmtpMailer({ url: smtp.url, from: FROM });
    await closing.send({ to: 'before-close@example.com', subject: 'before close', text: 'x\n' });
    await Promise.all([closing.close(), closing.close()]);
    await closing.close();
    const err = await rejection(closing.send({ to: 'after-close@example.com', subject: 'after close', text: 'x\n' }));
    assert.ok(isCoded('MAIL_ERR_UNAVAILABLE')(err));
  });
});

describe('SMTP mailer failures', () => {
  it('rejects quickly with MAIL_ERR_UNAVAILABLE when the server is unreachable, and names no password', async () => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const logger = captureLogger();
    const mailer = createSmtpMailer({ url: `smtp://mailer:${password}@127.0.0.1:1`, from: FROM, logger });
    try {
      const { message, token } = tokenMail();
      const started = performance.now();
      const err = await rejection(mailer.send(message));
      const elapsed = performance.now() - started;

      assert.ok(err instanceof MAIL_ERR_UNAVAILABLE);
      assert.equal((err as Error & { statusCode?: unknown }).statusCode, 503);
      assert.equal(err.message, 'The mail service is unavailable');
      assert.ok(err.cause instanceof Error, 'the cause is attached');
      assert.match(err.cause.message, /connection refused/);
      assert.match(err.cause.message, /smtp:\/\/mailer:\*\*\*@127\.0\.0\.1:1/);
      assert.ok(elapsed < 5_000, `rejected after ${Math.round(elapsed)} ms`);
      const reported = inspect(err, { depth: null }) + logger.text();
      for (const secret of [password, token, message.text]) assert.ok(!reported.includes(secret));
      assert.ok(logger.lines.some((line) => line.level === 'warn' && /connection refused/.test(inspect(line.obj))));
    } finally {
      await mailer.close();
    }
  });

  it('rejects with MAIL_ERR_UNAVAILABLE when the server refuses the login, without the password or its encoding', async () => {
    const smtp = await startSmtpServer({ rejectLogins: true });
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const logger = captureLogger();
    const mailer = createSmtpMailer({ url: `smtp://mailer:${password}@127.0.0.1:${smtp.port}`, from: FROM, logger });
    try {
      const err = await rejection(mailer.send(tokenMail().message));
      assert.ok(isCoded('MAIL_ERR_UNAVAILABLE')(err));
      assert.ok(err.cause instanceof Error);
      assert.match(err.cause.message, /refused the login.*EAUTH.*reply 535/);
      const reported = inspect(err, { depth: null }) + logger.text();
      // AUTH PLAIN carries the password base64-encoded; neither form may surface.
      const plain = Buffer.from(`\0mailer\0${password}`).toString('base64');
      for (const secret of [password, plain, Buffer.from(password).toString('base64')]) assert.ok(!reported.includes(secret));
      assert.equal(smtp.messages.length, 0);
    } finally {
      await mailer.close();
      await smtp.close();
    }
  });

  it('checks the URL and the From address when it is created, without echoing a password', () => {
    const bad: readonly { url?: string; from?: string }[] = [
      { url: 'not a url s3cret-one' },
      { url: 'http://user:s3cret-one@mail.example.com' },
      { url: 'smtp://user:s3cret-one@mail.example.com/path' },
      { url: 'smtp://user:s3cret-one@mail.example.com?tls.rejectUnauthorized=false' },
      { url: 'smtp://:s3cret-one@mail.example.com' },
      { from: 'not an address' },
      { from: 'a@example.com, b@example.com' },
      { from: 'Rampart <no-reply@example.com>\r\nBcc: victim@example.com' },
      { from: 'group: a@example.com;' },
      { from: '' },
    ];
    for (const { url = 'smtp://mail.example.com', from = FROM } of bad) {
      assert.throws(
        () => createSmtpMailer({ url, from }),
        (err: unknown) => err instanceof TypeError && !err.message.includes('s3cret-one'),
        `${url} / ${from}`,
      );
    }
    // A display name, a bare address and a single-label development domain are all fine.
    for (const from of [FROM, 'no-reply@rampart.test', 'Rampart <no-reply@localhost.localdomain>', '"Rampart, Inc." <no-reply@rampart.test>']) {
      void createSmtpMailer({ url: 'smtps://user:pw@mail.example.com', from }).close();
    }
  });

  it('warns at creation when STARTTLS is turned off for a remote server', async () => {
    const logger = captureLogger();
    const remote = createSmtpMailer({ url: 'smtp://user:s3cret-two@mail.example.com', from: FROM, logger, requireTls: false });
    const local = createSmtpMailer({ url: 'smtp://127.0.0.1:2525', from: FROM, logger });
    await Promise.all([remote.close(), local.close()]);
    assert.deepEqual(
      logger.lines.map((line) => [line.level, /STARTTLS is not required/.test(line.msg)]),
      [['warn', true]],
    );
    assert.ok(!logger.text().includes('s3cret-two'));
  });
});

describe('outbox mailer', () => {
  let root: string;
  let directory: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'rampart-outbox-'));
    directory = join(root, 'data', 'outbox');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  /** The `.eml` files; each has a `.txt` companion of the same name. */
  async function files(): Promise<string[]> {
    const names = (await readdir(directory)).sort();
    const eml = names.filter((name) => name.endsWith('.eml'));
    assert.deepEqual(names.filter((name) => !name.endsWith('.eml')), eml.map((name) => name.replace(/\.eml$/, '.txt')), 'one .txt beside each .eml');
    return eml;
  }

  it('writes a real RFC 5322 message, mode 0600, in a directory only its owner can enter', async () => {
    const mailer = createOutboxMailer({ directory, from: FROM });
    assert.equal(mailer.kind, 'outbox');
    const { message, token } = tokenMail('outbox@example.com');
    await mailer.send(message);
    await mailer.close();

    const names = await files();
    assert.equal(names.length, 1);
    assert.match(names[0]!, /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z-[0-9a-f]{16}\.eml$/);
    const path = join(directory, names[0]!);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(directory)).mode & 0o777, 0o700);

    const bytes = await readFile(path);
    const raw = bytes.toString('utf8');
    assert.ok(!/[^\r]\n/.test(raw), 'every line ends with CRLF');
    for (const header of ['From: Rampart <no-reply@rampart.test>', 'To: outbox@example.com', 'Subject: Confirm your email address', 'MIME-Version: 1.0']) {
      assert.ok(raw.startsWith(`${header}\r\n`) || raw.includes(`\r\n${header}\r\n`), header);
    }
    assert.match(raw, /^Message-ID: <.+@rampart\.test>\r$/m);
    assert.match(raw, /^Date: .+\r$/m);
    const parsed = parseMessage(bytes);
    assert.equal(parsed.subject, message.subject);
    assert.equal(parsed.text, message.text);
    assert.ok(parsed.text.includes(token));
  });

  it('writes a plain-text companion whose link can be copied as is (no quoted-printable =3D or soft breaks)', async () => {
    const logger = captureLogger();
    const mailer = createOutboxMailer({ directory, from: FROM, logger });
    const { message, token } = tokenMail('copy@example.com');
    await mailer.send(message);
    await mailer.close();
    const [name] = await files();
    const eml = await readFile(join(directory, name!), 'utf8');
    const link = /https:\/\/\S+/.exec(message.text)?.[0] ?? '';
    assert.ok(link.length > 80 && link.includes('='), 'the link is long and carries = signs');
    assert.ok(!eml.includes(link), 'the .eml does not hold the link as written (quoted-printable)');
    const txtPath = join(directory, name!.replace(/\.eml$/, '.txt'));
    assert.equal((await stat(txtPath)).mode & 0o777, 0o600);
    const txt = await readFile(txtPath, 'utf8');
    assert.equal(txt, `To: copy@example.com\nSubject: Confirm your email address\n\n${message.text}`);
    assert.ok(txt.split('\n').includes(link), 'the link stands on a line of its own, unchanged');
    assert.ok(!txt.includes('=3D') && txt.includes(token));
    const written = logger.lines.find((line) => 'textPath' in line.obj);
    assert.equal((written?.obj as { textPath?: unknown } | undefined)?.textPath, txtPath);
  });

  it('writes one new file per send and never overwrites one', async () => {
    const mailer = createOutboxMailer({ directory, from: FROM });
    const { message } = tokenMail();
    await mailer.send(message);
    await mailer.send(message);
    assert.equal((await files()).length, 2);
    await Promise.all(Array.from({ length: 20 }, () => mailer.send(message)));
    await mailer.close();
    const names = await files();
    assert.equal(names.length, 22);
    assert.equal(new Set(names).size, 22);
  });

  it('tightens an existing directory to 0700', async () => {
    await mkdir(directory, { recursive: true, mode: 0o755 });
    const mailer = createOutboxMailer({ directory, from: FROM });
    await mailer.send(tokenMail().message);
    await mailer.close();
    assert.equal((await stat(directory)).mode & 0o777, 0o700);
  });

  it('logs the file path and never the body', async () => {
    const logger = captureLogger();
    const mailer = createOutboxMailer({ directory, from: FROM, logger });
    const { message, token } = tokenMail('private@example.com');
    await mailer.send(message);
    await mailer.close();

    const names = await files();
    assert.equal(names.length, 1);
    const written = logger.lines.filter((line) => line.level === 'info' && 'path' in line.obj);
    assert.equal(written.length, 1);
    assert.equal((written[0]?.obj as { path?: unknown }).path, join(directory, names[0]!));
    const logged = logger.text();
    for (const secret of [token, message.text, 'private@example.com']) assert.ok(!logged.includes(secret));
  });

  for (const [name, change] of HEADER_INJECTIONS) {
    it(`refuses ${name} with a TypeError and writes nothing`, async () => {
      const mailer = createOutboxMailer({ directory, from: FROM });
      const err = await rejection(mailer.send({ ...tokenMail().message, ...change }));
      await mailer.close();
      assert.ok(err instanceof TypeError);
      await assert.rejects(readdir(directory), { code: 'ENOENT' });
    });
  }

  it('refuses a recipient list', async () => {
    const mailer = createOutboxMailer({ directory, from: FROM });
    for (const to of NOT_ONE_ADDRESS) {
      await assert.rejects(mailer.send({ to, subject: 'Hello', text: 'Hello\n' }), TypeError);
    }
    await mailer.close();
  });

  it('rejects with MAIL_ERR_UNAVAILABLE when the directory cannot be created, and recovers when it can', async () => {
    await writeFile(join(root, 'data'), 'a file where the directory should be');
    const mailer = createOutboxMailer({ directory, from: FROM });
    const err = await rejection(mailer.send(tokenMail().message));
    assert.ok(isCoded('MAIL_ERR_UNAVAILABLE')(err));
    assert.ok(err.cause instanceof Error);
    assert.match(err.cause.message, /ENOTDIR|EEXIST/);

    await rm(join(root, 'data'));
    await mailer.send(tokenMail().message);
    assert.equal((await files()).length, 1);
    await mailer.close();
  });

  it('closes idempotently, and a send after close rejects with MAIL_ERR_UNAVAILABLE', async () => {
    const mailer = createOutboxMailer({ directory, from: FROM });
    await Promise.all([mailer.close(), mailer.close()]);
    await assert.rejects(mailer.send(tokenMail().message), isCoded('MAIL_ERR_UNAVAILABLE'));
  });

  it('checks the directory and the From address when it is created', () => {
    assert.throws(() => createOutboxMailer({ directory: '', from: FROM }), TypeError);
    assert.throws(() => createOutboxMailer({ directory, from: 'a@example.com, b@example.com' }), TypeError);
  });
});
