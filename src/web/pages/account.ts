import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { context } from '../../kernel/http.js';
import { EMAIL_CHANGES, PROFILE_UPDATES, type Accounts } from '../../modules/accounts/lifecycle.js';
import { emailSchema, nameSchema } from '../../modules/accounts/schemas.js';
import { passkeyNameSchema } from '../../modules/passkeys/schemas.js';
import type { PasskeysService } from '../../modules/passkeys/service.js';
import type { TokensService } from '../../modules/tokens/service.js';
import { describeUserAgent } from '../user-agent.js';
import { uuidSchema } from '../../security/schema-primitives.js';
import { formBody, textField } from '../forms.js';
import { HTML_RESPONSE, NO_QUERY, SIGNED_IN_PAGE, throttled } from '../page-routes.js';
import { renderPage, seeOther } from '../render.js';

// A sensitive form (step-up): without a fresh proof the browser confirms first, then comes back here.
const SENSITIVE_PAGE = { ...SIGNED_IN_PAGE, stepUp: { returnTo: '/account' } } as const;

export interface AccountPagesOptions {
  readonly accounts: Accounts;
  readonly tokens: TokensService;
  readonly passkeys: PasskeysService;
  readonly passwordMinLength: number;
}

const NOTICES = {
  'password-changed': 'Your password was changed. Every other session ended and your API tokens were revoked.',
  'session-revoked': 'That session was signed out.',
  'others-revoked': 'Every other session was signed out.',
  'token-revoked': 'The token was revoked.',
  'profile-saved': 'Your profile was saved.',
  'email-requested': 'If the new address can be used, a confirmation link is on its way to it. The change takes effect once you open it (within 24 hours).',
  'email-changed': 'Your email address was changed. Your previous address got a link to undo it.',
  'passkey-added': 'The passkey was added: you can sign in with it now.',
  'passkey-renamed': 'The passkey was renamed.',
  'passkey-removed': 'The passkey was removed: it no longer signs you in.',
} as const;
type Notice = keyof typeof NOTICES;
const accountQuery = z.strictObject({ done: z.enum(Object.keys(NOTICES) as [Notice, ...Notice[]]).optional() });

const scopeField = (scope: string) => `scope_${scope.replace(':', '_')}`;
const idForm = formBody({ id: textField(128) });
const passwordForm = formBody({ currentPassword: textField(1024), newPassword: textField(1024) });
const deleteForm = formBody({ password: textField(1024) });
const profileForm = formBody({ displayName: textField(400) });
const emailForm = formBody({ newEmail: textField(320), password: textField(1024) });
const renamePasskeyForm = formBody({ id: textField(128), name: textField(400) });
/** The new-token form: a name, a lifetime and one checkbox per scope of the modules' vocabulary. */
const tokenFormFor = (scopes: readonly string[]) => formBody({
  name: textField(400),
  expiresInDays: z.enum(['7', '30', '90', '365']),
  ...Object.fromEntries(scopes.map((scope) => [scopeField(scope), z.literal('on').optional()])),
});

interface AccountView {
  readonly notice?: string;
  readonly errors?: { readonly password?: string; readonly token?: string; readonly passkey?: string; readonly delete?: string; readonly profile?: string; readonly email?: string };
  readonly newToken?: { readonly name: string; readonly token: string };
}

const userId = (request: FastifyRequest): string => request.principal?.id ?? '';

/**
 * The account page: profile, password change, sessions (revoke one, revoke the others),
 * passkeys (add through passkeys.js and the API; rename, remove), personal API tokens (create,
 * shown once; revoke) and account deletion. Every action is a
 * POST form calling the same service function as the API; after success the browser is sent
 * back to the page (POST/redirect/GET), except a new token, which is shown in the answer
 * itself because it is never stored.
 */
