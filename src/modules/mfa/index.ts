import { defineModule } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import { createAttemptLimiter, createLoginThrottle } from '../../security/brute-force.js';
import { MFA_ERRORS } from './errors.js';
import * as mfaTables from './migrations/0001-mfa.js';
import { createMfaRepository } from './repository.js';
import { mfaRoutes } from './routes.js';
import { createMfaService, type MfaService } from './service.js';
import type { MfaTables } from './tables.js';

declare module 'fastify' {
  interface FastifyInstance {
    mfa: MfaService;
  }
}

/**
 * Second factors: TOTP authenticator apps (RFC 6238) with recovery codes, the second step of
 * sign-in (pages, login API, password grant) and step-up by code. It provides the kernel's
 * second-factor seam (`identity.useSecondFactors`), which the login and token endpoints ask.
 */
export const mfaModule = defineModule({
  name: 'mfa',
  errors: MFA_ERRORS,
  dependencies: ['accounts', 'tokens'],
  migrations: [{ name: '0001-mfa', migration: mfaTables }],
  // The TOTP secret, bound to its user (service.ts: aad), re-encrypted by `rampart keys rotate-encryption`.
  encryptedColumns: [{ table: 'mfa_totp', keyColumn: 'user_id', column: 'secret_ciphertext', aad: { table: 'mfa_totp', column: 'secret' } }],
  async plugin(app) {
    const { store } = app;
    const repository = createMfaRepository(tablesOf<MfaTables>(app.database));
    const mfa = createMfaService({
      repository,
      keyring: app.keyring,
      store,
      throttle: createLoginThrottle({ store, keyPrefix: 'bf:mfa' }),
      // 30 code attempts per account per hour from all clients: 3 valid codes in 10^6 make a
      // guess succeed with odds of about 1 in 11 000 an hour, only for someone who already has
      // the password, and every failure is recorded.
      perAccount: createAttemptLimiter({ store, keyPrefix: 'bf:mfa-account', points: 30, durationSeconds: 3600 }),
      issuer: 'Rampart',
      findRole: async (userId) => (await app.accounts.findView(userId))?.role ?? null,
      notify: (userId, kind, details) => {
        app.accounts.notify(userId, kind, details);
      },
      logger: app.log,
      now: app.clock,
    });
    app.decorate('mfa', mfa);
    app.identity.useSecondFactors(mfa.provider);
    await app.register(mfaRoutes, { mfa });
    // RAMPART-W030: an administrator without a second factor (deploy checks read configuration
    // only, so this one runs at boot, against the database).
    app.addHook('onReady', async () => {
      if (app.config.mfa.required === 'off') return;
      try {
        const count = await mfa.adminsWithoutSecondFactor();
        if (count > 0) app.log.warn({ id: 'RAMPART-W030', setting: 'RAMPART_MFA_REQUIRED', admins: count }, `RAMPART-W030: ${String(count)} administrator(s) have no second factor; each must enrol one (/account/security) before their first admin action`);
      } catch (err) {
        app.log.warn({ err }, 'RAMPART-W030 could not be checked');
      }
    });
  },
});
