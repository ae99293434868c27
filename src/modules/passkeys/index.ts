import { defineModule } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import { createLoginThrottle } from '../../security/brute-force.js';
import { PASSKEY_ERRORS } from './errors.js';
import * as passkeysTables from './migrations/0001-passkeys.js';
import { createPasskeysRepository } from './repository.js';
import { passkeysRoutes } from './routes.js';
import { createPasskeysService, relyingParty, type PasskeysService } from './service.js';
import type { PasskeysTables } from './tables.js';

declare module 'fastify' {
  interface FastifyInstance {
    passkeys: PasskeysService;
  }
}

/**
 * Passkeys (WebAuthn): several named passkeys per account, registered by a signed-in user, and
 * passwordless sign-in with them. `app.passkeys.verifyAssertion` serves any other ceremony that
 * needs proof of a passkey (a second factor, a step-up).
 */
export const passkeysModule = defineModule({
  name: 'passkeys',
  errors: PASSKEY_ERRORS,
  dependencies: ['accounts'],
  migrations: [{ name: '0001-passkeys', migration: passkeysTables }],
  async plugin(app) {
    const passkeys = createPasskeysService({
      repository: createPasskeysRepository(tablesOf<PasskeysTables>(app.database)),
      store: app.store,
      relyingParty: relyingParty(app.config.publicOrigin, app.loopbackOrigins),
      // The login throttle's own keys: an IP's passkey and password failures count together.
      throttle: createLoginThrottle({ store: app.store }),
      async findActiveUser(userId) {
        const user = await app.accounts.findView(userId);
        // Like password sign-in: a disabled account or an unconfirmed address cannot sign in.
        return user === null || !user.emailVerified ? null : { id: user.id, name: user.name, email: user.email };
      },
      findRole: async (userId) => (await app.accounts.findView(userId))?.role ?? null,
      notify: (userId, kind, details) => {
        app.accounts.notify(userId, kind, details);
      },
      logger: app.log,
    });
    app.decorate('passkeys', passkeys);
    // A passkey is a second factor and a step-up proof: the mfa module (registered before) asks here.
    if (app.hasDecorator('mfa')) {
      app.mfa.useFactor({
        method: 'passkey',
        enrolled: passkeys.hasPasskey,
        options: (purpose, binding, userId) => passkeys.authenticationOptions(purpose, binding, userId),
        verify: (purpose, binding, userId, proof, ctx) => passkeys.verifyFor(purpose, binding, userId, proof, ctx),
      });
    }
    await app.register(passkeysRoutes, { passkeys });
  },
});
