import type { Keyring } from '../../security/keyring.js';
import type { PrincipalUser } from '../../security/authentication.js';
import type { AccountsRepository } from './repository.js';
import type { UserView } from './schemas.js';
import { emailAad } from './users.js';

/** A signed-in user as the per-instance cache keeps it: the principal, and the profile behind it. */
export interface AccountPrincipal extends PrincipalUser {
  /** The user's profile; the email is decrypted on the first call only (most requests never ask). */
  view(): UserView;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Loads a user for authentication: one row without the password hash or the email's blind
 * index, null when the user is gone or disabled. The cache of user states (user-states.ts)
 * calls it once per user and version on each instance.
 */
export function createPrincipalLoader(options: { readonly repository: AccountsRepository; readonly keyring: Keyring }): (userId: string) => Promise<AccountPrincipal | null> {
  const { repository, keyring } = options;
  return async (userId) => {
    // User ids are UUIDs; anything else could only fail the uuid cast in PostgreSQL.
    if (!UUID.test(userId)) return null;
    const user = await repository.findAccess(userId);
    if (user === null || user.disabledAt !== null) return null;
    let view: UserView | undefined;
    return Object.freeze({
      id: user.id,
      role: user.role,
      view(): UserView {
        if (view !== undefined) return view;
        const email = keyring.decryptString(user.emailCiphertext, emailAad(user.id));
        if (email === null) throw new Error(`the email of user ${user.id} does not decrypt`);
        view = Object.freeze({ id: user.id, name: user.name, email, role: user.role, emailVerified: user.emailVerifiedAt !== null, createdAt: user.createdAt.toISOString() });
        return view;
      },
    });
  };
}

/** The profile of the request's own user from what authentication loaded, or null when it loaded none. */
export function loadedView(loaded: PrincipalUser | null, userId: string): UserView | null {
  if (loaded === null || loaded.id !== userId || !('view' in loaded) || typeof loaded.view !== 'function') return null;
  return (loaded as AccountPrincipal).view();
}
