import { defineModule } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import { createAttemptLimiter, createLoginThrottle } from '../../security/brute-force.js';
import * as accountsTables from './migrations/0001-accounts.js';
import * as lifecycleTables from './migrations/0002-account-lifecycle.js';
import { createBackgroundWork } from './background.js';
import { accountsExport } from './export.js';
import { createLifecycleRepository } from './lifecycle-repository.js';
import { createAccountNotifier, createLifecycle, type Accounts } from './lifecycle.js';
import { lifecycleRoutes } from './lifecycle-routes.js';
import { createPrincipalLoader } from './principal.js';
import { createAccountsRepository } from './repository.js';
import { accountsRoutes } from './routes.js';
import { createAccountsService } from './service.js';
import type { AccountsTables } from './tables.js';
import { ACCOUNT_ERRORS } from './errors.js';
import { EMAIL_INDEX, emailAad } from './users.js';

declare module 'fastify' {
  interface FastifyInstance {
    accounts: Accounts;
  }
}

/**
 * Accounts: registration, confirmation, sign-in and sign-out, recovery, sessions, the first
 * administrator, and the lifecycle (email change, profile, security notices, data export). It
 * provides the kernel's principals (who a session's user is, and in which role).
 */
export const accountsModule = defineModule({
  name: 'accounts',
  errors: ACCOUNT_ERRORS,
  migrations: [
    { name: '0001-accounts', migration: accountsTables, replaces: '0002-accounts' },
    { name: '0002-account-lifecycle', migration: lifecycleTables },
  ],
  scopes: { 'account:read': 'author', 'account:write': 'author' },
  exportData: accountsExport,
  // The address: encrypted, bound to its user's row, found through its blind index.
  encryptedColumns: [
    { table: 'users', keyColumn: 'id', column: 'email_ciphertext', aad: { table: emailAad('').table, column: emailAad('').column }, blindIndex: { column: 'email_index', purpose: EMAIL_INDEX } },
    // A pending email change's new address (email-change.ts binds it as email_change_tokens/email).
    { table: 'email_change_tokens', keyColumn: 'id', column: 'email_ciphertext', aad: { table: 'email_change_tokens', column: 'email' }, blindIndex: { column: 'email_index', purpose: EMAIL_INDEX } },
  ],
  async plugin(app) {
    const { store } = app;
    const db = tablesOf<AccountsTables>(app.database);
    const repository = createAccountsRepository(db);
    const background = createBackgroundWork(app.log);
    const notify = createAccountNotifier(app, repository, background);
    app.identity.usePrincipals(createPrincipalLoader({ repository, keyring: app.keyring }));
    const service = createAccountsService({
      repository,
      keyring: app.keyring,
      passwords: app.passwords,
      policy: app.passwordPolicy,
      loginThrottle: createLoginThrottle({ store }),
      // A quiet limit: over it no reset mail is sent, and the answer stays 202.
      resetPerEmail: createAttemptLimiter({ store, keyPrefix: 'bf:reset-email', points: 3, durationSeconds: 3600 }),
      // The same for confirmation links mailed again (resend, a sign-in to an unconfirmed account).
      verifyPerEmail: createAttemptLimiter({ store, keyPrefix: 'bf:verify-email', points: 3, durationSeconds: 3600 }),
      tokenPerIp: createAttemptLimiter({ store, keyPrefix: 'bf:token-ip', points: 30, durationSeconds: 900, blockSeconds: 900 }),
      registerPerIp: createAttemptLimiter({ store, keyPrefix: 'bf:register-ip', points: 20, durationSeconds: 3600 }),
      mailer: app.mailer,
      sessions: app.sessions,
      store,
      publicUrl: app.config.publicUrl,
      logger: app.log,
      revokeApiTokens: (userId, options) => app.identity.revokeCredentials(userId, options),
      userChanged: (userId) => app.userStates.changed(userId),
      background,
      notify,
    });
    const lifecycle = createLifecycle(app, { repository, lifecycle: createLifecycleRepository(db), service, background, notify });
    const accounts: Accounts = Object.freeze({ ...service, ...lifecycle });
    app.decorate('accounts', accounts);
    // A lock of an account's sign-ins mails its owner; the kernel records the event and knows no module.
    app.securityEvents.subscribe('authn_login_lock', (entry) => {
      const index = entry.details.email_index;
      if (typeof index !== 'string') return;
      background.run(async () => {
        const user = await repository.findByEmailIndex(index);
        if (user !== null) notify(user.id, 'account_locked', { ip: entry.clientIp });
      });
    });
    await app.register(accountsRoutes, { service: accounts });
    await app.register(lifecycleRoutes, { accounts });
  },
});
