import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Problem, ProblemPageRenderer } from '../security/problem-details.js';
import { type AssetTable, loadAssets, staticRoutes, VIEWS_DIR } from './assets.js';
import { addFormParser } from './forms.js';
import { accountPages } from './pages/account.js';
import { authPages } from './pages/auth.js';
import { adminPages } from './pages/admin.js';
import { apiDocsPages } from './pages/api-docs.js';
import { editorPages } from './pages/editor.js';
import { emailChangePages } from './pages/email-change.js';
import { postPages } from './pages/posts.js';
import { securityDashboardPages } from './pages/security-dashboard.js';
import { securityPages } from './pages/security.js';
import type { PublishingPagesOptions } from './publishing.js';
import { safeNextPath } from '../security/redirects.js';
import { layoutData } from './render.js';

export interface WebOptions {
  /** Compile each template once and keep it (default true); development turns it off to pick up edits. */
  readonly cacheTemplates?: boolean;
}

const ERROR_HEADINGS: Readonly<Record<number, string>> = {
  400: 'Bad request',
  403: 'Forbidden',
  404: 'Page not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Too large',
  415: 'Unsupported form',
  429: 'Too many requests',
  500: 'Something went wrong',
  503: 'Temporarily unavailable',
};

/**
 * Error pages: the problem's own vocabulary (title, status, code, trace id) as HTML. A page
 * that needs a signed-in user sends a signed-out visitor to the sign-in page instead of a 401.
 */
function problemPage(eta: Eta, assets: AssetTable): ProblemPageRenderer {
  return (reply: FastifyReply, problem: Problem) => {
    if (problem.status === 401) {
      // Back to this page after signing in, when it is one a GET can return to.
      const request = reply.request;
      const next = request.method === 'GET' ? safeNextPath(request.url) : '/';
      return reply.redirect(next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`, 303);
    }
    const retryAfter = reply.getHeader('retry-after');
    const heading = ERROR_HEADINGS[problem.status] ?? (problem.status >= 500 ? 'Something went wrong' : 'Request refused');
    const html = eta.render('./error', { ...layoutData(reply.request, assets, heading, ''), problem, retryAfter: typeof retryAfter === 'string' ? retryAfter : '' });
    return reply.code(problem.status).type('text/html; charset=utf-8').send(html);
  };
}

/**
 * The browser surface: server-rendered pages (eta through @fastify/view, every interpolation
 * escaped), fingerprinted static files, urlencoded forms in this scope only, and HTML error
 * pages for page requests. The pages use the same services as the API, from the modules'
 * decorators. Further pages register here, after the ones below.
 */
export const webPlugin: FastifyPluginAsync<WebOptions> = async (app, options) => {
  const assets = loadAssets();
  app.decorate('webAssets', assets);
  // autoEscape is eta's default; set here so no configuration change can turn it off silently.
  const eta = new Eta({ views: VIEWS_DIR, autoEscape: true, cache: options.cacheTemplates ?? true, defaultExtension: '.eta' });
  await app.register(fastifyView, { engine: { eta }, templates: VIEWS_DIR, production: options.cacheTemplates ?? true, viewExt: 'eta' });
  app.setProblemPageRenderer(problemPage(eta, assets));
  addFormParser(app);

  const publishing: PublishingPagesOptions = { posts: app.posts, comments: app.comments.repository, renderer: app.contentRenderer, commentCursors: app.comments.cursors, admin: app.admin };
  const passwordMinLength = app.config.passwords.minLength;
  await app.register(staticRoutes, { assets });
  await app.register(postPages, publishing);
  await app.register(editorPages, publishing);
  await app.register(adminPages, publishing);
  await app.register(securityDashboardPages, { alerts: app.alerts });
  await app.register(authPages, { accounts: app.accounts, passwordMinLength });
  await app.register(accountPages, { accounts: app.accounts, tokens: app.tokens, passkeys: app.passkeys, passwordMinLength });
  await app.register(emailChangePages, { accounts: app.accounts });
  await app.register(securityPages, { accounts: app.accounts, mfa: app.mfa });
  await app.register(apiDocsPages);
};
