import type { FastifyBaseLogger } from 'fastify';
import type { Mailer, MailMessage } from '../../platform/mailer.js';
import type { AttemptLimiter } from '../../security/brute-force.js';
import type { Keyring } from '../../security/keyring.js';
import type { BackgroundWork } from './background.js';
import type { AccountsRepository } from './repository.js';
import { emailAad } from './users.js';

/**
 * What a security notice is about. `second_factor_added`, `second_factor_removed` and
 * `recovery_code_used` are for the modules that hold second factors (they call
 * `app.accounts.notify`).
 */
export const NOTICE_KINDS = [
  'new_sign_in', 'password_changed', 'email_change_requested', 'account_locked',
  'second_factor_added', 'second_factor_removed', 'recovery_code_used',
] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** What a notice may say about the event; every value is shortened and kept on one line. */
export interface NoticeDetails {
  readonly ip?: string | null;
  readonly userAgent?: string;
  /** How it happened: `change`, `reset`, `password`, `token`, or the kind of second factor (`totp`, `passkey`). */
  readonly via?: string;
}

/** Mails the owner of an account about something that happened to it. */
export type Notify = (userId: string, kind: NoticeKind, details?: NoticeDetails) => void;

const SUBJECTS: Readonly<Record<NoticeKind, string>> = {
  new_sign_in: 'New sign-in to your account',
  password_changed: 'Your password was changed',
  email_change_requested: 'A change of your email address was requested',
  account_locked: 'Sign-ins to your account were blocked',
  second_factor_added: 'A second factor was added to your account',
  second_factor_removed: 'A second factor was removed from your account',
  recovery_code_used: 'A recovery code of your account was used',
};

const LEADS: Readonly<Record<NoticeKind, string>> = {
  new_sign_in: 'Your Rampart account was signed in to from a device it had not seen before.',
  password_changed: 'The password of your Rampart account was changed, and every other session was signed out.',
  email_change_requested: 'Someone signed in to your Rampart account asked to change its email address. The change takes effect only once the new address confirms it; you will then get a link to undo it.',
  account_locked: 'Several wrong passwords were tried for your Rampart account, so sign-ins from that client are blocked for a while. Your password still works from your own devices.',
  second_factor_added: 'A second factor was added to your Rampart account.',
  second_factor_removed: 'A second factor was removed from your Rampart account.',
  recovery_code_used: 'A recovery code of your Rampart account was used to confirm a sign-in or an action. Each code works once: make new ones on the two-step verification page when few are left.',
};

// Control characters (a line break in a User-Agent) become spaces: each fact stays on its line.
const oneLine = (value: string, max: number) => value.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').slice(0, max);

/** The notice's text. Links come from the configured public URL, never from a request. */
export function noticeMail(to: string, publicUrl: string, kind: NoticeKind, details: NoticeDetails, at: Date): MailMessage {
  const facts = [`When: ${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`];
  if (details.ip !== undefined && details.ip !== null && details.ip !== '') facts.push(`From: ${oneLine(details.ip, 64)}`);
  if (details.userAgent !== undefined && details.userAgent !== '') facts.push(`Browser or client: ${oneLine(details.userAgent, 160)}`);
  if (details.via !== undefined) facts.push(`How: ${oneLine(details.via, 32)}`);
  return {
    to,
    subject: SUBJECTS[kind],
    text: `${LEADS[kind]}\n\n${facts.join('\n')}\n\nIf this was you, there is nothing to do.\nIf it was not you, choose a new password at ${publicUrl}/forgot-password and review your sessions at ${publicUrl}/account.\n`,
  };
}

/**
 * The notifier: looks the user's current address up (decrypted only here), and mails the
 * notice after the answer, under a quiet per-(user, kind) limit so that nobody can flood an
 * inbox by failing sign-ins. Never throws at its caller; a disabled or deleted user gets nothing.
 */
export function createNotifier(options: { readonly repository: AccountsRepository; readonly keyring: Keyring; readonly mailer: Mailer; readonly publicUrl: string; readonly background: BackgroundWork; readonly perUserKind: AttemptLimiter; readonly logger: FastifyBaseLogger; readonly now?: () => number }): Notify {
  const { repository, keyring, mailer, publicUrl, background, perUserKind } = options;
  const now = options.now ?? Date.now;
  return (userId, kind, details = {}) => {
    if (!(NOTICE_KINDS as readonly string[]).includes(kind)) throw new TypeError(`unknown notice kind "${kind}"`);
    const at = new Date(now());
    background.run(async () => {
      if (!(await perUserKind.consume(`${userId}:${kind}`)).allowed) return;
      const user = await repository.findAccess(userId);
      if (user === null || user.disabledAt !== null) return;
      const email = keyring.decryptString(user.emailCiphertext, emailAad(user.id));
      if (email === null) return;
      await mailer.send(noticeMail(email, publicUrl, kind, details, at));
    });
  };
}
