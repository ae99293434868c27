import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { context, fail, limited, noBody, noQuery } from '../../kernel/http.js';
import { AUTH_ERR_UNAUTHENTICATED } from '../../security/errors.js';
import type { RouteRateLimit } from '../../security/rate-limit.js';
import { ACCOUNT_ERR_WRONG_PASSWORD } from '../accounts/errors.js';
import { userSchema } from '../accounts/schemas.js';
import { TOKEN_ERR_INVALID_SCOPE } from '../tokens/errors.js';
import { tokenResponse } from '../tokens/schemas.js';
import { requestOptionsSchema } from '../passkeys/schemas.js';
import { MFA_ERR_ACTIVATION_FAILED, MFA_ERR_ALREADY_ENROLLED, MFA_ERR_INVALID_CODE, MFA_ERR_LOCKED, MFA_ERR_NOT_ENROLLED, MFA_ERR_NO_PASSKEY, MFA_ERR_PASSKEY_FAILED } from './errors.js';
import { codeBody, enrolmentSchema, mfaStatusSchema, pendingChallengeBody, recoveryCodesSchema, secondFactorBody, secondFactorPasskeyBody, stepUpBody, stepUpSchema } from './schemas.js';
import { startSecondFactorSession } from './finish.js';
import type { MfaService } from './service.js';

export interface MfaRoutesOptions {
  readonly mfa: MfaService;
}

// Enrolment and its management are sensitive (step-up) and stay open to a user the policy
// requires to enrol (`mfa: 'enrolment'`); cookie sessions only (no scope).
const MANAGE = { access: 'authenticated', stepUp: true, mfa: 'enrolment' } as const;
/** Passkey ceremonies started per client (each writes a challenge to the shared store). */
const CEREMONIES: RouteRateLimit = { name: 'mfa_passkey_ceremonies', points: 30, windowSeconds: 300, per: 'client', error: new MFA_ERR_LOCKED() };
/** An assertion carries base64url credentials and a signature: a little more than the default 10 KiB. */
const CEREMONY_BODY_LIMIT = 24 * 1024;

