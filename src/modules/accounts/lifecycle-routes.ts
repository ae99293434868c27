import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUTH_ERR_UNAUTHENTICATED } from '../../security/errors.js';
import { context, fail, limited, noQuery } from '../../kernel/http.js';
import {
  ACCOUNT_ERR_EMAIL_UNCHANGED, ACCOUNT_ERR_INVALID_TOKEN, ACCOUNT_ERR_REAUTHENTICATE, ACCOUNT_ERR_TOO_MANY_REQUESTS, ACCOUNT_ERR_WRONG_PASSWORD,
} from './errors.js';
import { DATA_EXPORTS, EMAIL_CHANGES, PROFILE_UPDATES, type Accounts } from './lifecycle.js';
import { emailChangeBody, profileBody, tokenBody, userSchema } from './schemas.js';

const tooMany = new ACCOUNT_ERR_TOO_MANY_REQUESTS();

/** The account lifecycle's API: email change (request, confirm, undo), the profile, the data export. */
export const lifecycleRoutes: FastifyPluginAsyncZod<{ readonly accounts: Accounts }> = (app, { accounts }) => {
  const { emailChanges } = accounts;

  app.post('/api/account/email', {
    // Cookie sessions only (no token scope): a token must not move the account to another mailbox.
    // Sensitive: a fresh proof (step-up) and the current password.
    config: { access: 'authenticated', stepUp: true, rateLimit: EMAIL_CHANGES },
    schema: { querystring: noQuery, body: emailChangeBody, response: { 202: z.object({ status: z.literal('accepted') }) } },
  }, async (request, reply) => {
    if (!(await reply.spendRateLimit())) return reply;
    const result = await emailChanges.request(request.principal?.id ?? '', request.body, context(request));
    if (result.ok) return reply.code(202).send({ status: 'accepted' as const });
    if (result.reason === 'limited') return limited(reply, result, tooMany);
    if (result.reason === 'password_required') return fail(reply, new ACCOUNT_ERR_REAUTHENTICATE());
    if (result.reason === 'wrong_password') return fail(reply, new ACCOUNT_ERR_WRONG_PASSWORD());
    if (result.reason === 'unchanged') return fail(reply, new ACCOUNT_ERR_EMAIL_UNCHANGED());
    return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
  });

  app.post('/api/account/email/confirm', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: tokenBody, response: { 200: z.object({ status: z.literal('changed') }) } },
  }, async (request, reply) => {
    const result = await emailChanges.confirm(request.body.token, context(request));
    if (result.ok) return { status: 'changed' as const };
    return result.reason === 'limited' ? limited(reply, result, tooMany) : fail(reply, new ACCOUNT_ERR_INVALID_TOKEN());
  });

  app.post('/api/account/email/undo', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: tokenBody, response: { 200: z.object({ status: z.literal('restored') }) } },
  }, async (request, reply) => {
    const result = await emailChanges.undo(request.body.token, context(request));
    if (result.ok) {
      // Every session of the account ended; this browser's cookie goes too when it held one.
      if (request.principal?.id === result.userId) await reply.endSession();
      return { status: 'restored' as const };
    }
    return result.reason === 'limited' ? limited(reply, result, tooMany) : fail(reply, new ACCOUNT_ERR_INVALID_TOKEN());
  });

  app.patch('/api/me', {
    config: { access: 'authenticated', scope: 'account:write', rateLimit: PROFILE_UPDATES },
    schema: { querystring: noQuery, body: profileBody, response: { 200: z.object({ user: userSchema }) } },
  }, async (request, reply) => {
    const user = await accounts.updateProfile(request.principal?.id ?? '', request.body, context(request));
    if (user === null) return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
    return { user };
  });

  app.get('/api/account/export', {
    // Cookie sessions only: a token scoped for the profile must not carry away everything.
    config: { access: 'authenticated', rateLimit: DATA_EXPORTS },
    schema: { querystring: noQuery, response: { 200: z.object({ exportedAt: z.iso.datetime(), userId: z.uuid(), data: app.userData.schema }) } },
  }, async (request, reply) => {
    const userId = request.principal?.id ?? '';
    const data = await app.userData.collect(userId);
    reply.header('content-disposition', 'attachment; filename="rampart-export.json"');
    return { exportedAt: new Date().toISOString(), userId, data };
  });

  return Promise.resolve();
};
