import type { FastifyRequest } from 'fastify';

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
  const config = request.routeOptions.config;
  if (config.page === true) return true;
  return request.is404 && acceptsHtml(request);
}
