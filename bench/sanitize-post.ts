/**
 * A realistic post for the `sanitize` scenario: about 10 KiB of Markdown as an author on a
 * technical blog writes it (headings, paragraphs with inline formatting, links, lists, fenced
 * code, a table, images, a quote, a little inline HTML), not a repetition of one line.
 */
const sections = [
  `# Hardening a Node.js service without breaking it

Most of the advice on securing a Node.js service is a checklist: add a header here, a
limiter there, and hope the pieces fit. This post walks through what we changed on a real
service over six weeks, **what broke**, and what we would do *differently* next time. The
short version: turn every protection on by default, measure each one, and write the attack
into the test suite before you write the fix.

If you only read one thing, read the [OWASP Node.js cheat sheet](https://cheatsheetseries.owasp.org/cheatsheets/Nodejs_Security_Cheat_Sheet.html)
and the [Fastify security notes](https://fastify.dev/docs/latest/Reference/Security/).
Questions and corrections are welcome at [security@example.com](mailto:security@example.com).
`,
  `## 1. Headers, and the ones we removed

We started with the usual set and found that two of the "classic" headers do more harm than
good today:

- \`X-XSS-Protection: 1; mode=block\` enables a filter that itself leaked data; we now send \`0\`.
- \`Expect-CT\` is obsolete since certificate transparency became mandatory.
- \`Strict-Transport-Security\` stays, with \`max-age=63072000; includeSubDomains\`, but only over HTTPS.
- A strict \`Content-Security-Policy\` with a fresh nonce per response replaced the old allowlist of CDNs.

> A header you cannot explain is a header you cannot maintain. Every one we kept has a test
> that asserts its exact value, and every one we removed has a test that asserts its absence.

The nonce is 128 bits from \`crypto.randomBytes\`, base64-encoded, and passed to the templates.
Inline event handlers had to go; there were 41 of them, mostly \`onclick="history.back()"\`.
`,
  `## 2. Rate limits that survive a restart

Our first limiter counted in memory, so every deploy forgave every attacker. Moving the
counters to Redis was easy; deciding what happens **when Redis is down** was not. We settled
on an insurance limiter in memory with a tighter budget, so an outage degrades to "stricter",
never to "off".

\`\`\`ts
const limiter = new RateLimiterRedis({
  storeClient: redis,
  keyPrefix: 'login',
  points: 5,          // attempts
  duration: 15 * 60,  // per 15 minutes
  blockDuration: 15 * 60,
  insuranceLimiter: new RateLimiterMemory({ points: 2, duration: 15 * 60 }),
});

export async function guardLogin(key: string): Promise<boolean> {
  try {
    await limiter.consume(key);
    return true;
  } catch {
    return false; // blocked: answer 429 with Retry-After
  }
}
\`\`\`

Two details matter more than the numbers:

1. Count failures per *(account, IP)* **and** per IP, so the owner of an account is not locked
   out by an attacker guessing from elsewhere.
2. Refuse a blocked attempt *before* verifying the password, or the limiter still lets the
   attacker spend your CPU on Argon2id.
`,
  `## 3. What each protection costs

We measured every protection against a bare route in the same run. The numbers below are
medians of three rounds on a two-core VM; your numbers will differ, the ratios less so.

| protection | req/s (bare) | req/s (protected) | ratio | note |
|:--|--:|--:|--:|:--|
| security headers | 41 200 | 39 800 | 0.97 | computed once at startup |
| global rate limit (Redis) | 41 200 | 31 500 | 0.76 | one round trip per request |
| schema validation | 41 200 | 37 900 | 0.92 | zod, compiled once |
| session lookup | 41 200 | 24 100 | 0.58 | Redis plus a user row |
| CSRF check | 41 200 | 40 300 | 0.98 | constant-time compare |

![Requests per second, bare and protected](https://images.example.com/posts/hardening/throughput.png "Throughput by protection")

The session lookup is the expensive one, and it is also the one you cannot skip. We cache
the user row for the length of one request, never longer: a role change must take effect on
the *next* request, not in five minutes.

A word on method: we run the subject and the baseline **in the same process, alternating**,
so both see the same machine. Comparing today's run with last week's numbers told us more
about the neighbours on our VM host than about our code. We also report the CPU time per
request next to the throughput, because on a shared machine the CPU time barely moves when
the req/s does. Rounds that disagree by more than 10% are repeated, not averaged away.
`,
  `## 4. User content: Markdown in, HTML out

Authors write Markdown. Readers get HTML. In between sits the part that decides whether a
post can run script in every reader's browser. We render with markdown-it and sanitize the
result with an allowlist: headings, paragraphs, emphasis, lists, code, quotes, links, tables
and images from HTTPS hosts. Everything else is dropped, including <del>style attributes</del>
all inline styles.

Links get \`rel="nofollow ugc noopener noreferrer"\` and keep only \`http\`, \`https\` and
\`mailto\` targets. That rules out the old favourites:

- \`javascript:\` in any spelling, including entities and tabs inside the word;
- \`data:\` and \`vbscript:\` URLs;
- protocol-relative links such as \`//evil.example\`, which silently inherit the page's scheme.

We sanitize **on write** and store both the source and the HTML, so a read never pays for
the sanitizer and a policy change is a migration, not a surprise.<br>
Comments are simpler still: plain text, escaped, line breaks kept.

![The rendering pipeline: Markdown, markdown-it, sanitizer, stored HTML](https://images.example.com/posts/hardening/pipeline.svg.png "Rendering pipeline")
`,
  `## 5. Sessions and tokens

Cookies for the browser, short-lived tokens for programs. The cookie is \`__Host-\` prefixed,
\`HttpOnly\`, \`Secure\` and \`SameSite=Lax\`; only a SHA-256 of its value is stored, so a copy of
the session table is not a copy of everyone's login. The idle timeout is 30 minutes and the
absolute one 8 hours, both enforced on the server.

For API clients we issue EdDSA access tokens that live for 10 minutes and rotating refresh
tokens. Reusing a refresh token revokes the whole family:

\`\`\`js
if (stored.usedAt !== null) {
  await revokeFamily(stored.familyId, 'refresh token reuse');
  return null;
}
\`\`\`

Things we got wrong at first, so you do not have to:

- We accepted \`alg: none\` in a test helper, and the helper leaked into a fixture.
- We trusted the \`kid\` header to pick a key from a URL. Keys now come from the local key set only.
- We logged the \`Authorization\` header on 5xx responses. The logger now redacts it by path.
- We let a refresh token outlive the password it was issued under. A password change now revokes every family.
`,
  `## 6. Errors that say nothing useful to an attacker

Every error leaves the server as \`application/problem+json\` (RFC 9457) with a stable
\`code\` and a trace id. A 4xx says what was wrong with the request; a 5xx says only that
something failed on our side:

\`\`\`json
{
  "type": "about:blank",
  "title": "Internal Server Error",
  "status": 500,
  "code": "RAMPART_ERR_INTERNAL",
  "traceId": "6f1c0a2e9b7d4c31"
}
\`\`\`

No stack, no SQL, no file path, no library name. The full error goes to the log with the same
trace id, so support can find it when a user sends a screenshot. We found three places where
a library put the *query text* into the error message, and one where a template engine put the
**template path** there; all three are now wrapped in a coded error with the original as its
\`cause\`, which the serializer never sends.

A malformed body is the easiest way to find a 500. We fuzz every route with
[fast-check](https://fast-check.dev/): random JSON, wrong types, huge numbers, deep nesting,
\`__proto__\` keys and strings with every kind of Unicode. The property is simple: *the answer
is a 4xx with a code, never a 5xx*. It found two crashes in the first hour.
`,
  `## 7. Security events people actually read

Logs nobody reads do not protect anybody. We write a short, fixed vocabulary of events
(taken from the OWASP logging vocabulary) to the log and to an append-only table:

| event | when | who is told |
|:--|:--|:--|
| \`authn_login_fail\` | a wrong password | nobody, unless it repeats |
| \`authn_login_lock\` | the throttle blocks a pair or an address | the on-call channel, above 50 an hour |
| \`authz_fail\` | a role or ownership check denies | the on-call channel, above 20 an hour |
| \`session_renewed\` | a login, logout or role change rotates the session | nobody |
| \`malicious_csrf\` | a cross-site request with cookies | the on-call channel, always |

Passwords, tokens, cookies and session ids never appear in either place; where we need to
correlate sessions we log a keyed hash. The first week produced 2 400 \`authn_login_fail\`
events from one address in a hosting range, which the throttle had already stopped, and one
\`authz_fail\` that turned out to be a real bug in our admin page: a moderator could see the
edit button for a post they could not edit.
`,
  `## 8. Refusing to start on a bad configuration

The last change was the cheapest and may have saved us the most. The server now refuses to
start in production when the configuration is unsafe, and says why:

- a secret shorter than 32 bytes, or one of the placeholders from the example file;
- sessions or rate limits kept in memory while more than one instance runs;
- no TLS and no trusted proxy in front;
- CORS allowing \`*\` together with credentials.

Each refusal has an id (\`RAMPART-E001\` and so on), the name of the setting, the reason and the
fix. \`rampart check --deploy\` prints them all without starting anything, and the deploy
pipeline runs it before it switches traffic.
`,
  `## 9. Checklist

- [x] every route declares who may call it, and a test walks the route table;
- [x] every body, query and parameter has a schema, and unknown keys are a 400;
- [x] every protection has a benchmark against a baseline, run in the same process;
- [ ] the security event log is append-only for the application role (next sprint).

Further reading: the [NIST password guidance](https://pages.nist.gov/800-63-3/sp800-63b.html),
the [PortSwigger XSS cheat sheet](https://portswigger.net/web-security/cross-site-scripting/cheat-sheet)
and RFC 9457 on [problem details](https://www.rfc-editor.org/rfc/rfc9457). Thanks to everyone
who reviewed drafts of this post, and to the colleague who found the \`alg: none\` fixture at
11 pm on a Friday.

***

*Posted in* **Security**, **Node.js**. Reply by mail or in the comments below.
`,
];

/** The post: 10.1 KiB of Markdown (the scenario checks it stays between 10 and 11 KiB). */
export const REALISTIC_POST = sections.join('\n');
