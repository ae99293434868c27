import type { AlertThreshold, Config } from '../../config/config.js';
import type { ObservedEvent, Severity } from '../../security/security-events.js';

/**
 * One alert rule: which events it watches, what it counts them by (the key: an account, an IP,
 * a user), and how many within a window fire it. Events are counted in the shared store, so
 * every instance adds to one count.
 */
export interface AlertRule {
  readonly name: string;
  readonly severity: Severity;
  /** Event names watched (strings: a rule may name an event a later module adds, like `mfa_disabled`). */
  readonly events: readonly string[];
  readonly threshold: AlertThreshold;
  /** What the event is counted by, or null when this event is not one the rule is about. */
  key(event: ObservedEvent): string | null;
  /** When set, the rule counts distinct values of this per key (distinct accounts per IP). */
  distinct?(event: ObservedEvent): string | null;
  /** One line for the webhook, the mail subject and the dashboard. */
  summary(key: string, count: number): string;
}

const ONCE: AlertThreshold = { count: 1, windowSeconds: 60 };

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** The account a login event is about: its user when known, otherwise the email's blind index (never the address). */
const account = (event: ObservedEvent): string | null => event.actor ?? text(event.details.email_index);

/** The built-in rules, with the thresholds the configuration sets (see the README's alerts section). */
export function defaultRules(alerts: Config['alerts']): readonly AlertRule[] {
  return [
    {
      name: 'login_failures_account',
      severity: 'warn',
      events: ['authn_login_fail'],
      threshold: alerts.loginFailuresPerAccount,
      key: account,
      summary: (key, count) => `${count} failed logins for one account (${key.slice(0, 12)}…) within ${alerts.loginFailuresPerAccount.windowSeconds} s`,
    },
    {
      name: 'login_failures_ip',
      severity: 'warn',
      events: ['authn_login_fail'],
      threshold: alerts.loginFailuresPerIp,
      key: (event) => event.clientIp,
      summary: (key, count) => `${count} failed logins from ${key} within ${alerts.loginFailuresPerIp.windowSeconds} s`,
    },
    {
      name: 'credential_stuffing',
      severity: 'error',
      events: ['authn_login_fail'],
      threshold: alerts.accountsPerIp,
      key: (event) => event.clientIp,
      distinct: account,
      summary: (key, count) => `credential stuffing: ${key} failed logins on ${count} distinct accounts within ${alerts.accountsPerIp.windowSeconds} s`,
    },
    {
      name: 'refresh_token_reuse',
      severity: 'critical',
      events: ['authn_token_reuse'],
      threshold: ONCE,
      key: (event) => event.actor ?? 'unknown',
      summary: (key) => `a refresh token was used twice (user ${key}): its family is revoked`,
    },
    {
      name: 'csp_violation_spike',
      severity: 'warn',
      events: ['malicious_csp_violation'],
      threshold: alerts.cspViolations,
      key: () => 'site',
      summary: (_key, count) => `${count} CSP violation reports within ${alerts.cspViolations.windowSeconds} s`,
    },
    {
      name: 'new_admin',
      severity: 'critical',
      events: ['user_created', 'privilege_permissions_changed'],
      threshold: ONCE,
      key(event) {
        if (event.event === 'user_created') return event.details.role === 'admin' ? event.actor : null;
        return event.details.to_role === 'admin' && event.details.from_role !== 'admin' ? text(event.details.target_id) : null;
      },
      summary: (key) => `a new administrator: user ${key}`,
    },
    {
      name: 'role_changed',
      severity: 'warn',
      events: ['privilege_permissions_changed'],
      threshold: ONCE,
      key: (event) => (event.details.from_role !== event.details.to_role ? text(event.details.target_id) : null),
      summary: (key) => `the role of user ${key} changed`,
    },
    {
      // mfa and passkeys record `authn_mfa_disabled` with the account's role in details (`role`)
      // and the account as the actor (or `target_id`): TOTP removed, or the last passkey removed.
      name: 'admin_mfa_removed',
      severity: 'critical',
      events: ['authn_mfa_disabled'],
      threshold: ONCE,
      key: (event) => (event.details.role === 'admin' ? (text(event.details.target_id) ?? event.actor) : null),
      summary: (key) => `multi-factor authentication was removed from administrator ${key}`,
    },
    {
      // server.ts lists the production deploy checks' warnings in sys_startup.
      name: 'deploy_warnings',
      severity: 'warn',
      events: ['sys_startup'],
      threshold: ONCE,
      key(event) {
        const warnings = event.details.deploy_warnings;
        return Array.isArray(warnings) && warnings.length > 0 ? [...(warnings as readonly string[])].sort().join(',') : null;
      },
      summary: (key) => `the server started with deploy check warnings: ${key}`,
    },
  ];
}
