import type { Findings } from './findings.js';
import { header, type ProbeResponse } from './http-client.js';

const YEAR_MS = 366 * 86_400_000;

/** Field name (lowercased) → values, from an RFC 9116 file; comments, blank lines and PGP armour are skipped. */
export function parseSecurityTxt(text: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const raw of text.split(/\r?\n/)) {
    // A signed file dash-escapes lines that start with "-" (RFC 4880 §7.1).
    const line = raw.startsWith('- ') ? raw.slice(2) : raw;
    const match = /^([A-Za-z][A-Za-z-]{0,63}):[ \t]*(\S.{0,1000})$/.exec(line.trimEnd());
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const name = match[1].toLowerCase();
    fields.set(name, [...(fields.get(name) ?? []), match[2].trim()]);
  }
  return fields;
}

/** The security.txt rules for the answer to `GET url`; `now` is the scan's clock. */
export function checkSecurityTxt(findings: Findings, response: ProbeResponse, url: string, now: Date, where: string): void {
  if (response.status !== 200) {
    findings.add('RAMPART-SS01', '/.well-known/security.txt', `HTTP ${response.status}`, where);
    return;
  }
  const type = header(response.headers, 'content-type') ?? '(absent)';
  if (!type.toLowerCase().startsWith('text/plain')) findings.add('RAMPART-SS07', 'Content-Type', `Content-Type: ${type}`, where);
  const fields = parseSecurityTxt(response.body);
  if ((fields.get('contact') ?? []).length === 0) findings.add('RAMPART-SS02', 'Contact', 'no Contact: line', where);
  const expiresText = fields.get('expires')?.[0];
  const expires = expiresText === undefined ? Number.NaN : Date.parse(expiresText);
  if (Number.isNaN(expires)) findings.add('RAMPART-SS03', 'Expires', expiresText === undefined ? 'no Expires: line' : `Expires: ${expiresText}`, where);
  else if (expires <= now.getTime()) findings.add('RAMPART-SS04', 'Expires', `Expires: ${expiresText ?? ''} (the scan ran at ${now.toISOString()})`, where);
  else if (expires - now.getTime() > YEAR_MS) findings.add('RAMPART-SS05', 'Expires', `Expires: ${expiresText ?? ''}`, where);
  const canonical = fields.get('canonical') ?? [];
  if (canonical.length === 0) findings.add('RAMPART-SS08', 'Canonical', 'no Canonical: line', where);
  else if (!canonical.includes(url)) findings.add('RAMPART-SS06', 'Canonical', `Canonical: ${canonical.join(', ')} (fetched from ${url})`, where);
}
