import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Mailer, MailMessage } from '../../platform/mailer.js';
import type { StateStore } from '../../platform/store.js';
import type { AttemptLimiter, LoginThrottle, RefusalScope } from '../../security/brute-force.js';
import { clientKey } from '../../security/client-ip.js';
import type { Keyring } from '../../security/keyring.js';
import type { PasswordHasher } from '../../security/password-hashing.js';
import type { PasswordPolicy } from '../../security/password-policy.js';
import type { DetailValue } from '../../security/security-events.js';
import type { Limited, RequestContext } from '../../kernel/http.js';
import type { SessionManager } from '../../security/sessions.js';
import { alreadyVerifiedMail, duplicateRegistrationMail, resetMail, verificationMail } from './messages.js';
import type { Role } from '../../security/authorization.js';
import type { AccountsRepository, UserRecord } from './repository.js';
import type { UserView } from './schemas.js';
import type { BackgroundWork } from './background.js';
import type { NoticeDetails } from './notifications.js';
import { checkPolicy as checkPasswordPolicy, createUser as createUserRecord, emailIndex as userEmailIndex, emailIndexes, toView, type UserDependencies, type WeakPassword } from './users.js';

export type { WeakPassword } from './users.js';

const VERIFY_TTL_MS = 24 * 60 * 60 * 1000;
const RESET_TTL_MS = 30 * 60 * 1000;
export const SETUP_TTL_MS = 60 * 60 * 1000;
// Attempts refused because the client already has checks in flight: one event per client per minute.
const CONCURRENT_REFUSAL_WINDOW_MS = 60 * 1000;


export interface AccountsServiceOptions {
  readonly repository: AccountsRepository;
  readonly keyring: Keyring;
  readonly passwords: PasswordHasher;
  readonly policy: PasswordPolicy;
  readonly loginThrottle: LoginThrottle;
  /** Reset requests per email (a quiet limit: over it, no mail is sent, the answer is unchanged). */
  readonly resetPerEmail: AttemptLimiter;
  /**
   * Confirmation links mailed per email after the registration's own (resend requests and
   * sign-ins to an unconfirmed account): a quiet limit, like resetPerEmail.
   */
  readonly verifyPerEmail: AttemptLimiter;
  /** Reset and resend requests and token redemptions per client IP. */
  readonly tokenPerIp: AttemptLimiter;
  /** Registrations per client IP (each runs the password policy on the event loop). */
  readonly registerPerIp: AttemptLimiter;
  readonly mailer: Mailer;
  readonly sessions: SessionManager;
  readonly store: StateStore;
  readonly publicUrl: string;
  readonly logger: FastifyBaseLogger;
  /**
   * Ends the user's API tokens (refresh families and outstanding access tokens; with
   * `personal`, personal access tokens too). Called wherever sessions are ended for security.
   */
  readonly revokeApiTokens?: (userId: string, options: { readonly personal: boolean }) => Promise<void>;
  /**
   * After a committed change to a user's row that the per-instance cache holds (the profile:
   * name, email, confirmation; the principal: role, state; the row's deletion): every instance
   * reloads the user on its next request (`UserStates.changed`).
   */
  readonly userChanged: (userId: string) => Promise<void>;
  /** Runs mail and account lookups after the answer (see background.ts). */
  readonly background: BackgroundWork;
  /** Mails the user a security notice (notifications.ts). */
  readonly notify?: (userId: string, kind: 'password_changed', details: NoticeDetails) => void;
}

type Invalid<R extends string> = { readonly ok: false; readonly reason: R };

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** 32 random bytes: the token (base64url) for the link, its SHA-256 for the database. */
function oneTimeToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: sha256(token) };
}

