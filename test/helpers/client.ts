import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { randomIp } from './build.js';
import { CookieJar } from './cookie-jar.js';
import { recovered, SHED_RETRIES, wasShed } from './shed.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ClientRequest {
  readonly method: Method;
  readonly url: string;
  readonly payload?: unknown;
  readonly headers?: Record<string, string>;
  /** Attach a fresh CSRF token to unsafe requests, as a page or API client does (default true). */
  readonly csrf?: boolean;
}

/** `app.inject`, retrying a request the server shed once it recovers (see {@link Client}). */
export async function injectRetryingShed(app: FastifyInstance, options: InjectOptions): Promise<LightMyRequestResponse> {
  let response = await app.inject(options);
  for (let attempt = 0; attempt < SHED_RETRIES && wasShed(response); attempt += 1) {
    await recovered(app);
    response = await app.inject(options);
  }
  return response;
}

/**
 * A browser-like client for `app.inject`: one client IP, a cookie jar that honours
 * Set-Cookie (including deletion), and a CSRF token fetched before every unsafe request.
 * It never bypasses a protection; tests that attack one pass `csrf: false` or set headers. Like a
 * real client it retries a request the server shed with 503, after the server recovers.
 */
export class Client {
  readonly jar: CookieJar;
  constructor(readonly app: FastifyInstance, readonly ip: string = randomIp(), readonly userAgent = 'RampartTest/1.0', jar = new CookieJar()) {
    this.jar = jar;
  }

  /** The cookies of this client's jar, by name. */
  get cookies(): Map<string, string> {
    return this.jar.cookies;
  }

  cookieHeader(): string {
    return this.jar.header();
  }

  /** The same cookies (the same signed-in user) on a fresh client IP, so a long walk respects the per-IP rate limit instead of switching it off. */
  onFreshIp(): Client {
    return new Client(this.app, randomIp(), this.userAgent, this.jar.copy());
  }

  async csrfToken(): Promise<string> {
    const response = await this.send({ method: 'GET', url: '/api/csrf' });
    if (response.statusCode !== 200) throw new Error(`GET /api/csrf answered ${response.statusCode}`);
    return (JSON.parse(response.body) as { token: string }).token;
  }

  async send(request: ClientRequest): Promise<LightMyRequestResponse> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...request.headers };
    if (request.method !== 'GET' && request.csrf !== false && headers['x-csrf-token'] === undefined) headers['x-csrf-token'] = await this.csrfToken();
    if (this.cookies.size > 0 && headers.cookie === undefined) headers.cookie = this.cookieHeader();
    const send = () => this.app.inject({
      method: request.method,
      url: request.url,
      headers,
      remoteAddress: this.ip,
      ...(request.payload === undefined ? {} : { payload: request.payload as string | object }),
    });
    let response = await send();
    // A shed request (503 before any hook that reads or changes state) is retried once the
    // instance recovers, as a well-behaved client honouring the 503 does: on a CPU-starved test
    // machine the load-shedding sampler can see a starved interval without any real overload.
    for (let attempt = 0; attempt < SHED_RETRIES && wasShed(response); attempt += 1) {
      await recovered(this.app);
      response = await send();
    }
    this.jar.take(response);
    return response;
  }

  get(url: string, headers?: Record<string, string>): Promise<LightMyRequestResponse> {
    return this.send({ method: 'GET', url, headers });
  }

  post(url: string, payload: unknown = {}, options: Partial<ClientRequest> = {}): Promise<LightMyRequestResponse> {
    return this.send({ method: 'POST', url, payload, ...options });
  }

  patch(url: string, payload: unknown = {}, options: Partial<ClientRequest> = {}): Promise<LightMyRequestResponse> {
    return this.send({ method: 'PATCH', url, payload, ...options });
  }

  delete(url: string, payload?: unknown, options: Partial<ClientRequest> = {}): Promise<LightMyRequestResponse> {
    return this.send({ method: 'DELETE', url, payload, ...options });
  }
}

/** The parsed JSON body; tests narrow it with a type argument where they read fields. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function json<T = Record<string, unknown>>(response: LightMyRequestResponse): T {
  return JSON.parse(response.body) as T;
}