/** Second factors: enrolment, recovery codes, the sign-in's second step (session and token) and step-up. */
export const mfaRoutes: FastifyPluginAsyncZod<MfaRoutesOptions> = (app, { mfa }) => {
  const { accounts, tokens } = app;
  const locked = new MFA_ERR_LOCKED();
  const userId = (request: { principal: { id: string } | null }): string => request.principal?.id ?? '';

  app.get('/api/account/mfa', {
    config: { access: 'authenticated', scope: 'account:read', mfa: 'enrolment' },
    schema: { querystring: noQuery, response: { 200: mfaStatusSchema } },
  }, async (request) => mfa.status(userId(request)));

  app.post('/api/account/mfa/totp', {
    config: MANAGE,
    schema: { querystring: noQuery, body: noBody, response: { 201: enrolmentSchema } },
  }, async (request, reply) => {
    const user = await accounts.findView(userId(request));
    if (user === null) return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
    const started = await mfa.beginTotp(user.id, user.email);
    if (!started.ok) return fail(reply, new MFA_ERR_ALREADY_ENROLLED());
    reply.header('cache-control', 'no-store');
    return reply.code(201).send({ secret: started.secret, uri: started.uri, qrSvg: started.qrSvg });
  });

  app.post('/api/account/mfa/totp/activate', {
    config: MANAGE,
    schema: { querystring: noQuery, body: codeBody, response: { 200: recoveryCodesSchema } },
  }, async (request, reply) => {
    const result = await mfa.activateTotp(userId(request), request.body.code, context(request));
    if (!result.ok) return result.reason === 'limited' ? limited(reply, result, locked) : fail(reply, new MFA_ERR_ACTIVATION_FAILED());
    return { recoveryCodes: result.recoveryCodes };
  });

  app.delete('/api/account/mfa/totp', {
    config: MANAGE,
    schema: { querystring: noQuery, response: { 204: z.null() } },
  }, async (request, reply) => {
    if (!(await mfa.disableTotp(userId(request), context(request)))) return fail(reply, new MFA_ERR_NOT_ENROLLED());
    return reply.code(204).send(null);
  });

  app.post('/api/account/mfa/recovery-codes', {
    config: MANAGE,
    schema: { querystring: noQuery, body: noBody, response: { 200: recoveryCodesSchema } },
  }, async (request, reply) => {
    const result = await mfa.regenerateRecoveryCodes(userId(request), context(request));
    if (!result.ok) return fail(reply, new MFA_ERR_NOT_ENROLLED());
    return { recoveryCodes: result.recoveryCodes };
  });

  app.post('/api/auth/login/second-factor', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: secondFactorBody, response: { 200: z.object({ user: userSchema }) } },
  }, async (request, reply) => {
    const ctx = context(request);
    const result = await mfa.completeSecondFactor(request.body.challenge, 'session', mfa.verifyCode(request.body.code, ctx), ctx);
    if (!result.ok) return result.reason === 'limited' ? limited(reply, result, locked) : fail(reply, new MFA_ERR_INVALID_CODE());
    const user = await startSecondFactorSession(reply, accounts, result.pending);
    if (user === null) return fail(reply, new MFA_ERR_INVALID_CODE());
    return { user };
  });

  // A passkey as the second factor: options bound to the pending sign-in (only that user's
  // passkeys are listed and accepted), then the assertion through the same single-use, throttled
  // second step as a code.
  app.post('/api/auth/login/second-factor/passkey/options', {
    config: { access: 'public', rateLimit: CEREMONIES },
    schema: { querystring: noQuery, body: pendingChallengeBody, response: { 200: requestOptionsSchema } },
  }, async (request, reply) => {
    const factor = mfa.factor('passkey');
    const pendingUser = await mfa.pendingUser(request.body.challenge, 'session');
    if (factor === undefined || pendingUser === null || !(await factor.enrolled(pendingUser))) {
      context(request).audit('authn_mfa_fail', { ...(pendingUser === null ? {} : { actor: pendingUser }), details: { reason: pendingUser === null ? 'unknown_challenge' : 'no_passkey', stage: 'passkey_options' } });
      return fail(reply, new MFA_ERR_PASSKEY_FAILED());
    }
    return factor.options('second-factor', request.body.challenge, pendingUser);
  });

  app.post('/api/auth/login/second-factor/passkey', {
    config: { access: 'public' },
    bodyLimit: CEREMONY_BODY_LIMIT,
    schema: { querystring: noQuery, body: secondFactorPasskeyBody, response: { 200: z.object({ user: userSchema }) } },
  }, async (request, reply) => {
    const ctx = context(request);
    const factor = mfa.factor('passkey');
    const { challenge, response } = request.body;
    const verify = async (pending: { readonly userId: string }) => (factor !== undefined && (await factor.verify('second-factor', challenge, pending.userId, response, ctx)) ? 'passkey' : null);
    const result = await mfa.completeSecondFactor(challenge, 'session', verify, ctx);
    if (!result.ok) return result.reason === 'limited' ? limited(reply, result, locked) : fail(reply, new MFA_ERR_PASSKEY_FAILED());
    const user = await startSecondFactorSession(reply, accounts, result.pending);
    if (user === null) return fail(reply, new MFA_ERR_PASSKEY_FAILED());
    return { user };
  });

  app.post('/api/auth/token/second-factor', {
    // As the token endpoint: no cookie read or set, the body carries the credential.
    config: { access: 'public', csrf: false },
    schema: { querystring: noQuery, body: secondFactorBody, response: { 200: tokenResponse } },
  }, async (request, reply) => {
    const ctx = context(request);
    const result = await mfa.completeSecondFactor(request.body.challenge, 'token', mfa.verifyCode(request.body.code, ctx), ctx);
    if (!result.ok) return result.reason === 'limited' ? limited(reply, result, locked) : fail(reply, new MFA_ERR_INVALID_CODE());
    const { pending } = result;
    const stillValid = () => accounts.credentialsStillMatch(pending.userId, pending.fingerprint);
    const principal = (await stillValid()) ? (await app.userStates.get(pending.userId)).principal : null;
    if (principal === null) return fail(reply, new MFA_ERR_INVALID_CODE());
    const pair = await tokens.issueForUser(principal, pending.scope, ctx.audit, stillValid);
    if (pair === 'invalid_scope') return fail(reply, new TOKEN_ERR_INVALID_SCOPE());
    if (pair === 'revoked') return fail(reply, new MFA_ERR_INVALID_CODE());
    reply.header('cache-control', 'no-store');
    reply.header('pragma', 'no-cache');
    return pair;
  });

  app.post('/api/auth/step-up', {
    // A cookie session only: a bearer token has no scope here (403), so it can never give the proof.
    config: { access: 'authenticated', mfa: 'enrolment' },
    bodyLimit: CEREMONY_BODY_LIMIT,
    schema: { querystring: noQuery, body: stepUpBody, response: { 200: stepUpSchema } },
  }, async (request, reply) => {
    const ctx = context(request);
    const id = userId(request);
    if ('password' in request.body) {
      const confirmed = await accounts.confirmPresence(id, request.body.password, ctx);
      if (confirmed === 'gone') return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
      if (confirmed === 'wrong') return fail(reply, new ACCOUNT_ERR_WRONG_PASSWORD());
      if (confirmed !== 'ok') return limited(reply, confirmed, locked);
      await app.stepUp.grant(request, 'password');
    } else if ('passkey' in request.body) {
      const factor = mfa.factor('passkey');
      const proof = request.body.passkey;
      const binding = await request.csrfToken();
      const confirmed = await mfa.confirmPresenceWith(id, 'passkey', async () => factor !== undefined && factor.verify('step-up', binding, id, proof, ctx), ctx);
      if (!confirmed.ok) return confirmed.reason === 'limited' ? limited(reply, confirmed, locked) : fail(reply, new MFA_ERR_PASSKEY_FAILED());
      await app.stepUp.grant(request, 'passkey');
    } else {
      const confirmed = await mfa.confirmPresence(id, request.body.code, ctx);
      if (!confirmed.ok) return confirmed.reason === 'limited' ? limited(reply, confirmed, locked) : fail(reply, new MFA_ERR_INVALID_CODE());
      await app.stepUp.grant(request, confirmed.method);
    }
    return { status: 'confirmed' as const, expiresIn: app.stepUp.freshForMs / 1000 };
  });

  // Step-up by passkey: options bound to this session (its CSRF token), listing only the user's passkeys.
  app.post('/api/auth/step-up/passkey/options', {
    config: { access: 'authenticated', mfa: 'enrolment', rateLimit: CEREMONIES },
    schema: { querystring: noQuery, body: noBody, response: { 200: requestOptionsSchema } },
  }, async (request, reply) => {
    const factor = mfa.factor('passkey');
    const id = userId(request);
    if (factor === undefined || !(await factor.enrolled(id))) return fail(reply, new MFA_ERR_NO_PASSKEY());
    return factor.options('step-up', await request.csrfToken(), id);
  });

  return Promise.resolve();
};
