import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';

/** One request of the scan, named for the report and the dry run. */
export interface ProbeRequest {
  readonly method: string;
  /** Path and query, starting with `/`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Why the scan sends it (printed by --dry-run). */
  readonly purpose: string;
  /** Another scheme or port on the same host (the HTTP to HTTPS redirect probe); the target's origin when absent. */
  readonly origin?: string;
}

export interface ProbeResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly setCookies: readonly string[];
  /** The first `maxBodyBytes` of the body, as UTF-8. */
  readonly body: string;
}

export type ProbeResult = { readonly ok: true; readonly response: ProbeResponse } | { readonly ok: false; readonly error: string };

/** A request as sent, for the report (and the tests that audit what was sent). */
export interface SentRequest {
  readonly method: string;
  readonly url: string;
  readonly purpose: string;
  readonly outcome: string;
}

export interface HttpClientOptions {
  readonly target: URL;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  readonly maxRequests: number;
}

const MAX_URL_SHOWN = 200;

export const USER_AGENT = 'rampart-scan/1 (+https://github.com/rampart; read-only security audit)';

/** `[::1]` → `::1`: node:http wants the bare address. */
export function bareHostname(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * The only way the scan talks HTTP. It never follows a redirect (callers decide, and only
 * within the target's origin), refuses any host but the target's, reads at most
 * `maxBodyBytes` of a body, gives every request one deadline, and stops at `maxRequests`.
 */
export class ScanHttpClient {
  readonly sent: SentRequest[] = [];
  readonly #options: HttpClientOptions;
  #count = 0;

  constructor(options: HttpClientOptions) {
    this.#options = options;
  }

  get exhausted(): boolean {
    return this.#count >= this.#options.maxRequests;
  }

  /** Null when the request budget is spent (nothing is sent). */
  async send(probe: ProbeRequest): Promise<ProbeResult | null> {
    if (this.exhausted) return null;
    const url = new URL(probe.path, probe.origin ?? this.#options.target.origin);
    // Defence in depth: every origin the scan builds is the target's host; this makes it a guarantee.
    if (url.hostname !== this.#options.target.hostname) throw new Error(`refusing a request to ${url.hostname}: the scan stays on ${this.#options.target.hostname}`);
    this.#count += 1;
    const result = await this.#exchange(url, probe);
    const shown = url.href.length > MAX_URL_SHOWN ? `${url.href.slice(0, MAX_URL_SHOWN)}…(${url.href.length} chars)` : url.href;
    this.sent.push({ method: probe.method, url: shown, purpose: probe.purpose, outcome: result.ok ? String(result.response.status) : result.error });
    return result;
  }

  #exchange(url: URL, probe: ProbeRequest): Promise<ProbeResult> {
    const { timeoutMs, maxBodyBytes } = this.#options;
    const hostname = bareHostname(url);
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: '*/*', connection: 'close', ...probe.headers };
    if (probe.body !== undefined) headers['content-length'] = String(Buffer.byteLength(probe.body));
    const common = { method: probe.method, hostname, port: url.port === '' ? undefined : Number(url.port), path: `${url.pathname}${url.search}`, headers, agent: false as const };
    return new Promise<ProbeResult>((resolve) => {
      let settled = false;
      const finish = (result: ProbeResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(result);
      };
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = () => {
          const setCookie = res.headers['set-cookie'] ?? [];
          finish({ ok: true, response: { status: res.statusCode ?? 0, headers: res.headers, setCookies: setCookie, body: Buffer.concat(chunks).toString('utf8') } });
        };
        res.on('data', (chunk: Buffer) => {
          if (size >= maxBodyBytes) return;
          const room = maxBodyBytes - size;
          chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
          size += Math.min(chunk.length, room);
          // Enough read: stop the transfer instead of downloading the rest.
          if (size >= maxBodyBytes) {
            done();
            res.destroy();
          }
        });
        res.on('end', done);
        res.on('error', () => { done(); });
        res.on('close', done);
      };
      const req = url.protocol === 'https:'
        // Certificate problems are the TLS checks' findings; here the scan still reads the
        // headers of a deployment with a bad certificate or an old protocol, so it accepts them.
        ? httpsRequest({ ...common, rejectUnauthorized: false, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0', servername: isIP(hostname) === 0 ? hostname : undefined }, onResponse)
        : httpRequest(common, onResponse);
      const deadline = setTimeout(() => {
        req.destroy();
        finish({ ok: false, error: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => { finish({ ok: false, error: err.code ?? err.message }); });
      req.end(probe.body);
    });
  }
}

/** A header's value as one string (repeated headers joined as a browser would see them). */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}
