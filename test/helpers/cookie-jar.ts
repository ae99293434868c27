import type { IncomingHttpHeaders } from 'node:http';

/** One Set-Cookie line: the cookie's name and value, and its attributes as sent (`Path=/`, `Max-Age=0`, …). */
export interface SetCookie {
  readonly name: string;
  readonly value: string;
  readonly attributes: readonly string[];
}

/** Anything with response headers: an `app.inject` answer or a node:http response. */
interface WithHeaders {
  readonly headers: IncomingHttpHeaders | Record<string, string | string[] | number | undefined>;
}

/** Every cookie a response sets or clears, in order. */
export function setCookies(response: WithHeaders): SetCookie[] {
  const header = response.headers['set-cookie'];
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [String(header)];
  return lines.map((line) => {
    const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
    const eq = pair.indexOf('=');
    return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
  });
}

/** The Set-Cookie for `name` in a response, if it sets or clears that cookie. */
export function setCookie(response: WithHeaders, name: string): SetCookie | undefined {
  return setCookies(response).find((cookie) => cookie.name === name);
}

function clears(cookie: SetCookie): boolean {
  return cookie.value === '' || cookie.attributes.some((a) => /^max-age=0$/i.test(a) || (/^expires=/i.test(a) && Date.parse(a.slice(8)) < Date.now()));
}

/**
 * A browser's cookie jar for one client: it keeps what Set-Cookie sets and drops what it clears
 * (an empty value, `Max-Age=0` or an `Expires` in the past), and sends the rest back.
 */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  /** Takes in the cookies of `response`, and returns it. */
  take<R extends WithHeaders>(response: R): R {
    for (const cookie of setCookies(response)) {
      if (clears(cookie)) this.cookies.delete(cookie.name);
      else this.cookies.set(cookie.name, cookie.value);
    }
    return response;
  }

  /** The value of a Cookie header carrying every cookie in the jar. */
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** `{ cookie }` to spread into request headers, or nothing when the jar is empty. */
  headers(): Record<string, string> {
    return this.cookies.size === 0 ? {} : { cookie: this.header() };
  }

  /** Another jar holding the same cookies (the same signed-in browser, for a second client). */
  copy(): CookieJar {
    const jar = new CookieJar();
    for (const [name, value] of this.cookies) jar.cookies.set(name, value);
    return jar;
  }
}
