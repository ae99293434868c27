import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RANGES, type DashboardRange } from '../../modules/alerts/dashboard.js';
import type { AlertsService } from '../../modules/alerts/index.js';
import { barList, columnChart } from '../charts.js';
import { HTML_RESPONSE } from '../page-routes.js';
import { renderPage } from '../render.js';

const RECENT_ALERTS = 25;
const OUTCOME_NAMES = { authn_login_success: 'succeeded', authn_login_fail: 'failed', authn_login_lock: 'locked out' } as const;
const securityQuery = z.strictObject({ range: z.enum(['24h', '7d']).optional() });

/** The label of each bucket: the hour (UTC) for 24 h, the day for 7 d. */
function bucketLabels(range: DashboardRange, since: Date): string[] {
  const { buckets, bucketSeconds } = RANGES[range];
  return Array.from({ length: buckets }, (_, i) => {
    const start = new Date(since.getTime() + i * bucketSeconds * 1000).toISOString();
    return range === '24h' ? `${start.slice(11, 13)}h` : start.slice(5, 10);
  });
}

/**
 * The security dashboard (administrators): logins by outcome, refusals by kind, top source IPs
 * and targeted accounts, CSP reports and alerts over the last 24 hours or 7 days, as SVG charts
 * drawn on the server from aggregate queries, and the recent alerts with their delivery state.
 */
export const securityDashboardPages: FastifyPluginAsyncZod<{ alerts: AlertsService }> = (app, { alerts }) => {
  app.get('/admin/security', {
    config: { access: { action: 'read', subject: 'SecurityEvent' }, page: true },
    schema: { querystring: securityQuery, response: HTML_RESPONSE },
  }, async (request, reply) => {
    const range = request.query.range ?? '24h';
    // The page shows what the rules have counted so far.
    await alerts.flush();
    const data = await alerts.dashboard(range);
    const labels = bucketLabels(range, data.since);
    const recent = await alerts.recent(RECENT_ALERTS);
    return renderPage(request, reply, 'security-dashboard', {
      title: 'Security dashboard',
      range,
      ranges: [{ value: '24h', label: 'Last 24 hours', current: range === '24h' }, { value: '7d', label: 'Last 7 days', current: range === '7d' }],
      logins: columnChart(Object.entries(OUTCOME_NAMES).map(([event, name]) => ({ name, values: data.loginSeries[event as keyof typeof OUTCOME_NAMES] })), labels),
      csp: columnChart([{ name: 'CSP reports', values: data.cspSeries }], labels),
      refusals: barList(data.refusals),
      topIps: barList(data.topIps),
      accounts: barList(data.targetedAccounts),
      cspDirectives: barList(data.cspByDirective),
      alertRules: barList(data.alertsByRule),
      alerts: recent.map((a) => ({
        at: a.firedAt.toISOString().slice(0, 19).replace('T', ' '),
        rule: a.rule,
        severity: a.severity,
        summary: a.summary,
        count: a.count,
        delivery: a.deliveryState,
        attempts: a.attempts,
        lastError: a.lastError ?? '',
        mail: a.mailState,
      })),
    });
  });
  return Promise.resolve();
};
