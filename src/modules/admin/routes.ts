import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AUTHZ_ERR_FORBIDDEN, RAMPART_ERR_INVALID_CURSOR } from '../../security/errors.js';
import { idParams } from '../../security/schema-primitives.js';
import { fail, noQuery } from '../../kernel/http.js';
import { emailAad } from '../accounts/users.js';
import { ADMIN_ERR_LAST_ADMIN, ADMIN_ERR_SELF_CHANGE, ADMIN_ERR_USER_NOT_FOUND } from './errors.js';
import type { AdminUserRecord } from './repository.js';
import { changeUserAsAdmin, type AdminRoutesOptions } from './user-changes.js';

export type { AdminRoutesOptions } from './user-changes.js';
import {
  adminUserPageSchema, adminUserSchema, eventCursorSchema, listEventsQuery, listUsersQuery, securityEventPageSchema, updateUserBody,
  userCursorSchema, type AdminUserView,
} from './schemas.js';


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
    config: { access: { action: 'read', subject: 'User' }, scope: 'admin', mfa: 'admin' },
    schema: { querystring: listUsersQuery, response: { 200: adminUserPageSchema } },
  }, async (request, reply) => {
    const { role, cursor, limit } = request.query;
    const after = cursor === undefined ? undefined : userCursors.decode(cursor, userCursorSchema);
    if (after === null) return fail(reply, new RAMPART_ERR_INVALID_CURSOR());
    const page = await repository.listUsers({ role, after: after === undefined ? undefined : { name: after.n, id: after.i }, limit });
    const next = page.continueAfter;
    const nextCursor = next === undefined ? null : userCursors.encode({ n: next.name, i: next.id });
    return { items: page.items.map(view), nextCursor };
  });

  app.patch('/api/admin/users/:id', {
    config: { access: { action: 'manage', subject: 'User' }, scope: 'admin', mfa: 'admin', stepUp: true },
    schema: { params: idParams, querystring: noQuery, body: updateUserBody, response: { 200: adminUserSchema } },
  }, async (request, reply) => {
    const change = await changeUserAsAdmin(request, { repository, revokeAccess, now }, request.params.id, request.body);
    if (change.ok) return view(change.user);
    if (change.reason === 'forbidden') return fail(reply, new AUTHZ_ERR_FORBIDDEN());
    if (change.reason === 'self_change') return fail(reply, new ADMIN_ERR_SELF_CHANGE());
    return fail(reply, change.reason === 'not_found' ? new ADMIN_ERR_USER_NOT_FOUND() : new ADMIN_ERR_LAST_ADMIN());
  });

  app.get('/api/admin/security-events', {
    config: { access: { action: 'read', subject: 'SecurityEvent' }, scope: 'admin', mfa: 'admin' },
    schema: { querystring: listEventsQuery, response: { 200: securityEventPageSchema } },
  }, async (request, reply) => {
    const { event, actor, from, to, cursor, limit } = request.query;
    const position = cursor === undefined ? undefined : eventCursors.decode(cursor, eventCursorSchema);
    if (position === null) return fail(reply, new RAMPART_ERR_INVALID_CURSOR());
    const page = await repository.listEvents({ event, actor, from, to, beforeId: position?.i, limit });
    const next = page.continueAfter;
    const nextCursor = next === undefined ? null : eventCursors.encode({ i: next.id });
    return {
      items: page.items.map((row) => ({
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
