import { randomBytes } from 'node:crypto';
import type { Scenario, ScenarioTargets } from '../harness.js';
import type { LoadTarget } from '../load.js';
import { probe } from '../probe.js';
import { startBenchRampart, type BenchRampart } from '../rampart.js';

// As in api-status: the global limit stays on and counts every request, but never trips.
const RATE_LIMIT_POINTS = 1_000_000;
const RATE_LIMIT_WINDOW_SECONDS = 10;
const PATH = '/api/me';

function setCookieValue(header: string | string[] | number | undefined, name: string): string {
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [String(header)];
  const line = lines.find((l) => l.startsWith(`${name}=`));
  if (line === undefined) throw new Error(`no ${name} cookie was set`);
  return line.slice(name.length + 1).split(';')[0] ?? '';
}

/** One account, signed in both ways: a session cookie (through the CSRF-protected login) and an access token. */
async function signIn(rampart: BenchRampart): Promise<{ cookie: string; accessToken: string; email: string }> {
  const { app, config } = rampart;
  const email = `bearer-${randomBytes(4).toString('hex')}@bench.example`;
  const password = randomBytes(18).toString('base64url');
  const created = await app.accounts.createUser({ name: 'Bench member', email, password, role: 'author', verified: true });
  if (!created.ok) throw new Error(`could not create the bench account: ${created.reason}`);
  const csrf = await app.inject({ method: 'GET', url: '/api/csrf' });
  const preSession = csrf.headers['set-cookie'];
  const preCookie = (Array.isArray(preSession) ? preSession : [String(preSession)]).map((l) => l.split(';')[0]).join('; ');
  const login = await app.inject({
    method: 'POST', url: '/api/auth/login', payload: { email, password },
    headers: { cookie: preCookie, 'x-csrf-token': (JSON.parse(csrf.body) as { token: string }).token },
  });
  if (login.statusCode !== 200) throw new Error(`bench login answered ${login.statusCode}`);
  const cookieName = config.sessions.cookieName;
  const cookie = `${cookieName}=${setCookieValue(login.headers['set-cookie'], cookieName)}`;
  const token = await app.inject({ method: 'POST', url: '/api/auth/token', payload: { email, password, scope: 'account:read' } });
  if (token.statusCode !== 200) throw new Error(`bench token request answered ${token.statusCode}`);
  return { cookie, accessToken: (JSON.parse(token.body) as { access_token: string }).access_token, email };
}

async function checkMe(target: LoadTarget, email: string): Promise<void> {
  const res = await probe(target);
  if (res.status !== 200) throw new Error(`${target.label}: GET ${PATH} answered ${res.status}: ${res.body.slice(0, 200)}`);
  const body = JSON.parse(res.body) as { user?: { email?: string } };
  if (body.user?.email !== email) throw new Error(`${target.label}: GET ${PATH} answered another user: ${res.body.slice(0, 200)}`);
}

/**
 * Issue 4's benchmark: the same authenticated route, `GET /api/me`, on the same Rampart
 * instance, authenticated by an EdDSA access token (signature verification, the jti denylist
 * and the per-user revocation marker in Redis, the user row) against a session cookie (the
 * session and its last-seen entry in Redis, the user row).
 */
export const bearerMeScenario: Scenario = {
  name: 'bearer-me',
  description: `GET ${PATH}: Authorization: Bearer <EdDSA access token> against a session cookie, same instance`,
  ratioName: 'bearer/cookie',
  targetRatio: 0.6,
  async start(): Promise<ScenarioTargets> {
    const rampart = await startBenchRampart({
      env: {
        RAMPART_RATE_LIMIT_POINTS: String(RATE_LIMIT_POINTS),
        RAMPART_RATE_LIMIT_WINDOW_SECONDS: String(RATE_LIMIT_WINDOW_SECONDS),
        // Long enough for any bench run; the verification work does not depend on it.
        RAMPART_ACCESS_TOKEN_MINUTES: '60',
      },
    });
    try {
      const { cookie, accessToken, email } = await signIn(rampart);
      const subject: LoadTarget = { label: 'bearer token', origin: rampart.origin, request: { path: PATH, headers: { authorization: `Bearer ${accessToken}` } } };
      const baseline: LoadTarget = { label: 'session cookie', origin: rampart.origin, request: { path: PATH, headers: { cookie } } };
      await checkMe(subject, email);
      await checkMe(baseline, email);
      const database = rampart.config.database.url === null ? 'embedded PGlite, in memory' : 'PostgreSQL from RAMPART_BENCH_DATABASE_URL';
      return {
        subject,
        baseline,
        notes: [
          `rampart: buildRampart with every protection on, NODE_ENV=test, ${rampart.app.store.kind} store (prefix ${rampart.redisPrefix}), ${database}`,
          `rampart: global rate limit ON at ${RATE_LIMIT_POINTS.toLocaleString('en-US')} requests per ${RATE_LIMIT_WINDOW_SECONDS} s per client (a Redis round trip per request, never trips)`,
          'bearer token: EdDSA JWT (scope account:read), verified with jose against the cached key set; jti denylist and user revocation marker read from Redis; user row from the database',
          'session cookie: session record and last-seen entry read from Redis; user row from the database',
          'both: the same instance, route, response and user; they alternate per round',
        ],
        close: () => rampart.close(),
      };
    } catch (err) {
      await rampart.close();
      throw err;
    }
  },
};
