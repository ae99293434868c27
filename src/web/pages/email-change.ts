import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { context } from '../../kernel/http.js';
import type { Accounts } from '../../modules/accounts/lifecycle.js';
import { formBody, textField } from '../forms.js';
import { HTML_RESPONSE, LINK_QUERY, NO_QUERY, PUBLIC_PAGE, throttled, wellFormedToken } from '../page-routes.js';
import { renderPage, seeOther } from '../render.js';

const INVALID_LINK = 'This link is invalid, used or expired.';
const tokenForm = formBody({ token: textField(256) });

const PAGES = {
  confirm: { path: '/confirm-email-change', title: 'Confirm your new email address', text: 'Use this address for your account from now on.', button: 'Confirm my new address' },
  undo: {
    path: '/undo-email-change', title: 'Undo the email change',
    text: 'This restores this address on your account, signs every session out, revokes every API token, and mails this address a link to choose a new password (the old one stops working).',
    button: 'Undo the change',
  },
} as const;

/**
 * The landing pages of the two email-change links. A mailed link only shows a button: a GET
 * never changes state, so a mail scanner that follows links cannot confirm or undo anything.
 */
export const emailChangePages: FastifyPluginAsyncZod<{ readonly accounts: Accounts }> = (app, { accounts }) => {
  for (const kind of ['confirm', 'undo'] as const) {
    const page = PAGES[kind];
    const show = (token: string, error: string) => ({ title: page.title, text: page.text, button: page.button, action: page.path, token, error });

    app.get(page.path, { config: PUBLIC_PAGE, schema: { querystring: LINK_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
      const token = wellFormedToken(request.query.token);
      return renderPage(request, reply, 'email-link', show(token, token === '' ? INVALID_LINK : ''), { form: true, status: token === '' ? 400 : 200 });
    });

    app.post(page.path, { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, body: tokenForm, response: HTML_RESPONSE } }, async (request, reply) => {
      const token = wellFormedToken(request.body.token);
      const result = token === '' ? ({ ok: false, reason: 'invalid_token' } as const) : await accounts.emailChanges[kind](token, context(request));
      if (result.ok) {
        if (kind === 'confirm') return seeOther(reply, request.principal?.id === result.userId ? '/account?done=email-changed' : '/login?done=email-changed');
        // Every session of the account ended; this browser's cookie goes too when it held one.
        if (request.principal?.id === result.userId) await reply.endSession();
        return seeOther(reply, '/login?done=email-restored');
      }
      const error = result.reason === 'limited' ? throttled(reply, result) : INVALID_LINK;
      return renderPage(request, reply, 'email-link', show('', error), { status: result.reason === 'limited' ? 429 : 400 });
    });
  }
  return Promise.resolve();
};
