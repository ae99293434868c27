import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sendProblem } from '../../security/problem-details.js';
import type { SessionManager } from '../../security/sessions.js';
import {
  ACCOUNT_ERR_INVALID_TOKEN, ACCOUNT_ERR_LAST_ADMIN, ACCOUNT_ERR_SESSION_NOT_FOUND, ACCOUNT_ERR_TOO_MANY_REQUESTS, ACCOUNT_ERR_WRONG_PASSWORD,
  AUTH_ERR_INVALID_CREDENTIALS, AUTH_ERR_LOCKED, SETUP_ERR_INVALID_TOKEN,
} from './errors.js';
import {
  changePasswordBody, deleteAccountBody, loginBody, noQuery, registerBody, registeredSchema, resetConfirmBody, resetRequestBody,
  sessionIdParams, sessionSchema, setupBody, tokenBody, userSchema,
} from './schemas.js';
import type { AccountsService, Limited, RequestContext, WeakPassword } from './service.js';
import { endBrowserSession, startBrowserSession } from './sign-in.js';

export interface AccountsRoutesOptions {
  readonly service: AccountsService;
  readonly sessions: SessionManager;
}

const statusSchema = (status: string) => z.object({ status: z.literal(status) });
const noContent = z.null();

/** The service's view of a request: client IP, user agent and the request's security-event recorder. */
export function context(request: FastifyRequest): RequestContext {
  return {
    ip: request.ip,
    userAgent: (request.headers['user-agent'] ?? '').slice(0, 256),
    audit: (event, input) => { request.server.securityEvents.recordFor(request, event, input); },
  };
}

/** 429 with Retry-After. */
export function limited(reply: FastifyReply, result: Limited, error: { code: string; message: string } = new ACCOUNT_ERR_TOO_MANY_REQUESTS()): FastifyReply {
  reply.header('retry-after', String(result.retryAfterSeconds));
  return sendProblem(reply, { status: 429, code: error.code, title: error.message });
}

function weak(reply: FastifyReply, result: WeakPassword, field = '/password'): FastifyReply {
  return sendProblem(reply, { status: 400, code: 'ACCOUNT_ERR_WEAK_PASSWORD', title: result.message, errors: [{ location: 'body', path: field, message: `${result.rule}: ${result.message}` }] });
}

/** A coded error as problem+json. */
export function fail(reply: FastifyReply, error: { code: string; message: string; statusCode?: number }): FastifyReply {
  return sendProblem(reply, { status: error.statusCode ?? 400, code: error.code, title: error.message });
}

