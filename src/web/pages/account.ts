import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { context } from '../../modules/accounts/routes.js';
import type { AccountsService } from '../../modules/accounts/service.js';
import { endBrowserSession } from '../../modules/accounts/sign-in.js';
import { scopesForRole, SCOPES } from '../../modules/tokens/scopes.js';
import type { TokensService } from '../../modules/tokens/service.js';
import type { SessionManager } from '../../security/sessions.js';
import { formBody, textField } from '../forms.js';
import { HTML_RESPONSE, NO_QUERY, SIGNED_IN_PAGE, throttled } from '../page-routes.js';
import { renderPage, seeOther } from '../render.js';

export interface AccountPagesOptions {
  readonly accounts: AccountsService;
  readonly sessions: SessionManager;
  readonly tokens: TokensService;
  readonly passwordMinLength: number;
}

const NOTICES = {
  'password-changed': 'Your password was changed. Every other session ended and your API tokens were revoked.',
  'session-revoked': 'That session was signed out.',
  'others-revoked': 'Every other session was signed out.',
  'token-revoked': 'The token was revoked.',
} as const;
type Notice = keyof typeof NOTICES;
const accountQuery = z.strictObject({ done: z.enum(Object.keys(NOTICES) as [Notice, ...Notice[]]).optional() });

const scopeField = (scope: string) => `scope_${scope.replace(':', '_')}`;
const idForm = formBody({ id: textField(128) });
const passwordForm = formBody({ currentPassword: textField(1024), newPassword: textField(1024) });
const deleteForm = formBody({ password: textField(1024) });
const tokenForm = formBody({
  name: textField(400),
  expiresInDays: z.enum(['7', '30', '90', '365']),
  ...Object.fromEntries(SCOPES.map((scope) => [scopeField(scope), z.literal('on').optional()])),
});

interface AccountView {
  readonly notice?: string;
  readonly errors?: { readonly password?: string; readonly token?: string; readonly delete?: string };
  readonly newToken?: { readonly name: string; readonly token: string };
}

const userId = (request: FastifyRequest): string => request.principal?.id ?? '';

/**
 * The account page: profile, password change, sessions (revoke one, revoke the others),
 * personal API tokens (create, shown once; revoke) and account deletion. Every action is a
 * POST form calling the same service function as the API; after success the browser is sent
 * back to the page (POST/redirect/GET), except a new token, which is shown in the answer
 * itself because it is never stored.
 */
