import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUTH_ERR_UNAUTHENTICATED } from '../../security/errors.js';
import { sendProblem } from '../../security/problem-details.js';
import { context, fail, limited, noBody, noQuery, secondFactorRequired } from '../../kernel/http.js';
import {
  ACCOUNT_ERR_INVALID_TOKEN, ACCOUNT_ERR_LAST_ADMIN, ACCOUNT_ERR_SESSION_NOT_FOUND, ACCOUNT_ERR_TOO_MANY_REQUESTS, ACCOUNT_ERR_WRONG_PASSWORD,
  ACCOUNT_ERR_WEAK_PASSWORD, AUTH_ERR_INVALID_CREDENTIALS, AUTH_ERR_LOCKED, SETUP_ERR_EMAIL_TAKEN, SETUP_ERR_INVALID_TOKEN,
} from './errors.js';
import {
  changePasswordBody, deleteAccountBody, loginBody, registerBody, registeredSchema, resendVerificationBody, resetConfirmBody, resetRequestBody,
  sessionIdParams, sessionSchema, setupBody, tokenBody, userSchema,
} from './schemas.js';
import type { Accounts } from './lifecycle.js';
import type { WeakPassword } from './service.js';
import { loadedView } from './principal.js';

export interface AccountsRoutesOptions {
  readonly service: Accounts;
}

const statusSchema = (status: string) => z.object({ status: z.literal(status) });
const noContent = z.null();
const tooMany = new ACCOUNT_ERR_TOO_MANY_REQUESTS();

function weak(reply: FastifyReply, result: WeakPassword, field = '/password'): FastifyReply {
  return sendProblem(reply, { status: ACCOUNT_ERR_WEAK_PASSWORD.statusCode, code: ACCOUNT_ERR_WEAK_PASSWORD.code, title: result.message, errors: [{ location: 'body', path: field, message: `${result.rule}: ${result.message}` }] });
}

/** The accounts API: registration, verification, login and logout, recovery, sessions and the first administrator. */
export const accountsRoutes: FastifyPluginAsyncZod<AccountsRoutesOptions> = (app, { service }) => {
  const { sessions } = app;
  app.get('/api/csrf', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: z.object({ token: z.string() }) } },
  }, async (request) => ({ token: await request.csrfToken() }));

  app.post('/api/auth/register', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: registerBody, response: { 201: registeredSchema } },
  }, async (request, reply) => {
    const result = await service.register(request.body, context(request));
    if (!result.ok) return result.reason === 'limited' ? limited(reply, result, tooMany) : weak(reply, result);
    return reply.code(201).send({ id: result.id, name: result.name, email: result.email });
  });

  app.post('/api/auth/verify-email', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: tokenBody, response: { 200: statusSchema('verified') } },
  }, async (request, reply) => {
    const result = await service.verifyEmail(request.body.token, context(request));
    if (result.ok) return { status: 'verified' as const };
    return result.reason === 'limited' ? limited(reply, result, tooMany) : fail(reply, new ACCOUNT_ERR_INVALID_TOKEN());
  });

  app.post('/api/auth/verify-email/resend', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: resendVerificationBody, response: { 202: statusSchema('accepted') } },
  }, async (request, reply) => {
    const result = await service.resendVerification(request.body.email, context(request));
    if (!result.ok) return limited(reply, result, tooMany);
    return reply.code(202).send({ status: 'accepted' as const });
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
    // An account with a second factor gets no session yet: a single-use challenge continues the
    // sign-in at POST /api/auth/login/second-factor (the mfa module).
    const challenge = await app.identity.challengeSecondFactor({ userId: result.user.id, purpose: 'session', fingerprint: result.fingerprint });
    if (challenge !== null) return secondFactorRequired(reply, challenge);
    if (!(await reply.startSession(result.user.id, { stillValid: result.stillValid }))) return fail(reply, new AUTH_ERR_INVALID_CREDENTIALS());
    await service.devices.signedIn(request, reply, result.user.id, 'password');
    return { user: result.user };
  });

  app.post('/api/auth/logout', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: noBody, response: { 204: noContent } },
  }, async (request, reply) => {
    await reply.endSession();
    return reply.code(204).send(null);
  });

  app.get('/api/me', {
    config: { access: 'authenticated', scope: 'account:read', mfa: 'enrolment' },
    schema: { querystring: noQuery, response: { 200: z.object({ user: userSchema }) } },
  }, async (request, reply) => {
    const id = request.principal?.id ?? '';
    // The profile authentication already loaded, current as of this request's version check.
    const user = loadedView(request.principalUser, id) ?? await service.findView(id);
    if (user === null) return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
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
    config: { access: 'authenticated', scope: 'account:write', stepUp: true },
    schema: { querystring: noQuery, body: noBody, response: { 200: z.object({ revoked: z.number().int() }) } },
  }, async (request) => {
    const revoked = await service.revokeOtherSignIns(request.principal?.id ?? '', request.sessionToken);
    return { revoked };
  });

  app.post('/api/account/password', {
    config: { access: 'authenticated', stepUp: true },
    schema: { querystring: noQuery, body: changePasswordBody, response: { 200: statusSchema('changed') } },
  }, async (request, reply) => {
    const result = await service.changePassword(request.principal?.id ?? '', request.sessionToken ?? '', request.body, context(request));
    if (result.ok) {
      reply.setSessionCookie(result.token);
      // The renewed session keeps the proof of presence the change itself gave (the current password).
      await app.stepUp.record(result.token);
      return { status: 'changed' as const };
    }
    if (result.reason === 'limited') return limited(reply, result, tooMany);
    if (result.reason === 'weak_password') return weak(reply, result, '/newPassword');
    if (result.reason === 'wrong_password') return fail(reply, new ACCOUNT_ERR_WRONG_PASSWORD());
    return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
  });

  app.delete('/api/account', {
    config: { access: 'authenticated', stepUp: true },
    schema: { querystring: noQuery, body: deleteAccountBody, response: { 204: noContent } },
  }, async (request, reply) => {
    const result = await service.deleteAccount(request.principal?.id ?? '', request.body.password, context(request));
    if (result.ok) {
      await reply.endSession();
      return reply.code(204).send(null);
    }
    if (result.reason === 'limited') return limited(reply, result, tooMany);
    if (result.reason === 'wrong_password') return fail(reply, new ACCOUNT_ERR_WRONG_PASSWORD());
    if (result.reason === 'last_admin') return fail(reply, new ACCOUNT_ERR_LAST_ADMIN());
    return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
  });

  app.post('/api/auth/password-reset/request', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: resetRequestBody, response: { 202: statusSchema('accepted') } },
  }, async (request, reply) => {
    const result = await service.requestPasswordReset(request.body.email, context(request));
    if (!result.ok) return limited(reply, result, tooMany);
    return reply.code(202).send({ status: 'accepted' as const });
  });

  app.post('/api/auth/password-reset/confirm', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: resetConfirmBody, response: { 200: statusSchema('changed') } },
  }, async (request, reply) => {
    const result = await service.confirmPasswordReset(request.body, context(request));
    if (result.ok) return { status: 'changed' as const };
    if (result.reason === 'limited') return limited(reply, result, tooMany);
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
    if (result.reason === 'email_taken') return fail(reply, new SETUP_ERR_EMAIL_TAKEN());
    return fail(reply, new SETUP_ERR_INVALID_TOKEN());
  });

  return Promise.resolve();
};
