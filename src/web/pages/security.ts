import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { context } from '../../kernel/http.js';
import { MFA_ERR_INVALID_CODE } from '../../modules/mfa/errors.js';
import { startSecondFactorSession } from '../../modules/mfa/finish.js';
import type { MfaService } from '../../modules/mfa/service.js';
import type { AccountsService } from '../../modules/accounts/service.js';
import { SAFE_FALLBACK, safeNextPath } from '../../security/redirects.js';
import { formBody, textField } from '../forms.js';
import { HTML_RESPONSE, NO_QUERY, PUBLIC_PAGE, SIGNED_IN_PAGE, throttled } from '../page-routes.js';
import { renderPage, seeOther } from '../render.js';
import { secondFactorView } from './second-factor-view.js';

export interface SecurityPagesOptions {
  readonly accounts: AccountsService;
  readonly mfa: MfaService;
}

const INVALID_CODE = new MFA_ERR_INVALID_CODE().message;
const NOTICES = { enabled: 'Two-step verification is on.', disabled: 'Two-step verification is off.' } as const;
type Notice = keyof typeof NOTICES;
// Pages a user may reach before enrolling when the policy requires a second factor.
const ENROLMENT_PAGE = { ...SIGNED_IN_PAGE, mfa: 'enrolment' } as const;
const MANAGE_PAGE = { ...ENROLMENT_PAGE, stepUp: { returnTo: '/account/security' } } as const;

const secondFactorForm = formBody({ challenge: textField(64), code: textField(64), next: textField(4096).optional() });
const confirmQuery = z.strictObject({ next: z.string().max(4096).optional() });
const confirmForm = formBody({ password: textField(1024), code: textField(64).optional(), next: textField(4096).optional() });
const securityQuery = z.strictObject({ next: z.string().max(4096).optional(), done: z.enum(Object.keys(NOTICES) as [Notice, ...Notice[]]).optional() });
// `next`: where the account was going when the policy sent it here (carried through enrolment).
const startForm = formBody({ next: textField(4096).optional() });
const codeForm = formBody({ code: textField(64), next: textField(4096).optional() });

const nextOr = (value: string | undefined, fallback: string): string => {
  const path = safeNextPath(value);
  return path === SAFE_FALLBACK ? fallback : path;
};
const userId = (request: FastifyRequest): string => request.principal?.id ?? '';

/**
 * The second-factor pages: the sign-in's second step, the step-up confirmation page (which
 * returns to `next`) and the account's security page (enrol an authenticator app with a QR code
 * rendered here, activate it, see the recovery codes once, make new ones, turn it off).
 */
