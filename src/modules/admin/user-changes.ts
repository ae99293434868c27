import type { FastifyRequest } from 'fastify';
import type { CursorCodec } from '../../security/cursors.js';
import type { Keyring } from '../../security/keyring.js';
import { RAMPART_ERR_UNAVAILABLE } from '../../security/errors.js';
import type { AdminRepository, AdminUserRecord } from './repository.js';

/** What the admin API and the admin page share (the web module reads it from `app.admin`). */
export interface AdminRoutesOptions {
  readonly repository: AdminRepository;
  readonly keyring: Keyring;
  readonly userCursors: CursorCodec;
  readonly eventCursors: CursorCodec;
  /** Ends every session and API token of a user whose privileges changed, on every instance. */
  readonly revokeAccess: (userId: string) => Promise<void>;
  readonly now?: () => Date;
}

export interface UserChangeOptions {
  readonly repository: AdminRepository;
  /**
   * After a committed change (whose transaction already ended the user's API tokens, see
   * `AdminRepository.changeUser`): every instance reloads the user, and every session ends.
   * Repeatable: it runs again on an administrator's retry.
   */
  readonly revokeAccess: (userId: string) => Promise<void>;
  readonly now: () => Date;
}

export type UserChangeResult =
  | { readonly ok: true; readonly user: AdminUserRecord }
  | { readonly ok: false; readonly reason: 'forbidden' | 'self_change' | 'not_found' | 'last_admin' };

/**
 * An administrator changes another user's role or disabled state: the one implementation the
 * admin API and the admin page share. The caller decides `manage` on the target here (so the
 * route's object check is made), nobody changes themselves, the last active administrator
 * stays, and a real change is recorded (`privilege_permissions_changed`) before every session
 * and token of the target is revoked.
 *
 * The API tokens end in the change's own transaction; the sessions and the version marker live
 * in the shared store and end after the commit. If that part fails the administrator gets a 503
 * (`RAMPART_ERR_UNAVAILABLE`, retry), and the retry, finding the target already changed, runs
 * it again: asking for the role or state a user already has ends their sessions too. Without
 * that, a retry would find nothing to do and the old sessions would keep their privileges.
 */
export async function changeUserAsAdmin(request: FastifyRequest, options: UserChangeOptions, target: string, change: { role?: AdminUserRecord['role'] | undefined; disabled?: boolean | undefined }): Promise<UserChangeResult> {
  const actor = request.principal?.id ?? '';
  if (request.authorize('manage', 'User', { id: target }) !== 'allowed') return { ok: false, reason: 'forbidden' };
  if (target === actor) {
    request.server.securityEvents.recordFor(request, 'authz_fail', { details: { action: 'manage', subject: 'User', subject_id: target, reason: 'self_change' } });
    return { ok: false, reason: 'self_change' };
  }
  const result = await options.repository.changeUser(target, change, options.now());
  if (!result.ok) return result;
  const { before, after } = result;
  if (before.role !== after.role || before.disabled !== after.disabled) {
    // The new role or the disabling holds from the target's next request: every session and
    // API token they had is revoked, so nothing issued under the old privileges survives.
    // Recorded first: the change is committed, so the log must say so even if revoking fails.
    request.server.securityEvents.recordFor(request, 'privilege_permissions_changed', {
      details: { target_id: target, from_role: before.role, to_role: after.role, disabled: after.disabled, was_disabled: before.disabled },
    });
  }
  try {
    await options.revokeAccess(target);
  } catch (err) {
    // Committed, but not yet on every instance: a clean "retry", never a 500; the retry repairs it.
    throw new RAMPART_ERR_UNAVAILABLE({ cause: err });
  }
  return { ok: true, user: after };
}
