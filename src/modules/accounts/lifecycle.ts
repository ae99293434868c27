import type { FastifyInstance } from 'fastify';
import type { RouteRateLimit } from '../../security/rate-limit.js';
import type { RequestContext } from '../../kernel/http.js';
import { createAttemptLimiter } from '../../security/brute-force.js';
import type { BackgroundWork } from './background.js';
import { createDeviceRecognizer, type DeviceRecognizer } from './devices.js';
import { createEmailChanges, type EmailChanges } from './email-change.js';
import { ACCOUNT_ERR_TOO_MANY_REQUESTS } from './errors.js';
import type { LifecycleRepository } from './lifecycle-repository.js';
import { createNotifier, type Notify } from './notifications.js';
import type { AccountsRepository } from './repository.js';
import type { UserView } from './schemas.js';
import type { AccountsService } from './service.js';

/** Email changes per user (the API and the account page share it): each sends mail. */
export const EMAIL_CHANGES: RouteRateLimit = { name: 'email_changes', points: 5, windowSeconds: 3600, per: 'user', error: new ACCOUNT_ERR_TOO_MANY_REQUESTS(), spend: 'handler' };
/** Profile edits per user. */
export const PROFILE_UPDATES: RouteRateLimit = { name: 'profile_updates', points: 30, windowSeconds: 3600, per: 'user', error: new ACCOUNT_ERR_TOO_MANY_REQUESTS() };
/** Data exports per user: each reads every module's rows for the user. */
export const DATA_EXPORTS: RouteRateLimit = { name: 'account_exports', points: 3, windowSeconds: 3600, per: 'user', error: new ACCOUNT_ERR_TOO_MANY_REQUESTS() };

/** The account lifecycle beside the accounts service: email change, profile, notices, devices. */
export interface AccountLifecycle {
  readonly emailChanges: EmailChanges;
  /** Mails the owner a security notice; other modules call it (`app.accounts.notify(userId, 'second_factor_added', { via: 'totp' })`). */
  readonly notify: Notify;
  readonly devices: DeviceRecognizer;
  /** Renames the user (the registration's bounds); the profile, or null when the user is gone. */
  updateProfile(userId: string, input: { displayName: string }, ctx: RequestContext): Promise<UserView | null>;
}

/** What `app.accounts` is: the service and the lifecycle. */
export type Accounts = AccountsService & AccountLifecycle;

export function createLifecycle(app: FastifyInstance, options: { readonly repository: AccountsRepository; readonly lifecycle: LifecycleRepository; readonly service: AccountsService; readonly background: BackgroundWork; readonly notify: Notify }): AccountLifecycle {
  const { repository, lifecycle, service, background, notify } = options;
  const { store } = app;
  const emailChanges = createEmailChanges({
    repository, lifecycle, background, notify,
    keyring: app.keyring,
    passwords: app.passwords,
    mailer: app.mailer,
    sessions: app.sessions,
    publicUrl: app.config.publicUrl,
    confirmPassword: (user, password, ctx) => service.confirmPassword(user, password, ctx),
    tokenPerIp: createAttemptLimiter({ store, keyPrefix: 'bf:token-ip', points: 30, durationSeconds: 900, blockSeconds: 900 }),
    perAddress: createAttemptLimiter({ store, keyPrefix: 'bf:email-taken', points: 3, durationSeconds: 3600 }),
    revokeApiTokens: (userId, revoke) => app.identity.revokeCredentials(userId, revoke),
    userChanged: (userId) => app.userStates.changed(userId),
    sendResetLink: (userId, email) => { service.sendResetLink(userId, email); },
    toView: (user) => service.view(user),
    now: app.clock,
  });
  return {
    emailChanges,
    notify,
    devices: createDeviceRecognizer({ lifecycle, keyring: app.keyring, notify, secureCookies: app.config.sessions.secureCookies }),
    async updateProfile(userId, input, ctx) {
      if (!(await lifecycle.updateName(userId, input.displayName))) return null;
      await app.userStates.changed(userId);
      ctx.audit('user_updated', { actor: userId, details: { change: 'name' } });
      const user = await repository.findById(userId);
      return user === null ? null : service.view(user);
    },
  };
}

/** The notifier of the accounts module, with its quiet per-(user, kind) limit. */
export function createAccountNotifier(app: FastifyInstance, repository: AccountsRepository, background: BackgroundWork): Notify {
  return createNotifier({
    repository, background,
    keyring: app.keyring,
    mailer: app.mailer,
    publicUrl: app.config.publicUrl,
    perUserKind: createAttemptLimiter({ store: app.store, keyPrefix: 'notify', points: 5, durationSeconds: 3600 }),
    logger: app.log,
  });
}
