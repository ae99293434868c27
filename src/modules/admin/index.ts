import { defineModule } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import { createCursorCodec, cursorKeys } from '../../security/cursors.js';
import type { AdminDatabase } from './repository.js';
import { createAdminRepository } from './repository.js';
import { adminRoutes } from './routes.js';
import type { AdminRoutesOptions } from './user-changes.js';
import { ADMIN_ERRORS } from './errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** What the admin API and the admin page share, so both change users the same way. */
    admin: Omit<AdminRoutesOptions, 'now'>;
  }
}

/** Administration: users, their roles and state, and the security event log. Administrators only. */
export const adminModule = defineModule({
  name: 'admin',
  errors: ADMIN_ERRORS,
  dependencies: ['accounts', 'tokens'],
  subjects: ['User', 'SecurityEvent'],
  scopes: { admin: 'admin' },
  abilities({ can }, principal) {
    if (principal?.role !== 'admin') return;
    can(['read', 'manage'], 'User');
    can('read', 'SecurityEvent');
  },
  async plugin(app) {
    const keys = cursorKeys(app.keyring);
    const admin = {
      repository: createAdminRepository(tablesOf<AdminDatabase>(app.database)),
      keyring: app.keyring,
      userCursors: createCursorCodec({ ...keys, kind: 'users' }),
      eventCursors: createCursorCodec({ ...keys, kind: 'security-events' }),
      // The change's transaction already ended the user's API tokens (admin/repository.ts);
      // what is left lives in the shared store, and is repeated when an administrator retries.
      revokeAccess: async (userId: string) => {
        // The committed change reaches every instance's cached principal first, whatever follows.
        await app.userStates.changed(userId);
        await app.sessions.revokeAll(userId);
      },
    };
    app.decorate('admin', admin);
    // The access-token cutoff is written with the change: on the clock tokens are issued by.
    await app.register(adminRoutes, { ...admin, now: () => new Date(app.clock()) });
  },
});
