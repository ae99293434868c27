import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { RAMPART_ERR_BAD_HOST } from './errors.js';
import { sendProblem } from './problem-details.js';

export interface HostHeaderOptions {
  /** The site's public origin (`https://rampart.example.com`): its host is always accepted. */
  readonly publicOrigin: string;
  /** Further exact Host values (lowercase `host` or `host:port`), e.g. what a health probe sends. */
  readonly allowedHosts?: readonly string[];
  /** Also accept `localhost`, `127.0.0.1` and `[::1]` on any port (development and test only). */
  readonly allowLoopback: boolean;
}

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);
const PORT = /^\d{1,5}$/;
// Enough of a forged value to recognise it in the event log, never an unbounded copy.
const MAX_LOGGED_HOST = 100;

function isLoopback(host: string): boolean {
  const close = host.lastIndexOf(']');
  const colon = host.lastIndexOf(':');
  if (colon <= close) return LOOPBACK_HOSTS.has(host);
  return LOOPBACK_HOSTS.has(host.slice(0, colon)) && PORT.test(host.slice(colon + 1));
}

/**
 * Refuses, before any handler, a request whose Host (or, from a trusted proxy,
 * X-Forwarded-Host) is not this site: 400 `RAMPART_ERR_BAD_HOST` and a `malicious_host_header`
 * event. Anything that builds a URL from the Host header (a framework's absolute redirect, a
 * cache keyed on it) can then never be steered by a forged one; Rampart's own links and mail
 * use the configured public URL regardless. Values are compared exactly, case-insensitively:
 * no suffix matching, no wildcards.
 */
export const hostHeaderPlugin = fp<HostHeaderOptions>(
  // Async, so an option refused here rejects the registration instead of escaping avvio.
  // eslint-disable-next-line @typescript-eslint/require-await
  async (app: FastifyInstance, options) => {
    let publicUrl: URL;
    try {
      publicUrl = new URL(options.publicOrigin);
    } catch {
      throw new TypeError('host header: publicOrigin must be an origin such as https://rampart.example.com');
    }
    if (publicUrl.origin !== options.publicOrigin) throw new TypeError('host header: publicOrigin must be an origin such as https://rampart.example.com');
    if (typeof options.allowLoopback !== 'boolean') throw new TypeError('host header: allowLoopback must be a boolean');
    const extra: unknown = options.allowedHosts ?? [];
    if (!Array.isArray(extra) || !extra.every((host) => typeof host === 'string' && host !== '' && host === host.toLowerCase() && !/[\s/@*,]/.test(host))) {
      throw new TypeError('host header: allowedHosts must be exact lowercase host or host:port values');
    }
    const defaultPort = publicUrl.protocol === 'https:' ? '443' : '80';
    const allowed: ReadonlySet<string> = new Set([
      publicUrl.host,
      // A client may spell out the default port; it is the same site.
      ...(publicUrl.port === '' ? [`${publicUrl.hostname}:${defaultPort}`] : []),
      ...(extra as string[]),
    ]);
    const { allowLoopback } = options;
    const error = new RAMPART_ERR_BAD_HOST();

    app.addHook('onRequest', (request, reply, next) => {
      const host = request.host.toLowerCase();
      if (allowed.has(host) || (allowLoopback && isLoopback(host))) {
        next();
        return;
      }
      request.server.securityEvents.recordFor(request, 'malicious_host_header', { details: { host: request.host.slice(0, MAX_LOGGED_HOST) } });
      void sendProblem(reply, { status: error.statusCode, code: error.code, title: error.message });
    });
  },
  { name: 'rampart-host-header', dependencies: ['rampart-security-events', 'rampart-problem-details'] },
);