export const accountPages: FastifyPluginAsyncZod<AccountPagesOptions> = (app, { accounts, tokens, passkeys, passwordMinLength }) => {
  const { sessions, scopes: vocabulary } = app;
  const tokenForm = tokenFormFor(vocabulary.all);
  const passwordHint = `At least ${passwordMinLength} characters.`;

  async function render(request: FastifyRequest, reply: FastifyReply, view: AccountView, status = 200): Promise<FastifyReply> {
    const id = userId(request);
    const user = await accounts.findView(id);
    // Gone since authentication (deleted in another tab): nothing to show.
    if (user === null) return seeOther(reply, '/login');
    const currentId = request.session?.id;
    const list = await sessions.list(id);
    const sessionRows = list.map((s) => ({
      id: s.id, current: s.id === currentId, ip: s.ip, browser: describeUserAgent(s.userAgent),
      createdAt: new Date(s.createdAt).toISOString(), lastSeenAt: new Date(s.lastSeenAt).toISOString(),
    }));
    return renderPage(request, reply, 'account', {
      title: 'Your account',
      user,
      sessions: sessionRows,
      tokens: await tokens.listPersonalTokens(id),
      passkeys: await passkeys.list(id),
      pageScript: 'passkeys.js',
      scopes: vocabulary.forRole(user.role),
      passwordHint,
      notice: view.notice ?? '',
      errors: view.errors ?? {},
      newToken: view.newToken ?? null,
    }, { status });
  }

  app.get('/account', { config: SIGNED_IN_PAGE, schema: { querystring: accountQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    return render(request, reply, { notice: request.query.done === undefined ? '' : NOTICES[request.query.done] });
  });

  app.post('/account/password', { config: SENSITIVE_PAGE, schema: { querystring: NO_QUERY, body: passwordForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const { currentPassword, newPassword } = request.body;
    if (currentPassword === '' || newPassword === '') return render(request, reply, { errors: { password: 'Enter your current password and a new one.' } }, 400);
    const result = await accounts.changePassword(userId(request), request.sessionToken ?? '', { currentPassword, newPassword }, context(request));
    if (result.ok) {
      reply.setSessionCookie(result.token);
      await app.stepUp.record(result.token);
      return seeOther(reply, '/account?done=password-changed');
    }
    if (result.reason === 'gone') return seeOther(reply, '/login');
    if (result.reason === 'limited') return render(request, reply, { errors: { password: throttled(reply, result) } }, 429);
    if (result.reason === 'weak_password') return render(request, reply, { errors: { password: result.message } }, 400);
    return render(request, reply, { errors: { password: 'The current password is incorrect.' } }, 403);
  });

  app.post('/account/profile', { config: { ...SIGNED_IN_PAGE, rateLimit: PROFILE_UPDATES }, schema: { querystring: NO_QUERY, body: profileForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const name = nameSchema.safeParse(request.body.displayName);
    if (!name.success) return render(request, reply, { errors: { profile: 'Enter your name (1 to 100 characters).' } }, 400);
    const user = await accounts.updateProfile(userId(request), { displayName: name.data }, context(request));
    return user === null ? seeOther(reply, '/login') : seeOther(reply, '/account?done=profile-saved');
  });

  app.post('/account/email', { config: { ...SENSITIVE_PAGE, rateLimit: EMAIL_CHANGES }, schema: { querystring: NO_QUERY, body: emailForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const email = emailSchema.safeParse(request.body.newEmail);
    if (!email.success || request.body.password === '') return render(request, reply, { errors: { email: 'Enter the new address and your current password.' } }, 400);
    if (!(await reply.spendRateLimit())) return reply;
    const result = await accounts.emailChanges.request(userId(request), { newEmail: email.data, password: request.body.password }, context(request));
    if (result.ok) return seeOther(reply, '/account?done=email-requested');
    if (result.reason === 'gone') return seeOther(reply, '/login');
    if (result.reason === 'limited') return render(request, reply, { errors: { email: throttled(reply, result) } }, 429);
    if (result.reason === 'unchanged') return render(request, reply, { errors: { email: 'That is already the address of your account.' } }, 400);
    return render(request, reply, { errors: { email: 'The password is incorrect.' } }, 403);
  });

  app.post('/account/sessions/revoke', { config: SIGNED_IN_PAGE, schema: { querystring: NO_QUERY, body: idForm, response: HTML_RESPONSE } }, async (request, reply) => {
    // Only the signed-in user's own sessions can be named: the manager looks the id up in their index.
    await sessions.revoke(userId(request), request.body.id);
    return seeOther(reply, '/account?done=session-revoked');
  });

  app.post('/account/sessions/revoke-others', { config: SENSITIVE_PAGE, schema: { querystring: NO_QUERY, body: formBody({}), response: HTML_RESPONSE } }, async (request, reply) => {
    await accounts.revokeOtherSignIns(userId(request), request.sessionToken);
    return seeOther(reply, '/account?done=others-revoked');
  });

  // Someone else's passkey id is "No such passkey", like one that does not exist: the service's queries name the owner.
  const passkeyId = (id: string): string => (uuidSchema.safeParse(id).success ? id.toLowerCase() : '');
  const noSuchPasskey = { errors: { passkey: 'No such passkey.' } };

  app.post('/account/passkeys/rename', { config: SIGNED_IN_PAGE, schema: { querystring: NO_QUERY, body: renamePasskeyForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const id = passkeyId(request.body.id);
    const name = passkeyNameSchema.safeParse(request.body.name);
    if (id === '') return render(request, reply, noSuchPasskey, 404);
    if (!name.success) return render(request, reply, { errors: { passkey: 'Name the passkey (1 to 100 characters), so you can recognise it later.' } }, 400);
    if ((await passkeys.rename(userId(request), id, name.data, context(request))) === null) return render(request, reply, noSuchPasskey, 404);
    return seeOther(reply, '/account?done=passkey-renamed');
  });

  app.post('/account/passkeys/remove', { config: SENSITIVE_PAGE, schema: { querystring: NO_QUERY, body: idForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const id = passkeyId(request.body.id);
    if (id === '' || !(await passkeys.remove(userId(request), id, context(request)))) return render(request, reply, noSuchPasskey, 404);
    return seeOther(reply, '/account?done=passkey-removed');
  });

  app.post('/account/tokens', { config: SENSITIVE_PAGE, schema: { querystring: NO_QUERY, body: tokenForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const principal = request.principal;
    if (principal === null) return seeOther(reply, '/login');
    const body = request.body as Record<string, string | undefined>;
    const scopes = vocabulary.all.filter((scope) => body[scopeField(scope)] === 'on');
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

  app.post('/account/delete', { config: SENSITIVE_PAGE, schema: { querystring: NO_QUERY, body: deleteForm, response: HTML_RESPONSE } }, async (request, reply) => {
    if (request.body.password === '') return render(request, reply, { errors: { delete: 'Enter your password to confirm.' } }, 400);
    const result = await accounts.deleteAccount(userId(request), request.body.password, context(request));
    if (result.ok) {
      await reply.endSession();
      return seeOther(reply, '/login?done=deleted');
    }
    if (result.reason === 'gone') return seeOther(reply, '/login');
    if (result.reason === 'limited') return render(request, reply, { errors: { delete: throttled(reply, result) } }, 429);
    return render(request, reply, { errors: { delete: 'The password is incorrect.' } }, 403);
  });

  return Promise.resolve();
};
