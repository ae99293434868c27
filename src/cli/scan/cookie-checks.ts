import type { Findings } from './findings.js';

export interface SetCookie {
  readonly name: string;
  /** Attribute names lowercased; values as sent. */
  readonly attributes: ReadonlyMap<string, string>;
}

/** Parses one Set-Cookie header (RFC 6265 §5.2), keeping only the name and attributes: cookie values never reach the report. */
export function parseSetCookie(text: string): SetCookie | null {
  const [pair, ...rest] = text.split(';');
  const eq = pair?.indexOf('=') ?? -1;
  if (pair === undefined || eq < 1) return null;
  const attributes = new Map<string, string>();
  for (const part of rest) {
    const at = part.indexOf('=');
    const name = (at === -1 ? part : part.slice(0, at)).trim().toLowerCase();
    if (name !== '') attributes.set(name, at === -1 ? '' : part.slice(at + 1).trim());
  }
  return { name: pair.slice(0, eq).trim(), attributes };
}

// Names that carry a login or a session; CSRF cookies are read by scripts in the double-submit pattern, so they are not.
const SESSION_LIKE = /sess|sid|auth|token|jwt|login|remember|identity|user/i;
const CSRF = /csrf|xsrf/i;

/** Session cookie names frameworks pick when the application does not (lowercased). */
const FRAMEWORK_DEFAULTS = new Map<string, string>([
  ['connect.sid', 'Express (express-session)'],
  ['phpsessid', 'PHP'],
  ['jsessionid', 'Java servlet containers'],
  ['sessionid', 'Django or @fastify/session'],
  ['asp.net_sessionid', 'ASP.NET'],
  ['laravel_session', 'Laravel'],
  ['ci_session', 'CodeIgniter'],
  ['_session_id', 'Ruby on Rails'],
  ['rack.session', 'Rack'],
  ['koa.sess', 'Koa'],
  ['koa:sess', 'Koa'],
  ['express:sess', 'Express (cookie-session)'],
  ['session', 'cookie-session / @fastify/secure-session / Flask'],
  ['cfid', 'ColdFusion'],
  ['cftoken', 'ColdFusion'],
]);

function isDeletion(cookie: SetCookie): boolean {
  const maxAge = cookie.attributes.get('max-age');
  if (maxAge !== undefined && Number(maxAge) <= 0) return true;
  const expires = cookie.attributes.get('expires');
  return expires !== undefined && Date.parse(expires) < Date.now();
}

/** Every cookie rule for the cookies one response sets. */
export function checkCookies(findings: Findings, setCookies: readonly string[], where: string): void {
  for (const text of setCookies) {
    const cookie = parseSetCookie(text);
    // A cookie being deleted carries nothing worth protecting.
    if (cookie === null || isDeletion(cookie)) continue;
    const { name, attributes } = cookie;
    const flags = [...attributes.keys()].join('; ') || '(no attributes)';
    const evidence = `Set-Cookie: ${name}=…; ${flags}`;
    const sessionLike = SESSION_LIKE.test(name) && !CSRF.test(name);
    if (!attributes.has('secure')) findings.add('RAMPART-SC01', name, evidence, where);
    if (sessionLike && !attributes.has('httponly')) findings.add('RAMPART-SC02', name, evidence, where);
    const sameSite = attributes.get('samesite')?.toLowerCase();
    if (sameSite === undefined) findings.add('RAMPART-SC03', name, evidence, where);
    else if (sameSite === 'none') findings.add('RAMPART-SC04', name, evidence, where);
    if (name.startsWith('__Host-')) {
      if (!attributes.has('secure') || attributes.get('path') !== '/' || attributes.has('domain')) findings.add('RAMPART-SC07', name, evidence, where);
    } else if (sessionLike) findings.add('RAMPART-SC05', name, evidence, where);
    const framework = FRAMEWORK_DEFAULTS.get(name.toLowerCase()) ?? (/^aspsessionid/i.test(name) ? 'classic ASP' : undefined);
    if (framework !== undefined) findings.add('RAMPART-SC06', name, `${evidence} (the default of ${framework})`, where);
    if (sessionLike && attributes.has('domain')) findings.add('RAMPART-SC08', name, evidence, where);
  }
}
