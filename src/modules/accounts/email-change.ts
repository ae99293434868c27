import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Mailer } from '../../platform/mailer.js';
import type { AttemptLimiter } from '../../security/brute-force.js';
import { clientKey } from '../../security/client-ip.js';
import type { Keyring } from '../../security/keyring.js';
import type { PasswordHasher } from '../../security/password-hashing.js';
import type { SessionManager } from '../../security/sessions.js';
import type { Limited, RequestContext } from '../../kernel/http.js';
import type { BackgroundWork } from './background.js';
import type { LifecycleRepository } from './lifecycle-repository.js';
import { emailChangeConfirmMail, emailChangedUndoMail, emailTakenMail } from './messages.js';
import type { Notify } from './notifications.js';
import type { AccountsRepository, UserRecord } from './repository.js';
import type { UserView } from './schemas.js';
import { emailAad, emailIndex } from './users.js';

/** The link to the new address works for a day; the undo link to the old one for a week. */
export const EMAIL_CONFIRM_TTL_MS = 24 * 60 * 60 * 1000;
export const EMAIL_UNDO_TTL_MS = 7 * 24 * 60 * 60 * 1000;

type Invalid<R extends string> = { readonly ok: false; readonly reason: R };

/** An email-change link's address is bound to the link's row, so it cannot be moved to another link or user. */
const linkAad = (id: string) => ({ table: 'email_change_tokens', column: 'email', rowId: id });
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export interface EmailChangeOptions {
  readonly repository: AccountsRepository;
  readonly lifecycle: LifecycleRepository;
  readonly keyring: Keyring;
  readonly passwords: PasswordHasher;
  readonly mailer: Mailer;
  readonly sessions: SessionManager;
  readonly background: BackgroundWork;
  readonly notify: Notify;
  readonly publicUrl: string;
  /** The password check of a signed-in user, under the login throttle (AccountsService.confirmPassword). */
  readonly confirmPassword: (user: UserRecord, password: string, ctx: RequestContext) => Promise<'ok' | 'wrong' | Limited>;
  /** Token redemptions per client IP (the accounts module's shared limiter). */
  readonly tokenPerIp: AttemptLimiter;
  /** Mails per address about a change it cannot take (quiet: the answer does not change). */
  readonly perAddress: AttemptLimiter;
  readonly revokeApiTokens: (userId: string, options: { readonly personal: boolean }) => Promise<void>;
  readonly userChanged: (userId: string) => Promise<void>;
  /** Mails a reset link to the restored address (AccountsService.sendResetLink). */
  readonly sendResetLink: (userId: string, email: string) => void;
  readonly toView: (user: UserRecord) => UserView;
  readonly now?: () => number;
}

/**
 * Changing the email address, in three steps. The request (signed in, password re-entered)
 * answers the same whatever the new address is; the link to the new address confirms it,
 * and only then does it take effect (address and blind index in one transaction), with a
 * link to the old address that undoes it for 7 days. An undo restores the old address,
 * ends every session and API token, locks the password (a random one nobody knows) and mails
 * a reset link to the restored address: whoever changed it may know the password.
 */
