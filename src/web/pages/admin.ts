import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ROLES } from '../../security/authorization.js';
import { fail } from '../../kernel/http.js';
import { emailAad } from '../../modules/accounts/users.js';
import { eventCursorSchema, listEventsQuery, roleSchema, userCursorSchema } from '../../modules/admin/schemas.js';
import { changeUserAsAdmin } from '../../modules/admin/user-changes.js';
import { AUTHZ_ERR_FORBIDDEN, RAMPART_ERR_BAD_REQUEST, RAMPART_ERR_INVALID_CURSOR } from '../../security/errors.js';
import { SECURITY_EVENTS } from '../../security/security-events.js';
import { cursorSchema, idParams } from '../../security/schema-primitives.js';
import { formBody } from '../forms.js';
import { HTML_RESPONSE, NO_QUERY } from '../page-routes.js';
import type { PublishingPagesOptions } from '../publishing.js';
import { renderPage, seeOther } from '../render.js';

const USERS_PER_PAGE = 25;
const EVENTS_PER_PAGE = 25;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const ACTOR_FILTER = /^[A-Za-z0-9_:-]{1,64}$/;
const UUID_LIKE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NOTICES = { changed: 'The user is changed; their sessions and API tokens are revoked.', unchanged: 'Nothing to change.' } as const;
const CHANGE_ERRORS = {
  self_change: { status: 403, message: 'You cannot change your own role or disable your own account: another administrator has to.' },
  last_admin: { status: 409, message: 'That is the last active administrator: make someone else an administrator first.' },
  not_found: { status: 404, message: 'That user no longer exists.' },
} as const;

// Filters come from a GET form, which sends every field, empty or not: empty means no filter.
const empty = z.literal('');
const adminQuery = z.strictObject({
  users: cursorSchema.optional(),
  events: cursorSchema.optional(),
  event: z.union([empty, listEventsQuery.shape.event.unwrap()]).optional(),
  actor: z.union([empty, listEventsQuery.shape.actor.unwrap()]).optional(),
  from: z.union([empty, z.string().regex(DAY)]).optional(),
  to: z.union([empty, z.string().regex(DAY)]).optional(),
  done: z.enum(['changed', 'unchanged']).optional(),
});
type AdminQuery = z.infer<typeof adminQuery>;
const changeForm = formBody({ role: z.union([empty, roleSchema]).optional(), disabled: z.enum(['', 'true', 'false']).optional() });

/** A `YYYY-MM-DD` day as the start of that day in UTC; `end` gives the start of the next day (the filter's `to` is exclusive). */
function dayStart(day: string, end = false): Date | null {
  const date = new Date(`${day}T00:00:00.000Z`);
  if (Number.isNaN(date.getTime())) return null;
  if (end) date.setUTCDate(date.getUTCDate() + 1);
  return date;
}

/**
 * The administration page: users (role select, disable and enable) and the security event log
 * with filters, each paged by the admin API's signed cursors. Changes go through the same
 * `changeUserAsAdmin` as `PATCH /api/admin/users/:id`: self-changes and removing the last
 * administrator are refused, a change is recorded and revokes the target's sessions and tokens.
 */