/** The accounts service: registration, login, recovery and account management. */
export function createAccountsService(options: AccountsServiceOptions) {
  const { repository, keyring, passwords, policy, loginThrottle, mailer, sessions, publicUrl, logger } = options;
  const revokeApiTokens = options.revokeApiTokens ?? (() => Promise.resolve());
  const { userChanged, background } = options;
  const notify = options.notify ?? (() => undefined);

  const deps: UserDependencies = { repository, keyring, passwords, policy };
  const emailIndex = (email: string) => userEmailIndex(keyring, email);
  const lookupIndexes = (email: string) => emailIndexes(keyring, email);
  const view = (user: UserRecord): UserView => toView(keyring, user);
  const runInBackground = (work: () => Promise<void>): void => { background.run(work); };

  function sendInBackground(message: MailMessage): void {
    runInBackground(() => mailer.send(message));
  }

  const checkPolicy = (password: string, context: { email?: string; name?: string }): WeakPassword | null => checkPasswordPolicy(policy, password, context);

  async function issueToken(userId: string, purpose: 'verify_email' | 'reset_password', ttlMs: number): Promise<string> {
    const { token, hash } = oneTimeToken();
    await repository.insertToken({ tokenHash: hash, userId, purpose, expiresAt: new Date(Date.now() + ttlMs) });
    return token;
  }

  /**
   * Records a refused attempt: the first of its block (or, for checks already in flight, of
   * its minute) per client, not every request of a flood, as the global rate limit does.
   */
  async function auditRefusal(ctx: RequestContext, scope: RefusalScope, index: string, windowMs: number, actor?: string): Promise<void> {
    if (!(await loginThrottle.firstRefusal(scope, index, ctx.ip, windowMs))) return;
    ctx.audit('authn_login_lock', { ...(actor === undefined ? {} : { actor }), details: { email_index: index, scope } });
  }

  /**
   * Mails the account of `index` a new confirmation link, or, when its address is already
   * confirmed, a note saying so; nothing for an unknown or disabled account. It runs after the
   * answer (see runInBackground) and under the quiet per-email limit, so neither what the
   * requester sees nor how long it takes depends on whether, or which, mail goes out.
   */
  function sendConfirmationLater(address: string): void {
    const index = emailIndex(address);
    runInBackground(async () => {
      if (!(await options.verifyPerEmail.consume(index)).allowed) return;
      const user = await repository.findByEmailIndex(lookupIndexes(address));
      if (user === null || user.disabledAt !== null) return;
      const email = view(user).email;
      if (user.emailVerifiedAt !== null) {
        await mailer.send(alreadyVerifiedMail(email, publicUrl));
        return;
      }
      const token = await issueToken(user.id, 'verify_email', VERIFY_TTL_MS);
      await mailer.send(verificationMail(email, publicUrl, token));
    });
  }

  /** Marks the address confirmed (by the mailed link, or by a reset through the mailed link) and spends the other confirmation links. */
  async function confirmAddress(userId: string, via: 'link' | 'password_reset', ctx: RequestContext): Promise<void> {
    await repository.markEmailVerified(userId);
    await repository.deleteTokens(userId, 'verify_email');
    ctx.audit('user_updated', { actor: userId, details: { change: 'email_verified', via } });
    try {
      await userChanged(userId);
    } catch (err) {
      // The link is spent and the address confirmed: a 503 could not be retried. Only the
      // profile shown is stale, until the cache's own reload (5 s at most); login reads the row.
      logger.warn({ err, userId }, 'email confirmed, but the cached profile could not be invalidated');
    }
  }

  /**
   * The throttle sequence of every password check, login or confirmation alike: a blocked
   * (account, IP) pair or client is refused before the password is looked at, and so is a
   * second check of the pair while one is in flight (a burst of parallel guesses); the first
   * refusal of each is recorded. Then the alert delay, then `attempt`: a failure is counted,
   * `onFailure` records it, and a lock or an account alert it caused is recorded; a success
   * resets the pair's consecutive failures.
   */
  async function throttled(index: string, ctx: RequestContext, actor: string | undefined, attempt: () => Promise<boolean>, onFailure: () => void): Promise<'ok' | 'failed' | Limited> {
    const decision = await loginThrottle.check(index, ctx.ip);
    if (!decision.allowed) {
      await auditRefusal(ctx, decision.scope, index, decision.retryAfterSeconds * 1_000, actor);
      return { ok: false, reason: 'limited', retryAfterSeconds: decision.retryAfterSeconds };
    }
    // One password check per (account, IP) at a time and a few per client, so parallel guesses
    // cannot outrun the counts or fill the hashing queue.
    const claim = await loginThrottle.claim(index, ctx.ip);
    if (claim === null) {
      await auditRefusal(ctx, 'concurrent', index, CONCURRENT_REFUSAL_WINDOW_MS, actor);
      return { ok: false, reason: 'limited', retryAfterSeconds: 1 };
    }
    try {
      if (decision.delayMs > 0) await sleep(decision.delayMs);
      if (await attempt()) {
        await loginThrottle.recordSuccess(index, ctx.ip);
        return 'ok';
      }
      const failure = await loginThrottle.recordFailure(index, ctx.ip);
      onFailure();
      const who = actor === undefined ? {} : { actor };
      if (failure.locked) ctx.audit('authn_login_lock', { ...who, details: { email_index: index, scope: 'account_ip' } });
      if (failure.accountAlert) ctx.audit('authn_login_fail_max', { ...who, details: { email_index: index } });
      return 'failed';
    } finally {
      await claim.release();
    }
  }

  /** Verifies a signed-in user's password under the login throttle, so it is no oracle for guessing. */
  async function confirmPassword(user: UserRecord, password: string, ctx: RequestContext): Promise<'ok' | 'wrong' | Limited> {
    const outcome = await throttled(user.emailIndex, ctx, user.id, () => passwords.verify(user.passwordHash, password), () => undefined);
    return outcome === 'failed' ? 'wrong' : outcome;
  }

  /**
   * Checks an email and password. Unknown email, wrong password, disabled and unverified
   * account are one outcome, and an unknown email verifies a dummy hash so it costs the same
   * time. A blocked attempt is refused before the password is looked at.
   */
  async function checkCredentials(
    input: { email: string; password: string },
    ctx: RequestContext,
    details: Readonly<Record<string, DetailValue>> = {},
  ): Promise<{ ok: true; user: UserRecord } | Limited | Invalid<'invalid_credentials'>> {
    const index = emailIndex(input.email);
    let user: UserRecord | null = null;
    let unconfirmed = false;
    const outcome = await throttled(index, ctx, undefined, async () => {
      user = await repository.findByEmailIndex(lookupIndexes(input.email));
      const valid = user === null ? await passwords.verifyDummy(input.password) : await passwords.verify(user.passwordHash, input.password);
      // Unknown, wrong, disabled and not yet verified are one outcome, with the same answer, the
      // same failure count and the same time. Even "verify your email first", shown only for the
      // right password, would be an oracle: anyone may register an address with a password of
      // their choosing (the answer is the same whether or not it was taken), then sign in with
      // it; "verify first" would mean the registration created the account, "incorrect" that
      // the address already had one. Counting no failure would leak the same through the lock
      // that the 6th failure brings. So the answer says both possibilities, and the right
      // password for an unconfirmed account mails a new confirmation link, which only the
      // address's owner reads (after the answer, under the quiet per-email limit).
      unconfirmed = valid && user !== null && user.disabledAt === null && user.emailVerifiedAt === null;
      return valid && user !== null && user.disabledAt === null && user.emailVerifiedAt !== null;
    }, () => {
      ctx.audit('authn_login_fail', { details: { email_index: index, ...(unconfirmed ? { reason: 'email_unverified' } : {}) } });
      if (unconfirmed) sendConfirmationLater(input.email);
    });
    if (outcome !== 'ok') return outcome === 'failed' ? { ok: false, reason: 'invalid_credentials' } : outcome;
    let signedIn = user as UserRecord | null;
    if (signedIn === null) return { ok: false, reason: 'invalid_credentials' };
    if (passwords.needsRehash(signedIn.passwordHash)) {
      const passwordHash = await passwords.hash(input.password);
      await repository.updatePasswordHash(signedIn.id, passwordHash);
      signedIn = { ...signedIn, passwordHash };
    }
    ctx.audit('authn_login_success', { actor: signedIn.id, details: { email_index: index, ...details } });
    return { ok: true, user: signedIn };
  }

  /**
   * True while `user` still has the password hash it was checked against and is not disabled:
   * a caller that creates credentials after a password check asks again once they exist, so a
   * reset racing the sign-in cannot leave the old password's holder signed in.
   */
  async function credentialsUnchanged(user: UserRecord): Promise<boolean> {
    const current = await repository.findById(user.id);
    return current !== null && current.disabledAt === null && current.passwordHash === user.passwordHash;
  }

  const createUser = (input: { name: string; email: string; password: string; role: Role; verified: boolean }) => createUserRecord(deps, input);

  return {
    view,
    createUser,

    async findView(userId: string): Promise<UserView | null> {
      const user = await repository.findById(userId);
      return user === null || user.disabledAt !== null ? null : view(user);
    },

    /**
     * Registers an account. An address that is already registered gets the same answer and
     * a mail to its owner instead, so registration reveals nothing about who has an account.
     */
    async register(input: { name: string; email: string; password: string }, ctx: RequestContext): Promise<{ ok: true; id: string; name: string; email: string } | WeakPassword | Limited> {
      // The policy check (zxcvbn) is CPU on the event loop: registrations per client are bounded.
      const limit = await options.registerPerIp.consume(clientKey(ctx.ip));
      if (!limit.allowed) return { ok: false, reason: 'limited', retryAfterSeconds: limit.retryAfterSeconds };
      const created = await createUser({ ...input, role: 'author', verified: false });
      if (!created.ok && created.reason === 'weak_password') return created;
      if (created.ok) {
        const token = await issueToken(created.user.id, 'verify_email', VERIFY_TTL_MS);
        sendInBackground(verificationMail(input.email, publicUrl, token));
        ctx.audit('user_created', { actor: created.user.id, details: { role: 'author' } });
        return { ok: true, id: created.user.id, name: input.name, email: input.email };
      }
      // A quiet limit, so registration cannot be used to flood an owner's inbox.
      if ((await options.resetPerEmail.consume(`dup:${emailIndex(input.email)}`)).allowed) sendInBackground(duplicateRegistrationMail(input.email, publicUrl));
      return { ok: true, id: randomUUID(), name: input.name, email: input.email };
    },

    async verifyEmail(token: string, ctx: RequestContext): Promise<{ ok: true } | Limited | Invalid<'invalid_token'>> {
      const limit = await options.tokenPerIp.consume(clientKey(ctx.ip));
      if (!limit.allowed) return { ok: false, reason: 'limited', retryAfterSeconds: limit.retryAfterSeconds };
      const userId = await repository.consumeToken(sha256(token), 'verify_email', new Date());
      if (userId === null) {
        ctx.audit('authn_token_invalid', { details: { purpose: 'verify_email' } });
        return { ok: false, reason: 'invalid_token' };
      }
      await confirmAddress(userId, 'link', ctx);
      return { ok: true };
    },

    /**
     * Mails a new confirmation link to an account whose address is not confirmed yet. Always
     * "accepted", as a reset request is: the same answer and the same work in the request
     * for an unknown, an unconfirmed and a confirmed address (see sendConfirmationLater).
     */
    async resendVerification(email: string, ctx: RequestContext): Promise<{ ok: true } | Limited> {
      const perIp = await options.tokenPerIp.consume(clientKey(ctx.ip));
      if (!perIp.allowed) return { ok: false, reason: 'limited', retryAfterSeconds: perIp.retryAfterSeconds };
      sendConfirmationLater(email);
      return { ok: true };
    },

    /**
     * Checks an email and password under the brute-force throttle, as login does, without
     * starting a session (the API token endpoint). Same outcomes, same timing, same events.
     */
    checkCredentials,

    credentialsUnchanged,

    /** Verifies a signed-in user's password under the login throttle (for re-authentication before a sensitive change). */
    confirmPassword,

    /** An opaque fingerprint of a user's current credentials (SHA-256 of the password hash), carried by a sign-in's second step. */
    credentialsFingerprint(user: UserRecord): string {
      return sha256(`${user.id}:${user.passwordHash}`);
    },

    /** True while the user is active and still has the credentials `fingerprint` was taken from (no reset, no password change since). */
    async credentialsStillMatch(userId: string, fingerprint: string): Promise<boolean> {
      const current = await repository.findById(userId);
      return current !== null && current.disabledAt === null && current.emailVerifiedAt !== null && sha256(`${current.id}:${current.passwordHash}`) === fingerprint;
    },

    /**
     * Re-checks a signed-in user's password (step-up), under the login throttle so it is no
     * oracle for guessing; a wrong one is recorded as `authn_step_up_fail`.
     */
    async confirmPresence(userId: string, password: string, ctx: RequestContext): Promise<'ok' | 'wrong' | 'gone' | Limited> {
      const user = await repository.findById(userId);
      if (user === null || user.disabledAt !== null) return 'gone';
      const confirmed = await confirmPassword(user, password, ctx);
      if (confirmed === 'wrong') ctx.audit('authn_step_up_fail', { actor: user.id, details: { method: 'password' } });
      return confirmed;
    },

    /**
     * Checks a sign-in ({@link checkCredentials}). The caller starts the session
     * (`reply.startSession`) and passes it `stillValid`, which a password reset racing this
     * sign-in turns false.
     */
    async login(input: { email: string; password: string }, ctx: RequestContext): Promise<{ ok: true; user: UserView; fingerprint: string; stillValid: () => Promise<boolean> } | Limited | Invalid<'invalid_credentials'>> {
      const checked = await checkCredentials(input, ctx);
      if (!checked.ok) return checked;
      const { user } = checked;
      return { ok: true, user: view(user), fingerprint: sha256(`${user.id}:${user.passwordHash}`), stillValid: () => credentialsUnchanged(user) };
    },

    /** Ends every other session, and the user's refresh tokens and outstanding access tokens. */
    async revokeOtherSignIns(userId: string, exceptSessionToken: string | null): Promise<number> {
      const revoked = await sessions.revokeAll(userId, { exceptToken: exceptSessionToken ?? undefined });
      await revokeApiTokens(userId, { personal: false });
      return revoked;
    },

    /** Always "accepted": whether a mail went out is never visible to the requester. */
    async requestPasswordReset(email: string, ctx: RequestContext): Promise<{ ok: true } | Limited> {
      const perIp = await options.tokenPerIp.consume(clientKey(ctx.ip));
      if (!perIp.allowed) return { ok: false, reason: 'limited', retryAfterSeconds: perIp.retryAfterSeconds };
      const index = emailIndex(email);
      const perEmail = await options.resetPerEmail.consume(index);
      // Everything that depends on whether the account exists happens after the answer, so
      // the answer's timing is the same for every address.
      if (perEmail.allowed) {
        runInBackground(async () => {
          const user = await repository.findByEmailIndex(lookupIndexes(email));
          if (user === null || user.disabledAt !== null) return;
          const token = await issueToken(user.id, 'reset_password', RESET_TTL_MS);
          await mailer.send(resetMail(email, publicUrl, token));
        });
      }
      return { ok: true };
    },

    async confirmPasswordReset(input: { token: string; password: string }, ctx: RequestContext): Promise<{ ok: true } | Limited | WeakPassword | Invalid<'invalid_token'>> {
      const limit = await options.tokenPerIp.consume(clientKey(ctx.ip));
      if (!limit.allowed) return { ok: false, reason: 'limited', retryAfterSeconds: limit.retryAfterSeconds };
      const tokenHash = sha256(input.token);
      const holder = await repository.peekToken(tokenHash, 'reset_password', new Date());
      const user = holder === null ? null : await repository.findById(holder);
      if (user === null || user.disabledAt !== null) {
        ctx.audit('authn_token_invalid', { details: { purpose: 'reset_password' } });
        return { ok: false, reason: 'invalid_token' };
      }
      // The policy is checked before the token is spent, so a rejected password keeps the link usable.
      const weak = checkPolicy(input.password, { email: view(user).email, name: user.name });
      if (weak !== null) return weak;
      if ((await repository.consumeToken(tokenHash, 'reset_password', new Date())) !== user.id) return { ok: false, reason: 'invalid_token' };
      await repository.updatePasswordHash(user.id, await passwords.hash(input.password));
      await repository.deleteTokens(user.id, 'reset_password');
      const revoked = await sessions.revokeAll(user.id);
      await revokeApiTokens(user.id, { personal: true });
      ctx.audit('authn_password_change', { actor: user.id, details: { via: 'reset', sessions_revoked: revoked } });
      notify(user.id, 'password_changed', { ip: ctx.ip, userAgent: ctx.userAgent, via: 'reset' });
      // The link came through this address's mailbox, as a confirmation link does: proof enough.
      // And the password is now the mailbox owner's, so an account someone else registered
      // with this address (and their password) before the owner did is the owner's now.
      if (user.emailVerifiedAt === null) await confirmAddress(user.id, 'password_reset', ctx);
      return { ok: true };
    },

    /** Changes the password, ends every other session and renews the current one. */
    async changePassword(userId: string, currentToken: string, input: { currentPassword: string; newPassword: string }, ctx: RequestContext): Promise<{ ok: true; token: string } | Limited | WeakPassword | Invalid<'wrong_password' | 'gone'>> {
      const user = await repository.findById(userId);
      if (user === null) return { ok: false, reason: 'gone' };
      const confirmed = await confirmPassword(user, input.currentPassword, ctx);
      if (confirmed === 'wrong') {
        ctx.audit('authn_password_change_fail', { actor: user.id });
        return { ok: false, reason: 'wrong_password' };
      }
      if (confirmed !== 'ok') return confirmed;
      const weak = checkPolicy(input.newPassword, { email: view(user).email, name: user.name });
      if (weak !== null) return weak;
      await repository.updatePasswordHash(user.id, await passwords.hash(input.newPassword));
      // Reset links issued before the change would otherwise still set a password for 30 minutes.
      await repository.deleteTokens(user.id, 'reset_password');
      const revoked = await sessions.revokeAll(user.id, { exceptToken: currentToken });
      await revokeApiTokens(user.id, { personal: true });
      const renewed = await sessions.rotate(currentToken, { ip: ctx.ip, userAgent: ctx.userAgent });
      if (renewed === null) return { ok: false, reason: 'gone' };
      ctx.audit('authn_password_change', { actor: user.id, details: { via: 'change', sessions_revoked: revoked } });
      notify(user.id, 'password_changed', { ip: ctx.ip, userAgent: ctx.userAgent, via: 'change' });
      ctx.audit('session_renewed', { actor: user.id, details: { cause: 'password_change' } });
      return { ok: true, token: renewed.token };
    },

    async deleteAccount(userId: string, password: string, ctx: RequestContext): Promise<{ ok: true } | Limited | Invalid<'wrong_password' | 'gone' | 'last_admin'>> {
      const user = await repository.findById(userId);
      if (user === null) return { ok: false, reason: 'gone' };
      const confirmed = await confirmPassword(user, password, ctx);
      if (confirmed === 'wrong') return { ok: false, reason: 'wrong_password' };
      if (confirmed !== 'ok') return confirmed;
      // The last administrator would leave nobody able to manage the others.
      if ((await repository.deleteUser(user.id)) === 'last_admin') return { ok: false, reason: 'last_admin' };
      await userChanged(user.id);
      await sessions.revokeAll(user.id);
      // The rows went with the user; this also refuses the access tokens still in flight.
      await revokeApiTokens(user.id, { personal: true });
      ctx.audit('user_deleted', { actor: user.id });
      return { ok: true };
    },

    /** A one-time setup token for the first administrator, stored only as SHA-256, valid 1 h. */
    async issueSetupToken(): Promise<string | null> {
      if (await repository.hasActiveAdmin()) return null;
      const { token, hash } = oneTimeToken();
      await options.store.set(`setup:${hash}`, '1', { ttlMs: SETUP_TTL_MS });
      return token;
    },

    async setupAdministrator(input: { token: string; name: string; email: string; password: string }, ctx: RequestContext): Promise<{ ok: true; user: UserView } | WeakPassword | Invalid<'invalid_token' | 'email_taken'>> {
      // Spend the token first (atomically): a second request with it fails whatever happens next.
      const spent = await options.store.take(`setup:${sha256(input.token)}`);
      if (spent === null || (await repository.hasActiveAdmin())) {
        ctx.audit('authn_token_invalid', { details: { purpose: 'setup' } });
        return { ok: false, reason: 'invalid_token' };
      }
      const created = await createUser({ ...input, role: 'admin', verified: true });
      if (!created.ok) {
        // Give the token back so a typo in the password does not force a restart.
        await options.store.set(`setup:${sha256(input.token)}`, '1', { ttlMs: SETUP_TTL_MS });
        return created;
      }
      ctx.audit('user_created', { actor: created.user.id, details: { role: 'admin', via: 'setup' } });
      return { ok: true, user: view(created.user) };
    },

    /** Mails `email` (the user's address) a password-reset link, after the answer. */
    sendResetLink(userId: string, email: string): void {
      runInBackground(async () => {
        const token = await issueToken(userId, 'reset_password', RESET_TTL_MS);
        await mailer.send(resetMail(email, publicUrl, token));
      });
    },

    /** Resolves when every background mail has been handed to the mailer. */
    flush: () => background.flush(),
  };
}

export type AccountsService = ReturnType<typeof createAccountsService>;
