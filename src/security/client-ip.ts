import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The key a client is counted under: its IPv4 address, or the /64 network of an IPv6
 * address, because one IPv6 subscriber usually holds a whole /64 and could otherwise rotate
 * through 2^64 addresses to escape every per-IP limit.
 */
export function clientKey(ip: string): string {
  // The common case, and already canonical: Node's check refuses leading zeros and short forms.
  if (isIPv4(ip)) return ip;
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(ip);
  } catch {
    // Not an IP (a unix socket, an inject() test without one): count it under its own text.
    return `raw:${ip.slice(0, 64)}`;
  }
  if (address.kind() === 'ipv4') return address.toString();
  const bytes = (address as ipaddr.IPv6).toByteArray().slice(0, 8);
  const prefix = ipaddr.fromByteArray([...bytes, 0, 0, 0, 0, 0, 0, 0, 0]);
  return `${prefix.toString()}/64`;
}
