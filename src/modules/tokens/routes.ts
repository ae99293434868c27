import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { context, fail, limited, noQuery, secondFactorRequired } from '../../kernel/http.js';
import { AUTH_ERR_UNAUTHENTICATED } from '../../security/errors.js';
import { AUTH_ERR_INVALID_CREDENTIALS, AUTH_ERR_LOCKED } from '../accounts/errors.js';
import { TOKEN_ERR_INVALID_GRANT, TOKEN_ERR_INVALID_SCOPE, TOKEN_ERR_LIMIT, TOKEN_ERR_NOT_FOUND } from './errors.js';
import {
  createdPersonalTokenSchema, createPersonalTokenBody, jwksSchema, passwordGrantBody, personalTokenParams, personalTokenSchema,
  refreshBody, revokeBody, tokenResponse,
} from './schemas.js';
import type { TokenPair, TokensService } from './service.js';

export interface TokensRoutesOptions {
  readonly tokens: TokensService;
}

// The token endpoints set no cookie and read none: a cross-site page can make the browser
// send them, but it cannot read the answer, and the body carries the credential. So they
// need no CSRF token (a script has none to send), as RFC 6749 clients expect.
const TOKEN_ENDPOINT = { access: 'public', csrf: false } as const;

function sendPair(reply: FastifyReply, pair: TokenPair): TokenPair {
  // RFC 6749 §5.1: token responses are never cached.
  reply.header('cache-control', 'no-store');
  reply.header('pragma', 'no-cache');
  return pair;
}

/** The API token endpoints, JWKS, and personal access tokens under /api/account/tokens. */
export const tokensRoutes: FastifyPluginAsyncZod<TokensRoutesOptions> = (app, { tokens }) => {
  const { accounts, signingKeys: keys } = app;
  app.post('/api/auth/token', {
    config: TOKEN_ENDPOINT,
    schema: { querystring: noQuery, body: passwordGrantBody, response: { 200: tokenResponse } },
  }, async (request, reply) => {
    const ctx = context(request);
    // The login's own check: same throttle, same uniform answers, same events.
    const checked = await accounts.checkCredentials({ email: request.body.email, password: request.body.password }, ctx, { via: 'token' });
    if (!checked.ok) {
      return checked.reason === 'limited' ? limited(reply, checked, new AUTH_ERR_LOCKED()) : fail(reply, new AUTH_ERR_INVALID_CREDENTIALS());
    }
    // An account with a second factor gets no pair yet: a single-use challenge continues at
    // POST /api/auth/token/second-factor (the mfa module).
    const challenge = await app.identity.challengeSecondFactor({
      userId: checked.user.id, purpose: 'token', fingerprint: accounts.credentialsFingerprint(checked.user),
      ...(request.body.scope === undefined ? {} : { scope: request.body.scope }),
    });
    if (challenge !== null) return secondFactorRequired(reply, challenge);
    // A password reset that lands while this request runs must not leave it with a pair.
    const pair = await tokens.issueForUser(checked.user, request.body.scope, ctx.audit, () => accounts.credentialsUnchanged(checked.user));
    if (pair === 'invalid_scope') return fail(reply, new TOKEN_ERR_INVALID_SCOPE());
    if (pair === 'revoked') return fail(reply, new AUTH_ERR_INVALID_CREDENTIALS());
    // No cookie here: the client's User-Agent and network stand for its device.
    await accounts.devices.signedIn(request, null, checked.user.id, 'token');
    return sendPair(reply, pair);
  });

  app.post('/api/auth/token/refresh', {
    config: TOKEN_ENDPOINT,
    schema: { querystring: noQuery, body: refreshBody, response: { 200: tokenResponse } },
  }, async (request, reply) => {
    const pair = await tokens.refresh(request.body.refresh_token, context(request).audit);
    if (pair === null) return fail(reply, new TOKEN_ERR_INVALID_GRANT());
    return sendPair(reply, pair);
  });

  app.post('/api/auth/token/revoke', {
    config: TOKEN_ENDPOINT,
    schema: { querystring: noQuery, body: revokeBody, response: { 200: z.object({ status: z.literal('revoked') }) } },
  }, async (request) => {
    // RFC 7009: the same answer whether the token existed, so revocation is no token oracle.
    await tokens.revoke(request.body.token, context(request).audit);
    return { status: 'revoked' as const };
  });

  app.get('/.well-known/jwks.json', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: jwksSchema } },
  }, async (_request, reply) => {
    // Short, so a new key reaches verifiers long before its tokens are refused for want of it.
    reply.header('cache-control', 'public, max-age=60');
    return { keys: [...(await keys.jwks()).keys] };
  });

  // Creating and listing personal tokens needs a browser session: a token must not mint
  // longer-lived tokens for itself.
  app.get('/api/account/tokens', {
    config: { access: 'authenticated' },
    schema: { querystring: noQuery, response: { 200: z.object({ tokens: z.array(personalTokenSchema) }) } },
  }, async (request) => ({ tokens: await tokens.listPersonalTokens(request.principal?.id ?? '') }));

  app.post('/api/account/tokens', {
    config: { access: 'authenticated', stepUp: true },
    schema: { querystring: noQuery, body: createPersonalTokenBody(app.scopes.all), response: { 201: createdPersonalTokenSchema } },
  }, async (request, reply) => {
    const principal = request.principal;
    if (principal === null) return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
    const created = await tokens.createPersonalToken(principal, request.body, context(request).audit);
    if (!created.ok) return fail(reply, created.reason === 'scope' ? new TOKEN_ERR_INVALID_SCOPE() : new TOKEN_ERR_LIMIT());
    return reply.code(201).send({ ...created.view, token: created.token });
  });

  app.delete('/api/account/tokens/:id', {
    config: { access: 'authenticated', scope: 'account:write' },
    schema: { querystring: noQuery, params: personalTokenParams, response: { 204: z.null() } },
  }, async (request, reply) => {
    const revoked = await tokens.revokePersonalToken(request.principal?.id ?? '', request.params.id, context(request).audit);
    if (!revoked) return fail(reply, new TOKEN_ERR_NOT_FOUND());
    return reply.code(204).send(null);
  });

  return Promise.resolve();
};
