import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { suiteBrowserTarget } from '../helpers/browser.js';
import { randomIp, tables } from '../helpers/build.js';
import { createVerifiedUser, signInInBrowser } from '../helpers/users.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import { REPO_ROOT } from '../fixtures/processes.js';

const SECRET = randomBytes(32).toString('base64url');
const SCREENSHOTS = join(REPO_ROOT, 'docs', 'screenshots');

/** A day of events, spread over the hours, as the dashboard aggregates them. */
async function seedEvents(db: ReturnType<typeof tables>, hoursAgo: number, event: string, severity: string, count: number, clientIp: string, details: Record<string, unknown> = {}): Promise<void> {
  if (count === 0) return;
  const rows = Array.from({ length: count }, () => sql`(now() - make_interval(hours => ${hoursAgo}) - make_interval(mins => ${randomInt(50)}), ${event}, ${severity}, ${clientIp}, ${JSON.stringify(details)}::jsonb)`);
  await sql`insert into security_events (occurred_at, event, severity, client_ip, details) values ${sql.join(rows)}`.execute(db);
}

describe('the security dashboard in chromium', () => {
  let receiver: WebhookReceiver;
  const env: Record<string, string> = { RAMPART_ALERT_WEBHOOK_SECRET: SECRET, RAMPART_ALERT_LOGIN_FAILURES_PER_ACCOUNT: '5/300', RAMPART_ALERT_ACCOUNTS_PER_IP: '3/600' };
  before(async () => {
    receiver = await startWebhookReceiver(SECRET);
    env.RAMPART_ALERT_WEBHOOK_URL = receiver.url;
  });
  after(() => receiver.close());
  const target = suiteBrowserTarget({ env });

  it('renders its charts as SVG with data, with no CSP violation, for an administrator', async () => {
    const { app } = target.rampart;
    const db = tables(app);
    const attacker = randomIp();
    const stuffer = randomIp();
    for (let hour = 0; hour < 24; hour += 1) {
      await seedEvents(db, hour, 'authn_login_success', 'info', 3 + ((hour * 7) % 9), randomIp());
      await seedEvents(db, hour, 'authn_login_fail', 'warn', (hour * 5) % 7, hour % 3 === 0 ? attacker : randomIp(), { email_index: randomBytes(32).toString('base64url') });
    }
    await seedEvents(db, 3, 'authn_login_lock', 'warn', 4, attacker);
    await seedEvents(db, 2, 'authz_fail', 'warn', 12, randomIp(), { route: '/api/admin/users' });
    await seedEvents(db, 5, 'malicious_csrf', 'error', 6, attacker);
    await seedEvents(db, 1, 'excess_rate_limit_exceeded', 'warn', 9, stuffer);
    await seedEvents(db, 6, 'malicious_csp_violation', 'warn', 7, randomIp(), { directive: 'script-src-elem' });
    await seedEvents(db, 4, 'malicious_csp_violation', 'warn', 3, randomIp(), { directive: 'img-src' });
    // Live events, which fire alerts and reach the webhook.
    const victim = await createVerifiedUser(app, 'author');
    for (let i = 0; i < 8; i += 1) app.securityEvents.record('authn_login_fail', { actor: victim.id, clientIp: attacker });
    for (let i = 0; i < 4; i += 1) app.securityEvents.record('authn_login_fail', { clientIp: stuffer, details: { email_index: randomBytes(32).toString('base64url') } });
    app.securityEvents.record('authn_token_reuse', { actor: victim.id, details: { kind: 'refresh' } });
    await app.securityEvents.flush();
    await app.alerts.flush();
    await app.alerts.deliveriesSettled();

    const admin = await createVerifiedUser(app, 'admin', { name: 'Ada Admin' });
    const { context, page } = await target.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const consoleViolations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) consoleViolations.push(message.text());
    });
    // Registered by the browser itself (not subject to the page's CSP): every violation the page causes.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
    });
    await page.goto(`${target.base}/admin/security`);
    await signInInBrowser(page, admin);
    await page.waitForURL(`${target.base}/admin/security`);
    await page.getByRole('heading', { name: 'Security dashboard' }).waitFor();

    const charts = await page.locator('svg[data-chart]').evaluateAll((svgs) => svgs.map((svg) => ({
      chart: svg.getAttribute('data-chart'),
      bars: [...svg.querySelectorAll('rect.bar')].map((rect) => ({ value: Number(rect.getAttribute('data-value')), height: rect.getBoundingClientRect().height, fill: getComputedStyle(rect).fill })),
    })));
    const byName = new Map(charts.map((c) => [c.chart, c.bars]));
    for (const name of ['logins', 'refusals', 'ips', 'accounts', 'alert-rules', 'csp', 'csp-directives']) {
      const bars = byName.get(name) ?? [];
      assert.ok(bars.length > 0, `${name} has bars`);
      assert.ok(bars.every((b) => b.value > 0 && b.height > 0), `${name}: every bar is drawn`);
      assert.ok(bars.every((b) => b.fill !== 'none' && b.fill !== ''), `${name}: coloured by the stylesheet`);
    }
    const loginTotal = (byName.get('logins') ?? []).reduce((sum, b) => sum + b.value, 0);
    assert.ok(loginTotal >= 24 * 3, `the logins chart counts the seeded logins (${loginTotal})`);
    const alerts = page.locator('table.alerts tbody tr');
    assert.ok(await alerts.count() >= 3, 'the recent alerts are listed');
    await page.locator('table.alerts').getByText('refresh_token_reuse').first().waitFor();
    await page.locator('table.alerts').getByText('delivered').first().waitFor();

    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard.png'), fullPage: true });
    // The securitypolicyviolation event fires as the violation happens: none may have.
    assert.deepEqual(await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations), []);
    assert.deepEqual(consoleViolations, []);
    assert.deepEqual(errors, []);
    await context.close();
  });
});
