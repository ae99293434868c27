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