export function createEmailChanges(options: EmailChangeOptions) {
  const { repository, lifecycle, keyring, passwords, mailer, sessions, background, notify, publicUrl } = options;
  const now = options.now ?? Date.now;

  function issueLink(userId: string, purpose: 'confirm' | 'undo', email: string, ttlMs: number) {
    const token = randomBytes(32).toString('base64url');
    const id = randomUUID();
    return {
      token,
      row: { id, tokenHash: sha256(token), userId, purpose, emailCiphertext: keyring.encrypt(email, linkAad(id)), emailIndex: emailIndex(keyring, email), expiresAt: new Date(now() + ttlMs) },
    };
  }

  async function redeem(token: string, purpose: 'confirm' | 'undo', ctx: RequestContext): Promise<{ ok: true; userId: string; email: string; index: string; user: UserRecord } | Limited | Invalid<'invalid_token'>> {
    const limit = await options.tokenPerIp.consume(clientKey(ctx.ip));
    if (!limit.allowed) return { ok: false, reason: 'limited', retryAfterSeconds: limit.retryAfterSeconds };
    const link = await lifecycle.consumeEmailChange(sha256(token), purpose, new Date(now()));
    const user = link === null ? null : await repository.findById(link.userId);
    const email = link === null ? null : keyring.decryptString(link.emailCiphertext, linkAad(link.id));
    if (link === null || user === null || user.disabledAt !== null || email === null) {
      ctx.audit('authn_token_invalid', { details: { purpose: `email_${purpose}` } });
      return { ok: false, reason: 'invalid_token' };
    }
    return { ok: true, userId: link.userId, email, index: link.emailIndex, user };
  }

  async function refreshCache(userId: string): Promise<void> {
    try {
      await options.userChanged(userId);
    } catch {
      // Committed: only the cached profile is stale until its own reload (5 s at most).
    }
  }

  return {
    /**
     * Requests a change to `newEmail`. The answer is the same (accepted) whether the address is
     * free or another account's: the lookup and the mail happen after it. A free address gets a
     * confirmation link; a taken one, a note to its owner; the current address, a notice.
     */
    async request(userId: string, input: { newEmail: string; password?: string | undefined }, ctx: RequestContext): Promise<{ ok: true } | Limited | Invalid<'password_required' | 'wrong_password' | 'unchanged' | 'gone'>> {
      const user = await repository.findById(userId);
      if (user === null || user.disabledAt !== null) return { ok: false, reason: 'gone' };
      // The route also demands a fresh step-up proof; the password is asked again on top of it.
      if (input.password === undefined) return { ok: false, reason: 'password_required' };
      const confirmed = await options.confirmPassword(user, input.password, ctx);
      if (confirmed === 'wrong') return { ok: false, reason: 'wrong_password' };
      if (confirmed !== 'ok') return confirmed;
      const index = emailIndex(keyring, input.newEmail);
      if (index === user.emailIndex) return { ok: false, reason: 'unchanged' };
      ctx.audit('user_updated', { actor: userId, details: { change: 'email_change_requested' } });
      notify(userId, 'email_change_requested', { ip: ctx.ip, userAgent: ctx.userAgent });
      background.run(async () => {
        const holder = await repository.findByEmailIndex(index);
        if (holder !== null || (await lifecycle.isReserved(index, userId, new Date(now())))) {
          // Quiet: the requester sees nothing, and the owner hears of it at most a few times an hour.
          if ((await options.perAddress.consume(`taken:${index}`)).allowed) await mailer.send(emailTakenMail(input.newEmail, publicUrl));
          return;
        }
        // One pending change at a time: a new request spends the link of the earlier one.
        const link = issueLink(userId, 'confirm', input.newEmail, EMAIL_CONFIRM_TTL_MS);
        await lifecycle.replacePendingEmailChange({ ...link.row, purpose: 'confirm' });
        await mailer.send(emailChangeConfirmMail(input.newEmail, publicUrl, link.token));
      });
      return { ok: true };
    },

    /** Confirms a change through the link mailed to the new address; the old address gets the undo link. */
    async confirm(token: string, ctx: RequestContext): Promise<{ ok: true; userId: string } | Limited | Invalid<'invalid_token'>> {
      const link = await redeem(token, 'confirm', ctx);
      if (!link.ok) return link;
      const { user, email } = link;
      const oldEmail = options.toView(user).email;
      const undo = issueLink(user.id, 'undo', oldEmail, EMAIL_UNDO_TTL_MS);
      const changed = await lifecycle.changeEmail({ userId: user.id, emailCiphertext: keyring.encrypt(email, emailAad(user.id)), emailIndex: link.index, undo: undo.row });
      if (!changed) {
        // Registered by someone else since the request: the link is spent, nothing changed.
        ctx.audit('authn_token_invalid', { details: { purpose: 'email_confirm', reason: 'address_taken' } });
        return { ok: false, reason: 'invalid_token' };
      }
      await refreshCache(user.id);
      ctx.audit('user_updated', { actor: user.id, details: { change: 'email_changed' } });
      background.run(() => mailer.send(emailChangedUndoMail(oldEmail, publicUrl, undo.token)));
      return { ok: true, userId: user.id };
    },

    /**
     * Undoes a change through the link mailed to the old address: the old address comes back,
     * every session and API token ends, the password is replaced by a random one nobody knows,
     * and the restored address gets a reset link.
     */
    async undo(token: string, ctx: RequestContext): Promise<{ ok: true; userId: string } | Limited | Invalid<'invalid_token'>> {
      const link = await redeem(token, 'undo', ctx);
      if (!link.ok) return link;
      const { user, email } = link;
      const locked = await passwords.hash(randomBytes(32).toString('base64url'));
      const restored = await lifecycle.changeEmail({ userId: user.id, emailCiphertext: keyring.encrypt(email, emailAad(user.id)), emailIndex: link.index, passwordHash: locked });
      if (!restored) {
        ctx.audit('authn_token_invalid', { details: { purpose: 'email_undo', reason: 'address_taken' } });
        return { ok: false, reason: 'invalid_token' };
      }
      // Every other link of the account too: a later change's undo link went to an address the owner may not hold.
      await lifecycle.deleteEmailChanges(user.id);
      await refreshCache(user.id);
      const revoked = await sessions.revokeAll(user.id);
      await options.revokeApiTokens(user.id, { personal: true });
      ctx.audit('user_updated', { actor: user.id, details: { change: 'email_change_undone', sessions_revoked: revoked } });
      ctx.audit('authn_password_change', { actor: user.id, details: { via: 'email_change_undo', sessions_revoked: revoked } });
      options.sendResetLink(user.id, email);
      return { ok: true, userId: user.id };
    },
  };
}

export type EmailChanges = ReturnType<typeof createEmailChanges>;
