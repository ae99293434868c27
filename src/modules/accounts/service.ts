import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { Mailer, MailMessage } from '../../platform/mailer.js';
import type { StateStore } from '../../platform/store.js';
import type { AttemptLimiter, LoginThrottle } from '../../security/brute-force.js';
import { clientKey } from '../../security/client-ip.js';
import type { Keyring } from '../../security/keyring.js';
import type { PasswordHasher } from '../../security/password-hashing.js';
import type { PasswordPolicy } from '../../security/password-policy.js';
import type { DetailValue, SecurityEventName } from '../../security/security-events.js';
import type { Session, SessionManager } from '../../security/sessions.js';
import { duplicateRegistrationMail, resetMail, verificationMail } from './messages.js';
import type { AccountsRepository, Role, UserRecord } from './repository.js';
import type { UserView } from './schemas.js';
import { checkPolicy as checkPasswordPolicy, createUser as createUserRecord, emailIndex as userEmailIndex, toView, type UserDependencies, type WeakPassword } from './users.js';

export type { WeakPassword } from './users.js';

const VERIFY_TTL_MS = 24 * 60 * 60 * 1000;
const RESET_TTL_MS = 30 * 60 * 1000;
export const SETUP_TTL_MS = 60 * 60 * 1000;

/** Records a security event for the current request. */
export type Audit = (event: SecurityEventName, input?: { readonly actor?: string | null; readonly details?: Readonly<Record<string, DetailValue>> }) => void;

export interface RequestContext {
  readonly ip: string;
  readonly userAgent: string;
  readonly audit: Audit;
}

export interface AccountsServiceOptions {
  readonly repository: AccountsRepository;
  readonly keyring: Keyring;
  readonly passwords: PasswordHasher;
  readonly policy: PasswordPolicy;
  readonly loginThrottle: LoginThrottle;
  /** Reset requests per email (a quiet limit: over it, no mail is sent, the answer is unchanged). */
  readonly resetPerEmail: AttemptLimiter;
  /** Reset requests and token redemptions per client IP. */
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
}

