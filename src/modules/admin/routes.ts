import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AUTHZ_ERR_FORBIDDEN } from '../../security/authorization.js';
import type { CursorCodec } from '../../security/cursors.js';
import { RAMPART_ERR_INVALID_CURSOR } from '../../security/errors.js';
import type { Keyring } from '../../security/keyring.js';
import { idParams } from '../../security/schema-primitives.js';
import { fail } from '../accounts/routes.js';
import { noQuery } from '../accounts/schemas.js';
import { emailAad } from '../accounts/users.js';
import { ADMIN_ERR_LAST_ADMIN, ADMIN_ERR_SELF_CHANGE, ADMIN_ERR_USER_NOT_FOUND } from './errors.js';
import type { AdminRepository, AdminUserRecord } from './repository.js';
import { changeUserAsAdmin } from './user-changes.js';
import {
  adminUserPageSchema, adminUserSchema, eventCursorSchema, listEventsQuery, listUsersQuery, securityEventPageSchema, updateUserBody,
  userCursorSchema, type AdminUserView,
} from './schemas.js';

export interface AdminRoutesOptions {
  readonly repository: AdminRepository;
  readonly keyring: Keyring;
  readonly userCursors: CursorCodec;
  readonly eventCursors: CursorCodec;
  /** Ends every session and API token of a user whose privileges changed, on every instance. */
  readonly revokeAccess: (userId: string) => Promise<void>;
  readonly now?: () => Date;
}

/** The admin API: users and their roles, and the security event log. Administrators only. */
export const adminRoutes: FastifyPluginAsyncZod<AdminRoutesOptions> = (app, { repository, keyring, userCursors, eventCursors, revokeAccess, now = () => new Date() }) => {
  const view = (user: AdminUserRecord): AdminUserView => ({
    id: user.id,
    name: user.name,
    // A row whose email no longer opens is shown without it (crypt_decrypt_fail is recorded), never a failed page.
    email: keyring.decryptString(user.emailCiphertext, emailAad(user.id)),
    role: user.role,
    disabled: user.disabled,
    emailVerified: user.emailVerified,
    createdAt: user.createdAt.toISOString(),
  });

  app.get('/api/admin/users', {
    config: { access: { action: 'read', subject: 'User' }, scope: 'admin' },
    schema: { querystring: listUsersQuery, response: { 200: adminUserPageSchema } },
  }, async (request, reply) => {
    const { role, cursor, limit } = request.query;
    const after = cursor === undefined ? undefined : userCursors.decode(cursor, userCursorSchema);
    if (after === null) return fail(reply, new RAMPART_ERR_INVALID_CURSOR());
    const rows = await repository.listUsers({ ...(role === undefined ? {} : { role }), ...(after === undefined ? {} : { after: { name: after.n, id: after.i } }), limit: limit + 1 });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    const nextCursor = rows.length > limit && last !== undefined ? userCursors.encode({ n: last.name, i: last.id }) : null;
    return { items: items.map(view), nextCursor };
  });

  app.patch('/api/admin/users/:id', {
    config: { access: { action: 'manage', subject: 'User' }, scope: 'admin' },
    schema: { params: idParams, querystring: noQuery, body: updateUserBody, response: { 200: adminUserSchema } },
  }, async (request, reply) => {
    const change = await changeUserAsAdmin(request, { repository, revokeAccess, now }, request.params.id, request.body);
    if (change.ok) return view(change.user);
    if (change.reason === 'forbidden') return fail(reply, new AUTHZ_ERR_FORBIDDEN());
    if (change.reason === 'self_change') return fail(reply, new ADMIN_ERR_SELF_CHANGE());
    return fail(reply, change.reason === 'not_found' ? new ADMIN_ERR_USER_NOT_FOUND() : new ADMIN_ERR_LAST_ADMIN());
  });

  app.get('/api/admin/security-events', {
    config: { access: { action: 'read', subject: 'SecurityEvent' }, scope: 'admin' },
    schema: { querystring: listEventsQuery, response: { 200: securityEventPageSchema } },
  }, async (request, reply) => {
    const { event, actor, from, to, cursor, limit } = request.query;
    const position = cursor === undefined ? undefined : eventCursors.decode(cursor, eventCursorSchema);
    if (position === null) return fail(reply, new RAMPART_ERR_INVALID_CURSOR());
    const rows = await repository.listEvents({
      ...(event === undefined ? {} : { event }),
      ...(actor === undefined ? {} : { actor }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      ...(position === undefined ? {} : { beforeId: position.i }),
      limit: limit + 1,
    });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    const nextCursor = rows.length > limit && last !== undefined ? eventCursors.encode({ i: last.id }) : null;
    return {
      items: items.map((row) => ({
        id: row.id,
        occurredAt: row.occurred_at.toISOString(),
        event: row.event,
        severity: row.severity,
        actor: row.actor,
        clientIp: row.client_ip,
        requestId: row.request_id,
        details: row.details,
      })),
      nextCursor,
    };
  });

  return Promise.resolve();
};
