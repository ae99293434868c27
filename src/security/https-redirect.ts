import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface HttpsRedirectOptions {
  /** The public https origin every request is sent to (`https://rampart.example.com`). */
  readonly publicOrigin: string;
  /** Time a client has to send its request headers. */
  readonly headersTimeoutMs: number;
  /** Time a client has to send the whole request. */
  readonly requestTimeoutMs: number;
  readonly maxHeaderBytes: number;
}

// A redirect is data, not a document: nothing on it may be sniffed, framed or leak the URL onward.
const HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'content-length': '0',
  // The body of a POST is never read: closing is cheaper than draining it for keep-alive.
  connection: 'close',
} as const;

/**
 * The target of a redirect: the request's path and query on the public origin. The host comes
 * from configuration, never from the Host header, so a forged Host cannot make this port send
 * anyone elsewhere; a request target that is not a path (absolute-form, `*`, `//host`) goes
 * to the home page.
 */
export function redirectTarget(publicOrigin: string, requestUrl: string | undefined): string {
  const home = `${publicOrigin}/`;
  if (requestUrl === undefined || !requestUrl.startsWith('/')) return home;
  try {
    // Parsed after the origin is fixed: `//evil` or `/\evil` stays a path on this origin.
    const target = new URL(`${publicOrigin}${requestUrl}`);
    return target.origin === publicOrigin ? target.href : home;
  } catch {
    return home;
  }
}

/**
 * A plain-HTTP listener that serves nothing: every request, whatever its method, path or
 * Host, is answered with `308 Permanent Redirect` to the same path and query on the public
 * https origin (308 keeps the method, so a form posted to http is re-posted to https rather
 * than silently turned into a GET). Timeouts and the header limit match the main server's.
 * HSTS is never sent here: browsers ignore it over plain HTTP (RFC 6797 §8.1).
 */
export function createHttpsRedirectServer(options: HttpsRedirectOptions): Server {
  const { publicOrigin } = options;
  if (typeof publicOrigin !== 'string' || !publicOrigin.startsWith('https://') || new URL(publicOrigin).origin !== publicOrigin) {
    throw new TypeError('https redirect: publicOrigin must be an https origin such as https://rampart.example.com');
  }
  return createServer({
    maxHeaderSize: options.maxHeaderBytes,
    headersTimeout: options.headersTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    requireHostHeader: false,
  }, (request: IncomingMessage, response: ServerResponse) => {
    response.writeHead(308, { ...HEADERS, location: redirectTarget(publicOrigin, request.url) });
    response.end();
  });
}
