import ipaddr from 'ipaddr.js';

/** One DNS label: letters, digits and inner hyphens, 1 to 63 characters (RFC 1123). */
function isDnsLabel(label: string): boolean {
  return label.length >= 1 && label.length <= 63 && /^[a-z0-9-]+$/.test(label) && !label.startsWith('-') && !label.endsWith('-');
}

/** A lowercase DNS name (no trailing dot, no wildcard), at most 253 characters. */
export function isDnsName(name: string): boolean {
  return name.length <= 253 && name.split('.').every(isDnsLabel);
}

/**
 * What a Host header may name: a lowercase DNS name or IPv4 address, or a bracketed IPv6
 * address, with an optional port.
 */
export function isHostValue(value: string): boolean {
  let name = value;
  let port: string | null = null;
  const close = value.lastIndexOf(']');
  const colon = value.lastIndexOf(':');
  if (colon > close) {
    name = value.slice(0, colon);
    port = value.slice(colon + 1);
  }
  if (port !== null && (!/^\d{1,5}$/.test(port) || Number(port) > 65535)) return false;
  if (name.startsWith('[') && name.endsWith(']')) return ipaddr.IPv6.isValid(name.slice(1, -1));
  return isDnsName(name);
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'] as const;

/**
 * The origins a browser on this machine uses to reach a development server: `localhost`,
 * `127.0.0.1` and `[::1]` on the listening port (with the listening scheme), and the same three
 * names on the public URL's port when the public URL itself is a loopback one. The console
 * prints the listening address and the public URL, and a form must work at either. The public
 * origin itself is not listed. Never used in production, which accepts only exact origins.
 */
export function developmentLoopbackOrigins(options: { readonly publicOrigin: string; readonly port: number; readonly tls: boolean }): string[] {
  const origins = new Set<string>();
  const add = (protocol: string, port: string | number): void => {
    for (const name of LOOPBACK_NAMES) origins.add(new URL(`${protocol}//${name}${port === '' ? '' : `:${port}`}`).origin);
  };
  if (options.port > 0) add(options.tls ? 'https:' : 'http:', options.port);
  const publicUrl = new URL(options.publicOrigin);
  if ((LOOPBACK_NAMES as readonly string[]).includes(publicUrl.hostname)) add(publicUrl.protocol, publicUrl.port);
  origins.delete(options.publicOrigin);
  return [...origins];
}
