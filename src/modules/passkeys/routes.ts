import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { context, fail, limited, noBody, noQuery } from '../../kernel/http.js';
import type { RouteRateLimit } from '../../security/rate-limit.js';
import { AUTH_ERR_UNAUTHENTICATED } from '../../security/errors.js';
import { idParams } from '../../security/schema-primitives.js';
import { PASSKEY_ERR_INVALID, PASSKEY_ERR_LIMIT, PASSKEY_ERR_LOCKED, PASSKEY_ERR_NOT_FOUND, PASSKEY_ERR_REGISTRATION_FAILED } from './errors.js';
import { creationOptionsSchema, passkeySchema, registerVerifyBody, renameBody, requestOptionsSchema, signInVerifyBody } from './schemas.js';
import type { PasskeysService } from './service.js';

/** Answers carry base64url credentials and a signature: a little more than the default 10 KiB. */
const CEREMONY_BODY_LIMIT = 24 * 1024;
/** Ceremonies started per client: each writes a challenge to the shared store. */
const CEREMONIES: RouteRateLimit = { name: 'passkey_ceremonies', points: 30, windowSeconds: 300, per: 'client', error: new PASSKEY_ERR_LOCKED() };

/**
 * What binds a ceremony's challenge to this browser: its CSRF token, which is derived from its
 * session, or before sign-in from its pre-session (the `__Host-` cookie the sign-in form uses).
 * Every route here is an unsafe method, so the CSRF guard has already checked that token.
 */
export const ceremonyBinding = (request: FastifyRequest): Promise<string> => request.csrfToken();

/**
 * The passkeys API. Management is for cookie sessions only (no token scope: an API token cannot
 * add or remove a way to sign in). Every query names the signed-in owner, so someone else's
 * passkey is a 404, like one that does not exist.
 */
export const passkeysRoutes: FastifyPluginAsyncZod<{ readonly passkeys: PasskeysService }> = (app, { passkeys }) => {
  const userId = (request: FastifyRequest): string => request.principal?.id ?? '';

  // Adding or removing a way to sign in is sensitive (step-up); adding one stays open to a user
  // the policy requires to enrol (RAMPART_MFA_REQUIRED: a passkey is a second factor).
  app.get('/api/account/passkeys', {
    config: { access: 'authenticated', mfa: 'enrolment' },
    schema: { querystring: noQuery, response: { 200: z.object({ passkeys: z.array(passkeySchema) }) } },
  }, async (request) => ({ passkeys: await passkeys.list(userId(request)) }));

  app.post('/api/account/passkeys/registration/options', {
    config: { access: 'authenticated', stepUp: true, mfa: 'enrolment', rateLimit: CEREMONIES },
    schema: { querystring: noQuery, body: noBody, response: { 200: creationOptionsSchema } },
  }, async (request, reply) => {
    const user = await passkeys.findActiveUser(userId(request));
    if (user === null) return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
    return passkeys.registrationOptions(user, await ceremonyBinding(request));
  });

  app.post('/api/account/passkeys', {
    config: { access: 'authenticated', stepUp: true, mfa: 'enrolment' },
    bodyLimit: CEREMONY_BODY_LIMIT,
    schema: { querystring: noQuery, body: registerVerifyBody, response: { 201: passkeySchema } },
  }, async (request, reply) => {
    const result = await passkeys.register(userId(request), request.body, await ceremonyBinding(request), context(request));
    if (!result.ok) return fail(reply, result.reason === 'limit' ? new PASSKEY_ERR_LIMIT() : new PASSKEY_ERR_REGISTRATION_FAILED());
    return reply.code(201).header('location', `/api/account/passkeys/${result.passkey.id}`).send(result.passkey);
  });

  app.patch('/api/account/passkeys/:id', {
    config: { access: 'authenticated' },
    schema: { params: idParams, querystring: noQuery, body: renameBody, response: { 200: passkeySchema } },
  }, async (request, reply) => {
    const renamed = await passkeys.rename(userId(request), request.params.id, request.body.name, context(request));
    return renamed ?? fail(reply, new PASSKEY_ERR_NOT_FOUND());
  });

  app.delete('/api/account/passkeys/:id', {
    config: { access: 'authenticated', stepUp: true },
    schema: { params: idParams, querystring: noQuery, response: { 204: z.null() } },
  }, async (request, reply) => {
    if (!(await passkeys.remove(userId(request), request.params.id, context(request)))) return fail(reply, new PASSKEY_ERR_NOT_FOUND());
    return reply.code(204).send(null);
  });

  app.post('/api/auth/passkey/options', {
    config: { access: 'public', rateLimit: CEREMONIES },
    schema: { querystring: noQuery, body: noBody, response: { 200: requestOptionsSchema } },
  }, async (request) => passkeys.authenticationOptions('sign-in', await ceremonyBinding(request), null));

  app.post('/api/auth/passkey', {
    config: { access: 'public' },
    bodyLimit: CEREMONY_BODY_LIMIT,
    schema: { querystring: noQuery, body: signInVerifyBody, response: { 200: z.object({ status: z.literal('signed-in') }) } },
  }, async (request, reply) => {
    const result = await passkeys.signIn(request.body.response, await ceremonyBinding(request), context(request));
    if (!result.ok) return result.reason === 'limited' ? limited(reply, result, new PASSKEY_ERR_LOCKED()) : fail(reply, new PASSKEY_ERR_INVALID());
    const { userId: signedIn } = result;
    if (!(await reply.startSession(signedIn, { stillValid: () => passkeys.stillActive(signedIn) }))) return fail(reply, new PASSKEY_ERR_INVALID());
    return { status: 'signed-in' as const };
  });

  return Promise.resolve();
};