/** The accounts API: registration, verification, login and logout, recovery, sessions and the first administrator. */
export const accountsRoutes: FastifyPluginAsyncZod<AccountsRoutesOptions> = (app, { service, sessions }) => {
  app.get('/api/csrf', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: z.object({ token: z.string() }) } },
  }, async (request) => ({ token: await request.csrfToken() }));

  app.post('/api/auth/register', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: registerBody, response: { 201: registeredSchema } },
  }, async (request, reply) => {
    const result = await service.register(request.body, context(request));
    if (!result.ok) return result.reason === 'limited' ? limited(reply, result) : weak(reply, result);
    return reply.code(201).send({ id: result.id, name: result.name, email: result.email });
  });

  app.post('/api/auth/verify-email', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: tokenBody, response: { 200: statusSchema('verified') } },
  }, async (request, reply) => {
    const result = await service.verifyEmail(request.body.token, context(request));
    if (result.ok) return { status: 'verified' as const };
    return result.reason === 'limited' ? limited(reply, result) : fail(reply, new ACCOUNT_ERR_INVALID_TOKEN());
  });

  app.post('/api/auth/login', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: loginBody, response: { 200: z.object({ user: userSchema }) } },
  }, async (request, reply) => {
    const result = await service.login(request.body, context(request));
    if (!result.ok) {
      return result.reason === 'limited'
        ? limited(reply, result, new AUTH_ERR_LOCKED())
        : fail(reply, new AUTH_ERR_INVALID_CREDENTIALS());
    }
    // A new session id on login; the pre-session that carried the login form's token ends here.
    await startBrowserSession(request, reply, sessions, result.token);
    return { user: result.user };
  });

  app.post('/api/auth/logout', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: z.strictObject({}).optional(), response: { 204: noContent } },
  }, async (request, reply) => {
    await endBrowserSession(request, reply, sessions);
    return reply.code(204).send(null);
  });

  app.get('/api/me', {
    config: { access: 'authenticated', scope: 'account:read' },
    schema: { querystring: noQuery, response: { 200: z.object({ user: userSchema }) } },
  }, async (request, reply) => {
    const user = await service.findView(request.principal?.id ?? '');
    if (user === null) return fail(reply, { code: 'AUTH_ERR_UNAUTHENTICATED', message: 'Sign in first.', statusCode: 401 });
    return { user };
  });

  app.get('/api/account/sessions', {
    config: { access: 'authenticated', scope: 'account:read' },
    schema: { querystring: noQuery, response: { 200: z.object({ sessions: z.array(sessionSchema) }) } },
  }, async (request) => {
    const list = await sessions.list(request.principal?.id ?? '');
    const currentId = request.session?.id;
    return {
      sessions: list.map((s) => ({ id: s.id, current: s.id === currentId, createdAt: new Date(s.createdAt).toISOString(), lastSeenAt: new Date(s.lastSeenAt).toISOString(), ip: s.ip, userAgent: s.userAgent })),
    };
  });

  app.delete('/api/account/sessions/:id', {
    config: { access: 'authenticated', scope: 'account:write' },
    schema: { querystring: noQuery, params: sessionIdParams, response: { 204: noContent } },
  }, async (request, reply) => {
    const revoked = await sessions.revoke(request.principal?.id ?? '', request.params.id);
    if (!revoked) return fail(reply, new ACCOUNT_ERR_SESSION_NOT_FOUND());
    return reply.code(204).send(null);
  });

  app.post('/api/account/sessions/revoke-others', {
    config: { access: 'authenticated', scope: 'account:write' },
    schema: { querystring: noQuery, body: z.strictObject({}).optional(), response: { 200: z.object({ revoked: z.number().int() }) } },
  }, async (request) => {
    const revoked = await service.revokeOtherSignIns(request.principal?.id ?? '', request.sessionToken);
    return { revoked };
  });

  app.post('/api/account/password', {
    config: { access: 'authenticated' },
    schema: { querystring: noQuery, body: changePasswordBody, response: { 200: statusSchema('changed') } },
  }, async (request, reply) => {
    const result = await service.changePassword(request.principal?.id ?? '', request.sessionToken ?? '', request.body, context(request));
    if (result.ok) {
      reply.setSessionCookie(result.token);
      return { status: 'changed' as const };
    }
    if (result.reason === 'limited') return limited(reply, result);
    if (result.reason === 'weak_password') return weak(reply, result, '/newPassword');
    if (result.reason === 'wrong_password') return fail(reply, new ACCOUNT_ERR_WRONG_PASSWORD());
    return fail(reply, { code: 'AUTH_ERR_UNAUTHENTICATED', message: 'Sign in first.', statusCode: 401 });
  });

  app.delete('/api/account', {
    config: { access: 'authenticated' },
    schema: { querystring: noQuery, body: deleteAccountBody, response: { 204: noContent } },
  }, async (request, reply) => {
    const result = await service.deleteAccount(request.principal?.id ?? '', request.body.password, context(request));
    if (result.ok) {
      reply.clearSessionCookie();
      reply.header('clear-site-data', '"cookies", "storage"');
      return reply.code(204).send(null);
    }
    if (result.reason === 'limited') return limited(reply, result);
    if (result.reason === 'wrong_password') return fail(reply, new ACCOUNT_ERR_WRONG_PASSWORD());
    if (result.reason === 'last_admin') return fail(reply, new ACCOUNT_ERR_LAST_ADMIN());
    return fail(reply, { code: 'AUTH_ERR_UNAUTHENTICATED', message: 'Sign in first.', statusCode: 401 });
  });

  app.post('/api/auth/password-reset/request', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: resetRequestBody, response: { 202: statusSchema('accepted') } },
  }, async (request, reply) => {
    const result = await service.requestPasswordReset(request.body.email, context(request));
    if (!result.ok) return limited(reply, result);
    return reply.code(202).send({ status: 'accepted' as const });
  });

  app.post('/api/auth/password-reset/confirm', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: resetConfirmBody, response: { 200: statusSchema('changed') } },
  }, async (request, reply) => {
    const result = await service.confirmPasswordReset(request.body, context(request));
    if (result.ok) return { status: 'changed' as const };
    if (result.reason === 'limited') return limited(reply, result);
    if (result.reason === 'weak_password') return weak(reply, result);
    return fail(reply, new ACCOUNT_ERR_INVALID_TOKEN());
  });

  app.post('/api/setup', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: setupBody, response: { 201: z.object({ user: userSchema }) } },
  }, async (request, reply) => {
    const result = await service.setupAdministrator(request.body, context(request));
    if (result.ok) return reply.code(201).send({ user: result.user });
    if (result.reason === 'weak_password') return weak(reply, result);
    if (result.reason === 'email_taken') return sendProblem(reply, { status: 409, code: 'SETUP_ERR_EMAIL_TAKEN', title: 'That email already has an account; use another for the administrator.' });
    return fail(reply, new SETUP_ERR_INVALID_TOKEN());
  });

  return Promise.resolve();
};