export type Limited = { readonly ok: false; readonly reason: 'limited'; readonly retryAfterSeconds: number };
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
  const pendingMail = new Set<Promise<void>>();

  const deps: UserDependencies = { repository, keyring, passwords, policy };
  const emailIndex = (email: string) => userEmailIndex(keyring, email);
  const view = (user: UserRecord): UserView => toView(keyring, user);

  // Mail goes out in the background: the answer must not wait on SMTP, and must take the
  // same time whether or not a message was sent (that difference would reveal accounts).
  function runInBackground(work: () => Promise<void>): void {
    const running = work().catch((err: unknown) => {
      logger.error({ err }, 'background account work failed');
    });
    pendingMail.add(running);
    void running.finally(() => pendingMail.delete(running));
  }

  function sendInBackground(message: MailMessage): void {
    runInBackground(() => mailer.send(message));
  }

  const checkPolicy = (password: string, context: { email?: string; name?: string }): WeakPassword | null => checkPasswordPolicy(policy, password, context);

  async function issueToken(userId: string, purpose: 'verify_email' | 'reset_password', ttlMs: number): Promise<string> {
    const { token, hash } = oneTimeToken();
    await repository.insertToken({ tokenHash: hash, userId, purpose, expiresAt: new Date(Date.now() + ttlMs) });
    return token;
  }

  /** Verifies a signed-in user's password under the login throttle, so it is no oracle for guessing. */
  async function confirmPassword(user: UserRecord, password: string, ctx: RequestContext): Promise<'ok' | 'wrong' | Limited> {
    const decision = await loginThrottle.check(user.emailIndex, ctx.ip);
    if (!decision.allowed) {
      ctx.audit('authn_login_lock', { actor: user.id, details: { email_index: user.emailIndex, scope: decision.scope } });
      return { ok: false, reason: 'limited', retryAfterSeconds: decision.retryAfterSeconds };
    }
    // As at login: one check per (account, IP) at a time, so a stolen session cannot guess in parallel.
    const claim = await loginThrottle.claim(user.emailIndex, ctx.ip);
    if (claim === null) {
      ctx.audit('authn_login_lock', { actor: user.id, details: { email_index: user.emailIndex, scope: 'concurrent' } });
      return { ok: false, reason: 'limited', retryAfterSeconds: 1 };
    }
    try {
      if (decision.delayMs > 0) await sleep(decision.delayMs);
      if (await passwords.verify(user.passwordHash, password)) {
        await loginThrottle.recordSuccess(user.emailIndex, ctx.ip);
        return 'ok';
      }
      const failure = await loginThrottle.recordFailure(user.emailIndex, ctx.ip);
      if (failure.locked) ctx.audit('authn_login_lock', { actor: user.id, details: { email_index: user.emailIndex, scope: 'account_ip' } });
      if (failure.accountAlert) ctx.audit('authn_login_fail_max', { actor: user.id, details: { email_index: user.emailIndex } });
      return 'wrong';
    } finally {
      await claim.release();
    }
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
    const decision = await loginThrottle.check(index, ctx.ip);
    if (!decision.allowed) {
      ctx.audit('authn_login_lock', { details: { email_index: index, scope: decision.scope } });
      return { ok: false, reason: 'limited', retryAfterSeconds: decision.retryAfterSeconds };
    }
    // One password check per (account, IP) at a time and a few per client, so parallel guesses
    // cannot outrun the counts or fill the hashing queue.
    const claim = await loginThrottle.claim(index, ctx.ip);
    if (claim === null) {
      ctx.audit('authn_login_lock', { details: { email_index: index, scope: 'concurrent' } });
      return { ok: false, reason: 'limited', retryAfterSeconds: 1 };
    }
    let user: UserRecord | null;
    try {
      if (decision.delayMs > 0) await sleep(decision.delayMs);
      user = await repository.findByEmailIndex(index);
      const valid = user === null ? await passwords.verifyDummy(input.password) : await passwords.verify(user.passwordHash, input.password);
      // Unknown, wrong, disabled and not yet verified are one outcome: an unverified account
      // that could log in would tell a registrant whether the address was already taken.
      if (!valid || user === null || user.disabledAt !== null || user.emailVerifiedAt === null) {
        const failure = await loginThrottle.recordFailure(index, ctx.ip);
        ctx.audit('authn_login_fail', { details: { email_index: index } });
        if (failure.locked) ctx.audit('authn_login_lock', { details: { email_index: index, scope: 'account_ip' } });
        if (failure.accountAlert) ctx.audit('authn_login_fail_max', { details: { email_index: index } });
        return { ok: false, reason: 'invalid_credentials' };
      }
      await loginThrottle.recordSuccess(index, ctx.ip);
    } finally {
      await claim.release();
    }
    if (passwords.needsRehash(user.passwordHash)) {
      const passwordHash = await passwords.hash(input.password);
      await repository.updatePasswordHash(user.id, passwordHash);
      user = { ...user, passwordHash };
    }
    ctx.audit('authn_login_success', { actor: user.id, details: { email_index: index, ...details } });
    return { ok: true, user };
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

    /** The principal a session belongs to, or null when the user is gone or disabled. */
    async findPrincipal(userId: string): Promise<{ id: string; role: Role } | null> {
      const user = await repository.findById(userId);
      return user === null || user.disabledAt !== null ? null : { id: user.id, role: user.role };
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
      await repository.markEmailVerified(userId);
      return { ok: true };
    },

    /**
     * Checks an email and password under the brute-force throttle, as login does, without
     * starting a session (the API token endpoint). Same outcomes, same timing, same events.
     */
    checkCredentials,

    credentialsUnchanged,

    /** Logs in: {@link checkCredentials}, then a new session. */
    async login(input: { email: string; password: string }, ctx: RequestContext): Promise<{ ok: true; token: string; session: Session; user: UserView } | Limited | Invalid<'invalid_credentials'>> {
      const checked = await checkCredentials(input, ctx);
      if (!checked.ok) return checked;
      const { user } = checked;
      const { token, session } = await sessions.create(user.id, { ip: ctx.ip, userAgent: ctx.userAgent });
      // A reset that revoked every session while this login ran would have missed this one.
      if (!(await credentialsUnchanged(user))) {
        await sessions.revokeToken(token);
        return { ok: false, reason: 'invalid_credentials' };
      }
      ctx.audit('session_created', { actor: user.id });
      return { ok: true, token, session, user: view(user) };
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
          const user = await repository.findByEmailIndex(index);
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

    /** Resolves when every background mail has been handed to the mailer. */
    async flush(): Promise<void> {
      await Promise.all([...pendingMail]);
    },
  };
}

export type AccountsService = ReturnType<typeof createAccountsService>;
