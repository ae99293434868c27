import type { FindingId, Findings } from './findings.js';
import type { ProbeResponse } from './http-client.js';

interface LeakPattern {
  readonly id: FindingId;
  readonly what: string;
  readonly pattern: RegExp;
}

// Each pattern is anchored on a literal and bounded, so a hostile body cannot make it backtrack for long.
const PATTERNS: readonly LeakPattern[] = [
  // JavaScript (also inside JSON, where the newline is the two characters \n).
  { id: 'RAMPART-SE01', what: 'a JavaScript stack trace', pattern: /(?:\n|\\n)\s{0,8}at [^\n\\]{1,200}:\d{1,6}:\d{1,6}/ },
  { id: 'RAMPART-SE01', what: 'a Python traceback', pattern: /Traceback \(most recent call last\)/ },
  { id: 'RAMPART-SE01', what: 'a Java stack trace', pattern: /\bat [\w$.]{1,200}\([\w$]{1,100}\.java:\d{1,6}\)/ },
  { id: 'RAMPART-SE01', what: 'a .NET stack trace', pattern: /\bat [\w.`<>]{1,200}\(.{0,200}\) in .{1,200}:line \d{1,6}/ },
  { id: 'RAMPART-SE01', what: 'a PHP error location', pattern: /\.php(?: on line |:)\d{1,6}/ },
  { id: 'RAMPART-SE02', what: 'a server file path', pattern: /(?:^|[\s"'(=:])\/(?:home|usr|var|opt|srv|app|root|tmp|Users|workspace|build)\/[\w.@+-]{1,100}\/[\w./@+-]{1,200}/ },
  { id: 'RAMPART-SE02', what: 'a Windows file path', pattern: /\b[A-Z]:\\{1,2}(?:inetpub|Users|Program Files|Windows|www|apps?|src)\\/i },
  { id: 'RAMPART-SE02', what: 'a node_modules path', pattern: /node_modules[/\\]/ },
  { id: 'RAMPART-SE03', what: 'SQL error text', pattern: /SQLSTATE\[|syntax error at or near|ORA-\d{5}|You have an error in your SQL syntax|SQLITE_ERROR|unterminated quoted string at or near|PG::\w{1,40}Error|relation "[^"\n]{1,100}" does not exist|Unclosed quotation mark after the character string|SequelizeDatabaseError|QueryFailedError|PrismaClient\w{0,40}Error/i },
  { id: 'RAMPART-SE04', what: 'a framework or runtime name', pattern: /\bFST_ERR_\w{1,60}|\bFastifyError\b|\bbody-parser\b|\bExpress\b|Werkzeug|Django|Laravel|Whitelabel Error Page|Ruby on Rails|ASP\.NET|Apache Tomcat|Symfony|Spring Boot|SyntaxError: Unexpected token|JSON\.parse|Unexpected end of JSON input|\bnginx\/\d|Apache\/\d/ },
];

/** Leak findings for one response body; `where` names the request. */
export function checkLeaks(findings: Findings, response: ProbeResponse, where: string): void {
  for (const { id, what, pattern } of PATTERNS) {
    const match = pattern.exec(response.body);
    if (match === null) continue;
    const start = Math.max(0, match.index - 40);
    const excerpt = response.body.slice(start, match.index + match[0].length + 40).replace(/\s+/g, ' ').trim();
    findings.add(id, what, `HTTP ${response.status}: …${excerpt}…`, where);
  }
}

/** A malformed request should get a 4xx; a 5xx means it reached code that did not expect it. */
export function checkServerError(findings: Findings, response: ProbeResponse, where: string): void {
  if (response.status >= 500) findings.add('RAMPART-SE05', where, `HTTP ${response.status}`, where);
}
