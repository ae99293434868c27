import { sql, type Kysely } from 'kysely';
import type { KernelSchema } from '../../platform/database-schema.js';
import type { AccountsTables } from '../accounts/tables.js';
import type { AlertsTables } from './tables.js';

export type DashboardDatabase = Pick<KernelSchema, 'security_events'> & Pick<AccountsTables, 'users'> & AlertsTables;

/** The two periods the dashboard shows: 24 hourly buckets, or 7 daily ones. */
export const RANGES = {
  '24h': { buckets: 24, bucketSeconds: 3_600 },
  '7d': { buckets: 7, bucketSeconds: 86_400 },
} as const;
export type DashboardRange = keyof typeof RANGES;

export const LOGIN_OUTCOMES = ['authn_login_success', 'authn_login_fail', 'authn_login_lock'] as const;
/** Requests refused by a protection, by kind. */
export const REFUSALS = [
  'authz_fail', 'malicious_csrf', 'excess_rate_limit_exceeded', 'input_validation_fail', 'malicious_host_header',
  'session_token_invalid', 'session_use_after_expire', 'authn_token_invalid', 'authn_token_reuse',
] as const;
const TOP = 8;

export interface Count {
  readonly label: string;
  readonly count: number;
}

export interface DashboardData {
  readonly range: DashboardRange;
  readonly since: Date;
  readonly bucketSeconds: number;
  /** Per login outcome, a count per bucket (oldest first). */
  readonly loginSeries: Readonly<Record<(typeof LOGIN_OUTCOMES)[number], readonly number[]>>;
  readonly loginTotals: readonly Count[];
  readonly refusals: readonly Count[];
  readonly topIps: readonly Count[];
  readonly targetedAccounts: readonly Count[];
  readonly cspByDirective: readonly Count[];
  readonly cspSeries: readonly number[];
  readonly alertsByRule: readonly Count[];
}

// A coalesced summary row stands for `count` events (security-events.ts); every other row for one.
const weight = sql<string>`sum(case when details->>'coalesced' = 'true' and jsonb_typeof(details->'count') = 'number' then (details->>'count')::bigint else 1 end)::bigint`;

const toCounts = (rows: readonly { label: string | null; n: string }[]): Count[] => rows.map((r) => ({ label: r.label ?? '(none)', count: Number(r.n) }));

/** The dashboard's aggregates, each one query with bound parameters (Kysely builders and the sql tag). */
export function createDashboardQueries(db: Kysely<DashboardDatabase>) {
  async function series(events: readonly string[], since: Date, bucketSeconds: number, buckets: number): Promise<Map<string, number[]>> {
    const bucket = sql<string>`floor(extract(epoch from (occurred_at - ${since})) / ${bucketSeconds})::int`;
    const rows = await db.selectFrom('security_events')
      .select([bucket.as('bucket'), 'event', weight.as('n')])
      .where('event', 'in', events).where('occurred_at', '>=', since)
      .groupBy([sql`1`, 'event'])
      .execute();
    const out = new Map<string, number[]>(events.map((e) => [e, Array.from({ length: buckets }, () => 0)]));
    for (const row of rows) {
      const list = out.get(row.event);
      const index = Number(row.bucket);
      if (list !== undefined && index >= 0 && index < buckets) list[index] = (list[index] ?? 0) + Number(row.n);
    }
    return out;
  }

  return {
    async load(range: DashboardRange, now: Date): Promise<DashboardData> {
      const { buckets, bucketSeconds } = RANGES[range];
      const since = new Date(now.getTime() - buckets * bucketSeconds * 1000);
      const logins = await series(LOGIN_OUTCOMES, since, bucketSeconds, buckets);
      const csp = await series(['malicious_csp_violation'], since, bucketSeconds, buckets);
      const recent = db.selectFrom('security_events').where('occurred_at', '>=', since);
      const refusals = await recent.select(['event as label', weight.as('n')]).where('event', 'in', REFUSALS).groupBy('event').orderBy('n', 'desc').execute();
      const topIps = await recent.select(['client_ip as label', weight.as('n')])
        .where('client_ip', 'is not', null).where('severity', '!=', 'info')
        .groupBy('client_ip').orderBy('n', 'desc').orderBy('client_ip').limit(TOP).execute();
      const account = sql<string>`coalesce(actor, details->>'email_index')`;
      const targeted = await recent.select([account.as('label'), weight.as('n')])
        .where('event', 'in', ['authn_login_fail', 'authn_login_lock'])
        .groupBy(sql`1`).orderBy('n', 'desc').orderBy('label').limit(TOP).execute();
      // Accounts by name where the key is a user id or the blind index of a user's email.
      const keys = targeted.map((t) => t.label);
      const names = keys.length === 0 ? [] : await db.selectFrom('users').select(['id', 'email_index', 'name'])
        .where((eb) => eb.or([eb('email_index', 'in', keys), eb(sql<string>`id::text`, 'in', keys)])).execute();
      const nameOf = (key: string | null) => {
        const user = names.find((u) => u.email_index === key || u.id === key);
        return user !== undefined ? user.name : key === null ? '(unknown)' : `unknown ${key.slice(0, 10)}…`;
      };
      const cspByDirective = await recent.select([sql<string>`details->>'directive'`.as('label'), weight.as('n')])
        .where('event', '=', 'malicious_csp_violation').groupBy(sql`1`).orderBy('n', 'desc').limit(TOP).execute();
      const alerts = await db.selectFrom('alerts').select(['rule as label', sql<string>`count(*)`.as('n')])
        .where('fired_at', '>=', since).groupBy('rule').orderBy('n', 'desc').execute();
      const loginSeries = Object.fromEntries(LOGIN_OUTCOMES.map((e) => [e, logins.get(e) ?? []])) as unknown as DashboardData['loginSeries'];
      return {
        range, since, bucketSeconds,
        loginSeries,
        loginTotals: LOGIN_OUTCOMES.map((e) => ({ label: e, count: (logins.get(e) ?? []).reduce((a, b) => a + b, 0) })),
        refusals: toCounts(refusals),
        topIps: toCounts(topIps),
        targetedAccounts: targeted.map((t) => ({ label: nameOf(t.label), count: Number(t.n) })),
        cspByDirective: toCounts(cspByDirective),
        cspSeries: csp.get('malicious_csp_violation') ?? [],
        alertsByRule: toCounts(alerts),
      };
    },
  };
}
