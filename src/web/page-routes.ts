import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import type { Limited } from '../kernel/http.js';

/**
 * Route options shared by page routes. A page route declares, like an API route, its access
 * rule and schemas; `page: true` gives it the page CSP profile and HTML error pages.
 */
export const PUBLIC_PAGE = { access: 'public', page: true } as const;
export const SIGNED_IN_PAGE = { access: 'authenticated', page: true } as const;

/** Page responses are HTML strings, which Fastify sends as they are (no serializer runs). */
export const HTML_RESPONSE = { 200: z.string().describe('An HTML page'), 303: z.null().describe('See Other: the next page') };
export const NO_QUERY = z.strictObject({});

/** An optional one-time token in a mailed link's query (`?token=…`): anything else is treated as no token. */
export const LINK_QUERY = z.strictObject({ token: z.string().max(256).optional() });
const ONE_TIME_TOKEN = /^[A-Za-z0-9_-]{43}$/;
export const wellFormedToken = (token: string | undefined): string => (token !== undefined && ONE_TIME_TOKEN.test(token) ? token : '');

/** 429 for a throttled form: `Retry-After` set, and the message a re-rendered form shows. */
export function throttled(reply: FastifyReply, result: Limited): string {
  reply.header('retry-after', String(result.retryAfterSeconds));
  return `Too many attempts: wait ${result.retryAfterSeconds} seconds and try again.`;
}
