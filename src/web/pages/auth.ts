import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUTH_ERR_INVALID_CREDENTIALS } from '../../modules/accounts/errors.js';
import { context } from '../../kernel/http.js';
import { emailSchema, nameSchema } from '../../modules/accounts/schemas.js';
import type { Accounts } from '../../modules/accounts/lifecycle.js';
import { SAFE_FALLBACK, safeNextPath } from '../../security/redirects.js';
import { formBody, textField } from '../forms.js';
import { HTML_RESPONSE, LINK_QUERY, NO_QUERY, PUBLIC_PAGE, throttled, wellFormedToken } from '../page-routes.js';
import { renderPage, seeOther } from '../render.js';
import { secondFactorView } from './second-factor-view.js';

export interface AuthPagesOptions {
  readonly accounts: Accounts;
  readonly passwordMinLength: number;
}

// The API's words: one answer whatever was wrong, naming what a person can do about it.
const INVALID_CREDENTIALS = new AUTH_ERR_INVALID_CREDENTIALS().message;
const INVALID_LINK = 'This link is invalid or has expired. Request a new one.';
const NOTICES = {
  'signed-out': 'You are signed out.',
  verified: 'Your email address is confirmed: sign in.',
  'password-reset': 'Your password was changed and every session ended: sign in with the new one.',
  deleted: 'Your account was deleted.',
  'admin-created': 'The administrator account exists: sign in.',
  'email-changed': 'Your new email address is confirmed: sign in with it.',
  'email-restored': 'Your previous email address is back, and every session was signed out. We mailed it a link to choose a new password: the old one no longer works.',
} as const;
const REGISTERED = 'We sent a message to the address you gave. Open its confirmation link within 24 hours to activate your account.';
const RESEND_SENT = [
  'If that address has an account waiting for confirmation, a new link is on its way. It works once, within 24 hours.',
  'If the address is already confirmed, its mail says so instead: sign in, or reset your password if you have forgotten it.',
];
const RESET_SENT = 'If that address has an account, a link to choose a new password is on its way. It works once, within 30 minutes.';
/** The page a form redirects to once it is sent (POST/redirect/GET). */
const SENT_QUERY = z.strictObject({ done: z.literal('sent').optional() });
const noticeQuery = z.strictObject({ done: z.enum(Object.keys(NOTICES) as [keyof typeof NOTICES, ...(keyof typeof NOTICES)[]]).optional(), next: z.string().max(4096).optional() });

const loginForm = formBody({ email: textField(320), password: textField(1024), next: textField(4096).optional() });
const registerForm = formBody({ name: textField(400), email: textField(320), password: textField(1024) });
const tokenForm = formBody({ token: textField(256) });
const forgotForm = formBody({ email: textField(320) });
const resendForm = formBody({ email: textField(320) });
const resetForm = formBody({ token: textField(256), password: textField(1024) });
const setupForm = formBody({ token: textField(256), name: textField(400), email: textField(320), password: textField(1024) });

type Fields = Record<string, string | undefined>;

/**
 * Where to go after signing in: a same-origin path that passed `safeNextPath`, or '' for the
 * default (the account page). Anything that could leave the origin becomes ''.
 */
function nextPath(value: string | undefined): string {
  if (value === undefined || value === '') return '';
  const path = safeNextPath(value);
  return path === SAFE_FALLBACK ? '' : path;
}

/** Name and email checked as the API checks them; the messages say how to fix each. */
function checkIdentity(input: { name: string; email: string }): { errors: Fields; name: string; email: string } {
  const errors: Fields = {};
  const name = nameSchema.safeParse(input.name);
  const email = emailSchema.safeParse(input.email);
  if (!name.success) errors.name = 'Enter your name (1 to 100 characters).';
  if (!email.success) errors.email = 'Enter a valid email address, such as ada@example.com.';
  return { errors, name: name.success ? name.data : '', email: email.success ? email.data : '' };
}

/**
 * Sign-in, registration, email verification, password recovery, first-run setup and sign-out
 * pages. Each calls the same service functions as the JSON API (same throttles, events and
 * uniform answers); forms post urlencoded with the CSRF token in `_csrf`, and a refused form
 * is rendered again with its message, never with the password.
 */
