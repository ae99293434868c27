import type { LightMyRequestResponse } from 'fastify';
import { randomIp } from './build.js';
import { Client } from './client.js';

/** The value of the first hidden `_csrf` field of a page. */
export function csrfField(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (match?.[1] === undefined) throw new Error('the page has no _csrf field');
  return match[1];
}

/**
 * A browser without JavaScript: it loads pages and submits their forms urlencoded with the
 * `_csrf` field the page carried, as a person's browser does. It never bypasses a protection.
 */
export class PageClient extends Client {
  override onFreshIp(): PageClient {
    return new PageClient(this.app, randomIp(), this.userAgent, this.jar.copy());
  }

  async page(url: string): Promise<LightMyRequestResponse> {
    return this.send({ method: 'GET', url, headers: { accept: 'text/html' } });
  }

  /** Loads `formPage`, then posts `fields` to `action` with that page's CSRF token. */
  async submit(formPage: string, action: string, fields: Record<string, string>): Promise<LightMyRequestResponse> {
    const loaded = await this.page(formPage);
    return this.post(action, new URLSearchParams({ _csrf: csrfField(loaded.body), ...fields }).toString(), {
      csrf: false,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    });
  }
}