export const accountPages: FastifyPluginAsyncZod<AccountPagesOptions> = (app, { accounts, sessions, tokens, passwordMinLength }) => {
  const passwordHint = `At least ${passwordMinLength} characters.`;

  async function render(request: FastifyRequest, reply: FastifyReply, view: AccountView, status = 200): Promise<FastifyReply> {
    const id = userId(request);
    const user = await accounts.findView(id);
    // Gone since authentication (deleted in another tab): nothing to show.
    if (user === null) return seeOther(reply, '/login');
    const currentId = request.session?.id;
    const list = await sessions.list(id);
    const sessionRows = list.map((s) => ({
      id: s.id, current: s.id === currentId, ip: s.ip, userAgent: s.userAgent,
      createdAt: new Date(s.createdAt).toISOString(), lastSeenAt: new Date(s.lastSeenAt).toISOString(),
    }));
    return renderPage(request, reply, 'account', {
      title: 'Your account',
      user,
      sessions: sessionRows,
      tokens: await tokens.listPersonalTokens(id),
      scopes: scopesForRole(user.role),
      passwordHint,
      notice: view.notice ?? '',
      errors: view.errors ?? {},
      newToken: view.newToken ?? null,
    }, { status });
  }

  app.get('/account', { config: SIGNED_IN_PAGE, schema: { querystring: accountQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    return render(request, reply, { notice: request.query.done === undefined ? '' : NOTICES[request.query.done] });
  });

  app.post('/account/password', { config: SIGNED_IN_PAGE, schema: { querystring: NO_QUERY, body: passwordForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const { currentPassword, newPassword } = request.body;
    if (currentPassword === '' || newPassword === '') return render(request, reply, { errors: { password: 'Enter your current password and a new one.' } }, 400);
    const result = await accounts.changePassword(userId(request), request.sessionToken ?? '', { currentPassword, newPassword }, context(request));
    if (result.ok) {
      reply.setSessionCookie(result.token);
      return seeOther(reply, '/account?done=password-changed');
    }
    if (result.reason === 'gone') return seeOther(reply, '/login');
    if (result.reason === 'limited') return render(request, reply, { errors: { password: throttled(reply, result) } }, 429);
    if (result.reason === 'weak_password') return render(request, reply, { errors: { password: result.message } }, 400);
    return render(request, reply, { errors: { password: 'The current password is incorrect.' } }, 403);
  });

  app.post('/account/sessions/revoke', { config: SIGNED_IN_PAGE, schema: { querystring: NO_QUERY, body: idForm, response: HTML_RESPONSE } }, async (request, reply) => {
    // Only the signed-in user's own sessions can be named: the manager looks the id up in their index.
    await sessions.revoke(userId(request), request.body.id);
    return seeOther(reply, '/account?done=session-revoked');
  });

  app.post('/account/sessions/revoke-others', { config: SIGNED_IN_PAGE, schema: { querystring: NO_QUERY, body: formBody({}), response: HTML_RESPONSE } }, async (request, reply) => {
    await accounts.revokeOtherSignIns(userId(request), request.sessionToken);
    return seeOther(reply, '/account?done=others-revoked');
  });

  app.post('/account/tokens', { config: SIGNED_IN_PAGE, schema: { querystring: NO_QUERY, body: tokenForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const principal = request.principal;
    if (principal === null) return seeOther(reply, '/login');
    const body = request.body as Record<string, string | undefined>;
    const scopes = SCOPES.filter((scope) => body[scopeField(scope)] === 'on');
    const name = request.body.name.trim().normalize('NFC');
    if (name === '' || name.length > 100) return render(request, reply, { errors: { token: 'Name the token (1 to 100 characters), so you can recognise it later.' } }, 400);
    if (scopes.length === 0) return render(request, reply, { errors: { token: 'Choose at least one scope.' } }, 400);
    const created = await tokens.createPersonalToken(principal, { name, scopes, expiresInDays: Number(request.body.expiresInDays) }, context(request).audit);
    if (!created.ok) {
      const message = created.reason === 'scope' ? 'Your role does not allow one of those scopes.' : 'You have too many tokens: revoke one first.';
      return render(request, reply, { errors: { token: message } }, 400);
    }
    return render(request, reply, { newToken: { name: created.view.name, token: created.token } }, 201);
  });

  app.post('/account/tokens/revoke', { config: SIGNED_IN_PAGE, schema: { querystring: NO_QUERY, body: idForm, response: HTML_RESPONSE } }, async (request, reply) => {
    await tokens.revokePersonalToken(userId(request), request.body.id, context(request).audit);
    return seeOther(reply, '/account?done=token-revoked');
  });

  app.post('/account/delete', { config: SIGNED_IN_PAGE, schema: { querystring: NO_QUERY, body: deleteForm, response: HTML_RESPONSE } }, async (request, reply) => {
    if (request.body.password === '') return render(request, reply, { errors: { delete: 'Enter your password to confirm.' } }, 400);
    const result = await accounts.deleteAccount(userId(request), request.body.password, context(request));
    if (result.ok) {
      await endBrowserSession(request, reply, sessions);
      return seeOther(reply, '/login?done=deleted');
    }
    if (result.reason === 'gone') return seeOther(reply, '/login');
    if (result.reason === 'limited') return render(request, reply, { errors: { delete: throttled(reply, result) } }, 429);
    return render(request, reply, { errors: { delete: 'The password is incorrect.' } }, 403);
  });

  return Promise.resolve();
};
