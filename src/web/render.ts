import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../security/authentication.js';
import type { AssetTable } from './assets.js';

/** One link of the site navigation. */
export interface NavLink {
  readonly href: string;
  readonly label: string;
  /** Who sees it: everyone, only signed-out visitors, signed-in users, or users with one of these roles. */
  readonly show: 'always' | 'anonymous' | 'signed-in' | { readonly roles: readonly string[] };
}

/**
 * The site navigation, in order. Later pages add their entry here (`{ href: '/posts/new',
 * label: 'Write', show: 'signed-in' }`, `{ href: '/admin', label: 'Admin', show: { roles: ['admin'] } }`).
 * Sign out is a form in the layout, not a link: it changes state, so it is a POST.
 */
export const NAVIGATION: readonly NavLink[] = [
  { href: '/', label: 'Home', show: 'always' },
  { href: '/posts/new', label: 'Write', show: 'signed-in' },
  { href: '/posts/mine', label: 'My posts', show: 'signed-in' },
  { href: '/admin', label: 'Admin', show: { roles: ['admin'] } },
  { href: '/account', label: 'Account', show: 'signed-in' },
  { href: '/login', label: 'Sign in', show: 'anonymous' },
  { href: '/register', label: 'Register', show: 'anonymous' },
];

/** The links `principal` sees, with the current one marked (`aria-current="page"`). */
export function navigationFor(principal: Pick<Principal, 'role'> | null, currentPath: string): { href: string; label: string; current: boolean }[] {
  return NAVIGATION.filter((link) => {
    if (link.show === 'always') return true;
    if (link.show === 'anonymous') return principal === null;
    if (link.show === 'signed-in') return principal !== null;
    return principal !== null && link.show.roles.includes(principal.role);
  }).map((link) => ({ href: link.href, label: link.label, current: link.href === currentPath }));
}

/** What the layout reads on every page; templates see it as `it.*` next to the page's own data. */
export interface LayoutData {
  /** The page's `<title>` and `<h1>`. */
  readonly title: string;
  /** This response's CSP nonce, for the one `<script>` tag. */
  readonly nonce: string;
  /** The CSRF token for hidden `_csrf` fields; `''` when the page has no form (no pre-session is started for it). */
  readonly csrf: string;
  readonly signedIn: boolean;
  readonly nav: ReturnType<typeof navigationFor>;
  /** `asset('app.css')` → the fingerprinted URL. */
  readonly asset: (name: string) => string;
}

export interface RenderOptions {
  /** HTTP status (default 200): a form re-rendered with a validation message answers 400, a refused login 401, a throttled one 429. */
  readonly status?: number;
  /** The page has a form of its own: issue a CSRF token even for a signed-out visitor (which starts a pre-session). */
  readonly form?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The fingerprinted static files; decorated by the web plugin in its scope. */
    webAssets: AssetTable;
  }
}

/** The layout's data for this request (error pages render synchronously, so the CSRF token is passed in). */
export function layoutData(request: FastifyRequest, assets: AssetTable, title: string, csrf: string): LayoutData {
  const path = request.url.split('?')[0] ?? '/';
  return {
    title,
    nonce: request.cspNonce,
    csrf,
    signedIn: request.principal !== null,
    nav: navigationFor(request.principal, path),
    asset: (name) => assets.url(name),
  };
}

/**
 * Renders `view` (a template under src/web/views, without `.eta`) in the layout, with
 * {@link LayoutData} merged under the page's `data`. Every value is escaped by the template
 * engine; a signed-in user's page gets the session's CSRF token for the sign-out form.
 */
export async function renderPage(request: FastifyRequest, reply: FastifyReply, view: string, data: { readonly title: string } & Record<string, unknown>, options: RenderOptions = {}): Promise<FastifyReply> {
  const csrf = request.principal !== null || options.form === true ? await request.csrfToken() : '';
  const html = await reply.viewAsync(view, { ...data, ...layoutData(request, request.server.webAssets, data.title, csrf) });
  return reply.code(options.status ?? 200).type('text/html; charset=utf-8').send(html);
}

/** 303 See Other: after a form POST, the browser follows with a GET (POST/redirect/GET). */
export function seeOther(reply: FastifyReply, path: string): FastifyReply {
  return reply.redirect(path, 303);
}