export const adminPages: FastifyPluginAsyncZod<PublishingPagesOptions> = (app, { admin, now = () => new Date() }) => {
  const { repository, keyring, userCursors, eventCursors, revokeAccess } = admin;

  async function adminPage(request: FastifyRequest, reply: FastifyReply, query: AdminQuery, extra: { error?: string; status?: number } = {}) {
    const afterUser = query.users === undefined ? undefined : userCursors.decode(query.users, userCursorSchema);
    const beforeEvent = query.events === undefined ? undefined : eventCursors.decode(query.events, eventCursorSchema);
    if (afterUser === null || beforeEvent === null) {
      request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'invalid_cursor', route: '/admin' } });
      return fail(reply, new RAMPART_ERR_INVALID_CURSOR());
    }
    const from = query.from === undefined || query.from === '' ? undefined : dayStart(query.from);
    const to = query.to === undefined || query.to === '' ? undefined : dayStart(query.to, true);
    if (from === null || to === null) return fail(reply, new RAMPART_ERR_BAD_REQUEST());
    const users = await repository.listUsers({ after: afterUser === undefined ? undefined : { name: afterUser.n, id: afterUser.i }, limit: USERS_PER_PAGE });
    const event = query.event === '' ? undefined : query.event;
    const actor = query.actor === '' ? undefined : query.actor;
    const events = request.ability().can('read', 'SecurityEvent')
      ? await repository.listEvents({ event, actor, from, to, beforeId: beforeEvent?.i, limit: EVENTS_PER_PAGE })
      : { items: [], continueAfter: undefined };
    const actorNames = await repository.userNames(events.items.map((e) => e.actor ?? ''));
    const filters = { event: event ?? '', actor: actor ?? '', from: query.from ?? '', to: query.to ?? '' };
    const link = (params: Record<string, string>) => `/admin?${new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '')).toString()}`;
    const me = request.principal?.id ?? '';
    return renderPage(request, reply, 'admin', {
      title: 'Administration',
      notice: query.done === undefined ? '' : NOTICES[query.done],
      error: extra.error ?? '',
      roles: ROLES,
      users: users.items.map((u) => ({
        id: u.id,
        name: u.name,
        // A row whose email no longer opens is shown without it (crypt_decrypt_fail is recorded).
        email: keyring.decryptString(u.emailCiphertext, emailAad(u.id)) ?? '(unreadable)',
        role: u.role,
        disabled: u.disabled,
        verified: u.emailVerified,
        self: u.id === me,
      })),
      nextUsers: users.continueAfter === undefined ? '' : link({ ...filters, users: userCursors.encode({ n: users.continueAfter.name, i: users.continueAfter.id }) }),
      eventNames: Object.keys(SECURITY_EVENTS).sort(),
      filters,
      events: events.items.map((e) => ({
        id: e.id,
        at: e.occurred_at.toISOString().slice(0, 19).replace('T', ' '),
        event: e.event,
        severity: e.severity,
        // By name, linked to the events of that actor; the id stays in the link's title.
        actor: e.actor === null ? null : { id: e.actor, name: actorNames.get(e.actor) ?? (UUID_LIKE.test(e.actor) ? '(deleted user)' : e.actor), href: ACTOR_FILTER.test(e.actor) ? link({ actor: e.actor }) : '' },
        ip: e.client_ip ?? '',
        details: JSON.stringify(e.details),
        detailsFull: JSON.stringify(e.details, null, 2),
      })),
      nextEvents: events.continueAfter === undefined ? '' : link({ ...filters, events: eventCursors.encode({ i: events.continueAfter.id }) }),
    }, { status: extra.status ?? 200 });
  }

  app.get('/admin', { config: { access: { action: 'read', subject: 'User' }, page: true, mfa: 'admin' }, schema: { querystring: adminQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    return adminPage(request, reply, request.query);
  });

  app.post('/admin/users/:id', {
    config: { access: { action: 'manage', subject: 'User' }, page: true, mfa: 'admin', stepUp: { returnTo: '/admin' } },
    schema: { params: idParams, querystring: NO_QUERY, body: changeForm, response: HTML_RESPONSE },
  }, async (request, reply) => {
    const role = request.body.role === '' ? undefined : request.body.role;
    const disabled = request.body.disabled === undefined || request.body.disabled === '' ? undefined : request.body.disabled === 'true';
    if (role === undefined && disabled === undefined) {
      // Still the object decision the route owes (and a 403 for someone who may not manage users).
      if (request.authorize('manage', 'User', { id: request.params.id }) !== 'allowed') return fail(reply, new AUTHZ_ERR_FORBIDDEN());
      return seeOther(reply, '/admin?done=unchanged');
    }
    const change = await changeUserAsAdmin(request, { repository, revokeAccess, now }, request.params.id, { role, disabled });
    if (change.ok) return seeOther(reply, '/admin?done=changed');
    if (change.reason === 'forbidden') return fail(reply, new AUTHZ_ERR_FORBIDDEN());
    const refusal = CHANGE_ERRORS[change.reason];
    return adminPage(request, reply, {}, { error: refusal.message, status: refusal.status });
  });

  return Promise.resolve();
};
