import type { FastifyContextConfig, FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The matched route's config, read once per request; see {@link routeConfig}. Decorated by the route contract. */
    rampartRouteConfig: FastifyContextConfig | null;
  }
}

/**
 * The matched route's config (`access`, `scope`, `page`, …). Fastify's `request.routeOptions`
 * builds a new object on every read, and the kernel's hooks read the config several times per
 * request: this reads it once and keeps it on the request (a decorator, so every request has
 * the same shape). For the request-phase hooks only: `reply.callNotFound()` moves a request to
 * the 404 route, so a send-phase hook reads `request.routeOptions` itself.
 */
export function routeConfig(request: FastifyRequest): FastifyContextConfig {
  return (request.rampartRouteConfig ??= request.routeOptions.config);
}

/**
 * Whether the client lists `text/html` in Accept (a browser navigating). Only decides the
 * format of a 404 for a URL no route matched; routes say what they are in their config.
 */
export function acceptsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  if (typeof accept !== 'string' || accept.length > 1024) return false;
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    // `text/html;q=0` is an explicit refusal.
    return type === 'text/html' && !params.some((p) => p === 'q=0' || p === 'q=0.0' || p === 'q=0.00' || p === 'q=0.000');
  });
}

/**
 * A request answered with an HTML page: its route declares `config.page`, or it matched no
 * route and the client asks for HTML. Page requests get the page CSP profile (with a nonce)
 * and errors as HTML pages; everything else stays an API answer (problem+json, `default-src 'none'`).
 */
export function isPageRequest(request: FastifyRequest): boolean {
  if (routeConfig(request).page === true) return true;
  return request.is404 && acceptsHtml(request);
}