export const securityPages: FastifyPluginAsyncZod<SecurityPagesOptions> = (app, { accounts, mfa }) => {
  app.post('/login/second-factor', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: secondFactorForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const ctx = context(request);
    const next = nextOr(request.body.next, '');
    const again = async (error: string, status: number) => {
      const pendingUser = await mfa.pendingUser(request.body.challenge, 'session');
      const methods = pendingUser === null ? [] : await mfa.methodsOf(pendingUser);
      return renderPage(request, reply, 'second-factor', secondFactorView(request.body.challenge, methods, next, error), { form: true, status });
    };
    const result = await mfa.completeSecondFactor(request.body.challenge, 'session', mfa.verifyCode(request.body.code, ctx), ctx);
    if (!result.ok) return result.reason === 'limited' ? again(throttled(reply, result), 429) : again(INVALID_CODE, 401);
    if ((await startSecondFactorSession(reply, accounts, result.pending)) === null) return again(INVALID_CODE, 401);
    return seeOther(reply, next === '' ? '/account' : next);
  });

  async function confirmPage(request: FastifyRequest, reply: FastifyReply, next: string, error = '', status = 200): Promise<FastifyReply> {
    const methods = await mfa.methodsOf(userId(request));
    const passkey = methods.includes('passkey');
    return renderPage(request, reply, 'confirm', { title: 'Confirm it is you', next, totp: methods.includes('totp'), passkey, error, ...(passkey ? { pageScript: 'passkeys.js' } : {}) }, { form: true, status });
  }

  app.get('/account/confirm', { config: ENROLMENT_PAGE, schema: { querystring: confirmQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    return confirmPage(request, reply, nextOr(request.query.next, '/account'));
  });

  app.post('/account/confirm', { config: ENROLMENT_PAGE, schema: { querystring: NO_QUERY, body: confirmForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const ctx = context(request);
    const next = nextOr(request.body.next, '/account');
    const typed = request.body.password;
    const code = (request.body.code ?? '').trim();
    if (typed.length > 0) {
      const confirmed = await accounts.confirmPresence(userId(request), typed, ctx);
      if (confirmed === 'gone') return seeOther(reply, '/login');
      if (confirmed === 'wrong') return confirmPage(request, reply, next, 'The password is incorrect.', 403);
      if (confirmed !== 'ok') return confirmPage(request, reply, next, throttled(reply, confirmed), 429);
      await app.stepUp.grant(request, 'password');
    } else if (code !== '') {
      const confirmed = await mfa.confirmPresence(userId(request), code, ctx);
      if (!confirmed.ok) return confirmed.reason === 'limited' ? confirmPage(request, reply, next, throttled(reply, confirmed), 429) : confirmPage(request, reply, next, INVALID_CODE, 401);
      await app.stepUp.grant(request, confirmed.method);
    } else {
      return confirmPage(request, reply, next, 'Enter your password or a code.', 400);
    }
    return seeOther(reply, next);
  });

  async function securityPage(request: FastifyRequest, reply: FastifyReply, view: Record<string, unknown>, status = 200): Promise<FastifyReply> {
    const status_ = await mfa.status(userId(request));
    return renderPage(request, reply, 'security', { title: 'Two-step verification', status: status_, notice: '', error: '', required: false, next: '', continueTo: '', ...view }, { form: true, status });
  }

  app.get('/account/security', { config: ENROLMENT_PAGE, schema: { querystring: securityQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    const next = nextOr(request.query.next, '');
    return securityPage(request, reply, { required: request.query.next !== undefined, next, notice: request.query.done === undefined ? '' : NOTICES[request.query.done] });
  });

  app.post('/account/security/totp', { config: MANAGE_PAGE, schema: { querystring: NO_QUERY, body: startForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const next = nextOr(request.body.next, '');
    const user = await accounts.findView(userId(request));
    if (user === null) return seeOther(reply, '/login');
    const started = await mfa.beginTotp(user.id, user.email);
    if (!started.ok) return securityPage(request, reply, { error: 'An authenticator app is already set up.', next }, 409);
    // The page CSP allows data: images; the SVG is rendered here, so the secret reaches no other service.
    const qrDataUri = `data:image/svg+xml;base64,${Buffer.from(started.qrSvg, 'utf8').toString('base64')}`;
    return securityPage(request, reply, { enrolment: { secret: started.secret, qrDataUri }, next });
  });

  app.post('/account/security/totp/activate', { config: MANAGE_PAGE, schema: { querystring: NO_QUERY, body: codeForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const next = nextOr(request.body.next, '');
    const result = await mfa.activateTotp(userId(request), request.body.code, context(request));
    if (!result.ok) {
      const error = result.reason === 'limited' ? throttled(reply, result) : 'The code does not match: start again and check the app and its clock.';
      return securityPage(request, reply, { error, next }, result.reason === 'limited' ? 429 : 400);
    }
    // The codes are shown once: the way back to `next` is a link on this page, never a redirect past them.
    return securityPage(request, reply, { notice: NOTICES.enabled, recoveryCodes: result.recoveryCodes, continueTo: next });
  });

  app.post('/account/security/recovery-codes', { config: MANAGE_PAGE, schema: { querystring: NO_QUERY, body: formBody({}), response: HTML_RESPONSE } }, async (request, reply) => {
    const result = await mfa.regenerateRecoveryCodes(userId(request), context(request));
    if (!result.ok) return securityPage(request, reply, { error: 'Two-step verification is off.' }, 409);
    return securityPage(request, reply, { notice: 'New recovery codes: the old ones no longer work.', recoveryCodes: result.recoveryCodes });
  });

  app.post('/account/security/totp/disable', { config: MANAGE_PAGE, schema: { querystring: NO_QUERY, body: formBody({}), response: HTML_RESPONSE } }, async (request, reply) => {
    await mfa.disableTotp(userId(request), context(request));
    return seeOther(reply, '/account/security?done=disabled');
  });

  return Promise.resolve();
};