export const authPages: FastifyPluginAsyncZod<AuthPagesOptions> = (app, { accounts, passwordMinLength }) => {
  const passwordHint = `At least ${passwordMinLength} characters. A few unrelated words make a strong, memorable password.`;

  app.get('/login', { config: PUBLIC_PAGE, schema: { querystring: noticeQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    const next = nextPath(request.query.next);
    if (request.principal !== null) return seeOther(reply, next === '' ? '/account' : next);
    const notice = request.query.done === undefined ? '' : NOTICES[request.query.done];
    return renderPage(request, reply, 'login', { title: 'Sign in', notice, email: '', next, pageScript: 'passkeys.js' }, { form: true });
  });

  app.post('/login', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: loginForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const email = emailSchema.safeParse(request.body.email);
    const echo = request.body.email.slice(0, 254);
    const next = nextPath(request.body.next);
    if (!email.success || request.body.password === '') {
      return renderPage(request, reply, 'login', { title: 'Sign in', error: 'Enter your email address and password.', email: echo, next, pageScript: 'passkeys.js' }, { form: true, status: 400 });
    }
    const result = await accounts.login({ email: email.data, password: request.body.password }, context(request));
    if (!result.ok) {
      if (result.reason === 'limited') return renderPage(request, reply, 'login', { title: 'Sign in', error: throttled(reply, result), email: echo, next, pageScript: 'passkeys.js' }, { form: true, status: 429 });
      return renderPage(request, reply, 'login', { title: 'Sign in', error: INVALID_CREDENTIALS, email: echo, next, pageScript: 'passkeys.js' }, { form: true, status: 401 });
    }
    // An account with a second factor: no session yet, the second-factor page continues the sign-in.
    const challenge = await app.identity.challengeSecondFactor({ userId: result.user.id, purpose: 'session', fingerprint: result.fingerprint });
    if (challenge !== null) return renderPage(request, reply, 'second-factor', secondFactorView(challenge.id, challenge.methods, next, ''), { form: true });
    if (!(await reply.startSession(result.user.id, { stillValid: result.stillValid }))) {
      return renderPage(request, reply, 'login', { title: 'Sign in', error: INVALID_CREDENTIALS, email: echo, next, pageScript: 'passkeys.js' }, { form: true, status: 401 });
    }
    await accounts.devices.signedIn(request, reply, result.user.id, 'password');
    return seeOther(reply, next === '' ? '/account' : next);
  });

  app.post('/logout', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: formBody({}), response: HTML_RESPONSE } }, async (request, reply) => {
    await reply.endSession();
    return seeOther(reply, '/login?done=signed-out');
  });

  app.get('/register', { config: PUBLIC_PAGE, schema: { querystring: SENT_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
    // After a registration (POST/redirect/GET): the same page whether or not the address already had an account.
    if (request.query.done === 'sent') {
      return renderPage(request, reply, 'message', {
        title: 'Check your email',
        paragraphs: [REGISTERED, 'No mail after a few minutes? Look in your spam folder, or have a new link sent.'],
        link: { href: '/verify-email/resend', label: 'Send a new link' },
      });
    }
    return renderPage(request, reply, 'register', { title: 'Create an account', values: {}, errors: {}, passwordHint }, { form: true });
  });

  app.post('/register', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: registerForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const values = { name: request.body.name.slice(0, 100), email: request.body.email.slice(0, 254) };
    const render = (errors: Fields, status: number, error = '') => renderPage(request, reply, 'register', { title: 'Create an account', values, errors, error, passwordHint }, { form: true, status });
    const identity = checkIdentity(request.body);
    if (Object.keys(identity.errors).length > 0) return render(identity.errors, 400);
    const result = await accounts.register({ name: identity.name, email: identity.email, password: request.body.password }, context(request));
    if (!result.ok) {
      if (result.reason === 'limited') return render({}, 429, throttled(reply, result));
      return render({ password: result.message }, 400);
    }
    // The same answer whether or not the address already had an account: registration tells no
    // one who is registered. A redirect, so reloading the page never registers again.
    return seeOther(reply, '/register?done=sent');
  });

  // The mailed link only shows a button: a GET never changes state, so a mail scanner that
  // follows links cannot confirm (or spend) the token.
  app.get('/verify-email', { config: PUBLIC_PAGE, schema: { querystring: LINK_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
    const token = wellFormedToken(request.query.token);
    return renderPage(request, reply, 'verify-email', { title: 'Confirm your email', token, error: token === '' ? INVALID_LINK : '' }, { form: true, status: token === '' ? 400 : 200 });
  });

  app.post('/verify-email', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: tokenForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const token = wellFormedToken(request.body.token);
    const result = token === '' ? ({ ok: false, reason: 'invalid_token' } as const) : await accounts.verifyEmail(token, context(request));
    if (result.ok) return seeOther(reply, '/login?done=verified');
    const error = result.reason === 'limited' ? throttled(reply, result) : INVALID_LINK;
    return renderPage(request, reply, 'verify-email', { title: 'Confirm your email', token: '', error }, { status: result.reason === 'limited' ? 429 : 400 });
  });

  app.get('/verify-email/resend', { config: PUBLIC_PAGE, schema: { querystring: SENT_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
    // After a request (POST/redirect/GET): the same answer for every address; whether it has an
    // account, or a confirmed one, shows only in its mailbox.
    if (request.query.done === 'sent') return renderPage(request, reply, 'message', { title: 'Check your email', paragraphs: RESEND_SENT, link: { href: '/login', label: 'Sign in' } });
    return renderPage(request, reply, 'resend-verification', { title: 'Send a new confirmation link', email: '' }, { form: true });
  });

  app.post('/verify-email/resend', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: resendForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const email = emailSchema.safeParse(request.body.email);
    const echo = request.body.email.slice(0, 254);
    const render = (error: string, status: number) => renderPage(request, reply, 'resend-verification', { title: 'Send a new confirmation link', email: echo, error }, { form: true, status });
    if (!email.success) return render('Enter a valid email address.', 400);
    const result = await accounts.resendVerification(email.data, context(request));
    if (!result.ok) return render(throttled(reply, result), 429);
    return seeOther(reply, '/verify-email/resend?done=sent');
  });

  app.get('/forgot-password', { config: PUBLIC_PAGE, schema: { querystring: SENT_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
    if (request.query.done === 'sent') return renderPage(request, reply, 'message', { title: 'Check your email', paragraphs: [RESET_SENT] });
    return renderPage(request, reply, 'forgot-password', { title: 'Reset your password', email: '' }, { form: true });
  });

  app.post('/forgot-password', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: forgotForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const email = emailSchema.safeParse(request.body.email);
    const echo = request.body.email.slice(0, 254);
    if (!email.success) return renderPage(request, reply, 'forgot-password', { title: 'Reset your password', email: echo, error: 'Enter a valid email address.' }, { form: true, status: 400 });
    const result = await accounts.requestPasswordReset(email.data, context(request));
    if (!result.ok) return renderPage(request, reply, 'forgot-password', { title: 'Reset your password', email: echo, error: throttled(reply, result) }, { form: true, status: 429 });
    // The same answer for every address: whether a mail went out is never visible here.
    return seeOther(reply, '/forgot-password?done=sent');
  });

  app.get('/reset-password', { config: PUBLIC_PAGE, schema: { querystring: LINK_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
    const token = wellFormedToken(request.query.token);
    return renderPage(request, reply, 'reset-password', { title: 'Choose a new password', token, passwordHint, error: token === '' ? INVALID_LINK : '' }, { form: true, status: token === '' ? 400 : 200 });
  });

  app.post('/reset-password', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: resetForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const token = wellFormedToken(request.body.token);
    const result = token === '' ? ({ ok: false, reason: 'invalid_token' } as const) : await accounts.confirmPasswordReset({ token, password: request.body.password }, context(request));
    if (result.ok) return seeOther(reply, '/login?done=password-reset');
    const render = (data: Fields, status: number) => renderPage(request, reply, 'reset-password', { title: 'Choose a new password', passwordHint, token: '', error: '', passwordError: '', ...data }, { form: true, status });
    // A rejected password keeps the link usable: the form comes back with the token.
    if (result.reason === 'weak_password') return render({ token, passwordError: result.message }, 400);
    if (result.reason === 'limited') return render({ error: throttled(reply, result) }, 429);
    return render({ error: INVALID_LINK }, 400);
  });

  app.get('/setup', { config: PUBLIC_PAGE, schema: { querystring: LINK_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
    const token = wellFormedToken(request.query.token);
    return renderPage(request, reply, 'setup', { title: 'Create the administrator', token, values: {}, errors: {}, passwordHint, error: token === '' ? 'This setup link is invalid.' : '' }, { form: true, status: token === '' ? 400 : 200 });
  });

  app.post('/setup', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: setupForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const token = wellFormedToken(request.body.token);
    const values = { name: request.body.name.slice(0, 100), email: request.body.email.slice(0, 254) };
    const render = (data: { errors?: Fields; error?: string; token?: string }, status: number) => renderPage(request, reply, 'setup', { title: 'Create the administrator', token, values, errors: {}, passwordHint, ...data }, { form: true, status });
    const identity = checkIdentity(request.body);
    if (Object.keys(identity.errors).length > 0) return render({ errors: identity.errors }, 400);
    const result = token === ''
      ? ({ ok: false, reason: 'invalid_token' } as const)
      : await accounts.setupAdministrator({ token, name: identity.name, email: identity.email, password: request.body.password }, context(request));
    if (result.ok) return seeOther(reply, '/login?done=admin-created');
    if (result.reason === 'weak_password') return render({ errors: { password: result.message } }, 400);
    if (result.reason === 'email_taken') return render({ errors: { email: 'That email already has an account; use another for the administrator.' } }, 409);
    return render({ token: '', error: 'This setup link is invalid, used or expired. Restart Rampart to print a new one.' }, 400);
  });

  return Promise.resolve();
};
