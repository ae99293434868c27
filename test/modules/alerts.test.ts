import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { signAlert, verifyAlertSignature } from '../../src/modules/alerts/index.js';
import { createAlertsRepository } from '../../src/modules/alerts/repository.js';
import { defaultRules } from '../../src/modules/alerts/rules.js';
import type { AlertsTables } from '../../src/modules/alerts/tables.js';
import { tablesOf } from '../../src/platform/database.js';
import type { ObservedEvent } from '../../src/security/security-events.js';
import { build, buildUnmanaged, privateDatabase, randomIp, suiteAppWithMail, tables, testEnvironment, type BuildResult } from '../helpers/build.js';
import { sharedByInstances, type TargetResources } from '../helpers/stores.js';
import { enrolTotp, signedIn } from '../helpers/users.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = randomBytes(32).toString('base64url');
const ALERT_ENV = {
  RAMPART_ALERT_WEBHOOK_ATTEMPTS: '3',
  RAMPART_ALERT_RETRY_BASE_MS: '100',
  RAMPART_ALERT_LOGIN_FAILURES_PER_ACCOUNT: '5/300',
  RAMPART_ALERT_LOGIN_FAILURES_PER_IP: '1000/300',
  RAMPART_ALERT_ACCOUNTS_PER_IP: '3/600',
  RAMPART_ALERT_CSP_VIOLATIONS: '1000/300',
  RAMPART_SECURITY_CONTACT: 'mailto:soc@example.com',
};

const emailIndex = (): string => randomBytes(32).toString('base64url');

function alertRows(app: FastifyInstance, key: string) {
  return tablesOf<AlertsTables>(app.database).selectFrom('alerts').selectAll().where('alert_key', '=', key).orderBy('fired_at').execute();
}

async function settle(app: FastifyInstance): Promise<void> {
  await app.alerts.flush();
  await app.alerts.deliveriesSettled();
}

/** The deliveries for one alert key, as the receiver accepted them. */
function deliveriesFor(receiver: WebhookReceiver, key: string): Record<string, unknown>[] {
  return receiver.accepted.map((d) => JSON.parse(d.body) as Record<string, unknown>).filter((p) => p.key === key);
}

describe('alerts: rules, signed webhook, mail', () => {
  let receiver: WebhookReceiver;
  const env: Record<string, string> = { ...ALERT_ENV, RAMPART_ALERT_WEBHOOK_SECRET: SECRET };
  before(async () => {
    receiver = await startWebhookReceiver(SECRET);
    env.RAMPART_ALERT_WEBHOOK_URL = receiver.url;
  });
  after(() => receiver.close());
  const served = suiteAppWithMail({ env });

  it('turns a flood of failed logins on one account into one signed alert whose count is the flood', async () => {
    const { app } = served.rampart;
    const account = emailIndex();
    const ip = randomIp();
    for (let i = 0; i < 200; i += 1) app.securityEvents.record('authn_login_fail', { clientIp: ip, details: { email_index: account } });
    await settle(app);
    const rows = await alertRows(app, account);
    // One alert for the flood, counting every event of it.
    assert.deepEqual(rows.map((r) => [r.rule, r.count, r.delivery_state]), [['login_failures_account', 200, 'delivered']]);
    const delivered = deliveriesFor(receiver, account);
    assert.deepEqual(delivered.map((d) => [d.rule, d.dashboard]), [['login_failures_account', `${served.base}/admin/security`]], 'one webhook delivery');
    assert.ok(delivered.every((d) => Number(d.count) >= 5));
  });

  it('signs every delivery so the documented check accepts it, and refuses a forged or replayed one', async () => {
    const { app } = served.rampart;
    const user = `user-${randomBytes(4).toString('hex')}`;
    app.securityEvents.record('authn_token_reuse', { actor: user, clientIp: randomIp(), details: { kind: 'refresh', family_revoked: 2 } });
    await settle(app);
    const delivery = receiver.accepted.find((d) => (JSON.parse(d.body) as { key: string }).key === user);
    assert.ok(delivery !== undefined, 'the receiver accepted the alert');
    assert.match(delivery.signature ?? '', /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(verifyAlertSignature({ secret: SECRET, header: delivery.signature, body: delivery.body }).ok, true);

    // Forged: the body changed, a signature under another secret, a missing or mangled header.
    const tampered = delivery.body.replace('"critical"', '"info"');
    assert.equal(await receiver.post(tampered, delivery.signature), 401);
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await receiver.post(delivery.body, signAlert('another secret of enough length 123456', delivery.body, now)), 401);
    assert.equal(await receiver.post(delivery.body, undefined), 401);
    assert.equal(await receiver.post(delivery.body, 't=abc,v1=zz'), 401);
    // Replayed: the same signed delivery, sent again once the replay window has passed.
    receiver.clockOffsetSeconds = 301;
    try {
      assert.equal(await receiver.post(delivery.body, delivery.signature), 401);
    } finally {
      receiver.clockOffsetSeconds = 0;
    }
    const reasons = receiver.refused.slice(-5).map((d) => (d.verdict.ok ? 'ok' : d.verdict.reason));
    assert.deepEqual(reasons, ['forged', 'forged', 'malformed', 'malformed', 'replayed']);
    // A signature from the future is refused like one from the past.
    assert.deepEqual(verifyAlertSignature({ secret: SECRET, header: signAlert(SECRET, 'x', now + 301), body: 'x', nowSeconds: now }), { ok: false, reason: 'replayed' });
  });

  it('mails the alert to the security contact', async () => {
    const { app } = served.rampart;
    const user = `user-${randomBytes(4).toString('hex')}`;
    app.securityEvents.record('authn_token_reuse', { actor: user, details: { kind: 'refresh' } });
    await settle(app);
    const mail = await served.smtp.waitFor((m) => m.text.includes(user));
    assert.deepEqual(mail.to, ['soc@example.com']);
    assert.match(mail.subject, /^\[Rampart alert\] a refresh token was used twice/);
    assert.ok(mail.text.includes(`Dashboard: ${served.base}/admin/security`));
    assert.deepEqual((await alertRows(app, user)).map((r) => r.mail_state), ['sent']);
  });

  it('fires credential stuffing on distinct accounts from one IP, counting each account once', async () => {
    const { app } = served.rampart;
    const ip = randomIp();
    const [a, b, c, d] = [emailIndex(), emailIndex(), emailIndex(), emailIndex()];
    // The same two accounts again: still two accounts, not four.
    for (const account of [a, b, a, b]) app.securityEvents.record('authn_login_fail', { clientIp: ip, details: { email_index: account } });
    await settle(app);
    assert.equal((await alertRows(app, ip)).length, 0, 'two distinct accounts are below the threshold of three');
    for (const account of [c, d]) app.securityEvents.record('authn_login_fail', { clientIp: ip, details: { email_index: account } });
    await settle(app);
    const rows = await alertRows(app, ip);
    assert.deepEqual(rows.map((r) => [r.rule, r.count, r.severity]), [['credential_stuffing', 4, 'error']]);
  });

  it('alerts on a new administrator and on every role change', async () => {
    const { app } = served.rampart;
    const target = crypto.randomUUID();
    app.securityEvents.record('privilege_permissions_changed', { actor: crypto.randomUUID(), details: { target_id: target, from_role: 'author', to_role: 'admin', disabled: false, was_disabled: false } });
    const demoted = crypto.randomUUID();
    app.securityEvents.record('privilege_permissions_changed', { actor: crypto.randomUUID(), details: { target_id: demoted, from_role: 'moderator', to_role: 'author', disabled: false, was_disabled: false } });
    const disabledOnly = crypto.randomUUID();
    app.securityEvents.record('privilege_permissions_changed', { actor: crypto.randomUUID(), details: { target_id: disabledOnly, from_role: 'author', to_role: 'author', disabled: true, was_disabled: false } });
    const setupAdmin = crypto.randomUUID();
    app.securityEvents.record('user_created', { actor: setupAdmin, details: { role: 'admin', via: 'setup' } });
    await settle(app);
    assert.deepEqual((await alertRows(app, target)).map((r) => r.rule).sort(), ['new_admin', 'role_changed']);
    assert.deepEqual((await alertRows(app, demoted)).map((r) => r.rule), ['role_changed']);
    assert.deepEqual(await alertRows(app, disabledOnly), [], 'disabling is not a role change');
    assert.deepEqual((await alertRows(app, setupAdmin)).map((r) => r.rule), ['new_admin']);
  });

  it('alerts on the deploy checks\' warnings a production start records', async () => {
    const { app } = served.rampart;
    const id = `RAMPART-W${randomBytes(3).toString('hex')}`;
    app.securityEvents.record('sys_startup', { details: { environment: 'production', deploy_warnings: [id, 'RAMPART-W002'] } });
    app.securityEvents.record('sys_startup', { details: { environment: 'production', deploy_warnings: [] } });
    await settle(app);
    const rows = await alertRows(app, ['RAMPART-W002', id].sort().join(','));
    assert.deepEqual(rows.map((r) => [r.rule, r.severity]), [['deploy_warnings', 'warn']]);
  });

  it('fires on a CSP violation spike site-wide (rule over the event, threshold from config)', () => {
    const rules = defaultRules({ ...served.rampart.config.alerts, cspViolations: { count: 3, windowSeconds: 60 } });
    const [csp] = rules.filter((r) => r.name === 'csp_violation_spike');
    assert.ok(csp !== undefined);
    assert.deepEqual(csp.threshold, { count: 3, windowSeconds: 60 });
    assert.equal(csp.key({ event: 'malicious_csp_violation', severity: 'warn', actor: null, clientIp: randomIp(), details: {}, at: 0 }), 'site');
  });

  it('fires when MFA is removed from an administrator (over `authn_mfa_disabled`, which mfa and passkeys record with the role)', () => {
    const [rule] = defaultRules(served.rampart.config.alerts).filter((r) => r.name === 'admin_mfa_removed');
    assert.ok(rule !== undefined);
    assert.deepEqual(rule.events, ['authn_mfa_disabled']);
    const event = (details: Record<string, string>): ObservedEvent => ({ event: 'authn_mfa_disabled', severity: 'warn', actor: 'u-1', clientIp: null, details, at: 0 });
    assert.equal(rule.key(event({ role: 'admin', method: 'totp', target_id: 'u-2' })), 'u-2');
    assert.equal(rule.key(event({ role: 'admin', method: 'passkey' })), 'u-1');
    assert.equal(rule.key(event({ role: 'author', method: 'totp' })), null, 'not for other roles');
  });

  it('alerts when an administrator turns their authenticator app off, not when an author does', async () => {
    const { app } = served.rampart;
    const admin = await signedIn(app, 'admin');
    const author = await signedIn(app, 'author');
    for (const actor of [admin, author]) {
      // An administrator is signed in with an authenticator already (the RAMPART_MFA_REQUIRED default).
      if (actor.user.totpSecret === undefined) await enrolTotp(actor.client, actor.user, () => app.clock());
      const off = await actor.client.delete('/api/account/mfa/totp');
      assert.equal(off.statusCode, 204, off.body);
    }
    await settle(app);
    assert.deepEqual((await alertRows(app, admin.user.id)).map((r) => [r.rule, r.severity]), [['admin_mfa_removed', 'critical']]);
    assert.deepEqual(deliveriesFor(receiver, admin.user.id).map((d) => d.rule), ['admin_mfa_removed']);
    assert.deepEqual(await alertRows(app, author.user.id), [], 'an author turning it off is no alert');
  });

  it('retries a failing webhook with back-off and records the delivery once it succeeds', async () => {
    const { app } = served.rampart;
    const user = `user-${randomBytes(4).toString('hex')}`;
    let failures = 0;
    receiver.respond = (d) => {
      if (!d.body.includes(user)) return { status: 204 };
      failures += 1;
      return failures <= 2 ? { status: 503 } : { status: 204 };
    };
    try {
      app.securityEvents.record('authn_token_reuse', { actor: user });
      await settle(app);
    } finally {
      receiver.respond = () => ({ status: 204 });
    }
    const rows = await alertRows(app, user);
    assert.deepEqual(rows.map((r) => [r.delivery_state, r.attempts, r.last_error]), [['delivered', 3, null]]);
    const attempts = receiver.all.filter((d) => d.body.includes(user));
    assert.equal(attempts.length, 3);
    assert.ok(attempts.every((d) => d.verdict.ok), 'every attempt is signed afresh');
  });

  it('dead-letters an alert after the last failed attempt, with its payload', async () => {
    const { app } = served.rampart;
    const user = `user-${randomBytes(4).toString('hex')}`;
    receiver.respond = (d) => (d.body.includes(user) ? { status: 500 } : { status: 204 });
    try {
      app.securityEvents.record('authn_token_reuse', { actor: user });
      await settle(app);
    } finally {
      receiver.respond = () => ({ status: 204 });
    }
    const rows = await alertRows(app, user);
    assert.deepEqual(rows.map((r) => [r.delivery_state, r.attempts]), [['dead', 3]]);
    const letters = await tablesOf<AlertsTables>(app.database).selectFrom('alert_dead_letters').selectAll().where('alert_id', 'in', rows.map((r) => r.id)).execute();
    assert.deepEqual(letters.map((l) => [l.attempts, l.last_error, (JSON.parse(l.payload) as { key: string }).key]), [[3, 'HTTP 500', user]]);
  });

  it('never follows a redirect: the signed payload goes nowhere else, and the attempt counts as failed', async () => {
    const { app } = served.rampart;
    const elsewhere = await startWebhookReceiver(SECRET);
    const user = `user-${randomBytes(4).toString('hex')}`;
    receiver.respond = (d) => (d.body.includes(user) ? { status: 307, headers: { location: elsewhere.url } } : { status: 204 });
    try {
      app.securityEvents.record('authn_token_reuse', { actor: user });
      await settle(app);
    } finally {
      receiver.respond = () => ({ status: 204 });
      await elsewhere.close();
    }
    assert.equal(elsewhere.all.length, 0, 'the redirect target received nothing');
    assert.deepEqual((await alertRows(app, user)).map((r) => [r.delivery_state, r.last_error]), [['dead', 'redirect refused (HTTP 307)']]);
  });
});

describe('alerts across instances', () => {
  let shared: TargetResources | undefined;
  let first: BuildResult;
  let second: BuildResult;
  before(async () => {
    const env = testEnvironment(ALERT_ENV);
    shared = await sharedByInstances();
    first = await buildUnmanaged({ env, shared });
    second = await buildUnmanaged({ env, shared });
  });
  after(async () => {
    await second.app.close();
    await first.app.close();
    await shared?.close();
  });

  it('counts one window in the shared store: failures split over two instances fire one alert with the total', async () => {
    const account = emailIndex();
    // Four on each instance: neither alone reaches five.
    for (const app of [first.app, second.app]) {
      for (let i = 0; i < 4; i += 1) app.securityEvents.record('authn_login_fail', { clientIp: randomIp(), details: { email_index: account } });
      await app.alerts.flush();
    }
    const rows = await alertRows(first.app, account);
    assert.deepEqual(rows.map((r) => [r.rule, r.count]), [['login_failures_account', 8]]);
  });

  it('fires once when both instances cross the threshold at the same moment', async () => {
    const account = emailIndex();
    for (const app of [first.app, second.app]) {
      for (let i = 0; i < 10; i += 1) app.securityEvents.record('authn_login_fail', { clientIp: randomIp(), details: { email_index: account } });
    }
    await Promise.all([first.app.alerts.flush(), second.app.alerts.flush()]);
    const rows = await alertRows(first.app, account);
    assert.deepEqual(rows.map((r) => r.count), [20]);
  });
});

describe('alert webhook retries outlive their instance', () => {
  it('a retry left by a stopped instance is held until it falls due, then taken over once and delivered', async (t) => {
    const receiver = await startWebhookReceiver(SECRET);
    t.after(() => receiver.close());
    const shared = await sharedByInstances();
    t.after(async () => { await shared?.close(); });
    // A database of this test's own: the later instances' clocks would take other files' retries.
    const env = { ...ALERT_ENV, ...(await privateDatabase(t)), RAMPART_ALERT_WEBHOOK_URL: receiver.url, RAMPART_ALERT_WEBHOOK_SECRET: SECRET, RAMPART_ALERT_RETRY_BASE_MS: '600000' };
    const user = `user-${randomBytes(4).toString('hex')}`;
    receiver.respond = (d) => (d.body.includes(user) ? { status: 503 } : { status: 204 });

    const first = await buildUnmanaged({ env, shared });
    first.app.securityEvents.record('authn_token_reuse', { actor: user });
    await first.app.alerts.flush();
    let polls = 0;
    while ((await alertRows(first.app, user))[0]?.delivery_state !== 'retrying') {
      polls += 1;
      assert.ok(polls < 200, 'the first attempt was recorded as failed');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Stopped with its retry ten minutes away: the retry is left in the table, not lost.
    await first.app.close();
    receiver.respond = () => ({ status: 204 });

    // An instance starting now leaves it alone: the back-off has not passed.
    const now = await buildUnmanaged({ env, shared });
    await now.app.alerts.deliveriesSettled();
    assert.deepEqual((await alertRows(now.app, user)).map((r) => [r.delivery_state, r.attempts]), [['retrying', 1]]);
    await now.app.close();

    // An hour later (the receiver's clock too, for the signature's replay window), two instances
    // start: the first takes the retry over at boot, the second finds it held, then delivered.
    receiver.clockOffsetSeconds = 3600;
    const later = () => Date.now() + 3_600_000;
    const takers: BuildResult[] = [];
    try {
      for (let i = 0; i < 2; i += 1) takers.push(await buildUnmanaged({ env, shared, clock: later }));
      // Closing waits for the attempt in progress (and would drop a retry instead of waiting for it).
      await takers[0]!.app.close();
      const rows = await alertRows(takers[1]!.app, user);
      assert.deepEqual(rows.map((r) => [r.delivery_state, r.attempts, r.last_error, r.next_attempt_at]), [['delivered', 2, null, null]]);
      const attempts = receiver.all.filter((d) => d.body.includes(user));
      assert.equal(attempts.length, 2, 'the failed first attempt and one takeover, never two');
      assert.ok(attempts.every((d) => d.verdict.ok), 'the taken-over attempt is signed like the first');
      const payload = JSON.parse(attempts[1]!.body) as { id: string; rule: string; key: string; dashboard: string };
      assert.deepEqual([payload.id, payload.rule, payload.key], [rows[0]!.id, 'refresh_token_reuse', user]);
      assert.match(payload.dashboard, /\/admin\/security$/);
    } finally {
      for (const taker of takers) await taker.app.close();
    }
  });
});

describe('alert delivery claims', () => {
  it('a stale attempt (its instance stalled past the hold) never overwrites the attempt that took over, nor dead-letters it', async (t) => {
    // A database of this test's own: the sweep below looks two minutes ahead.
    const { app } = await build(t, { env: await privateDatabase(t) });
    const repository = createAlertsRepository(tablesOf<AlertsTables>(app.database));
    const id = randomUUID();
    const minutes = (n: number) => new Date(Date.now() + n * 60_000);
    await repository.insert({ id, rule: 'refresh_token_reuse', key: `user-${randomBytes(4).toString('hex')}`, severity: 'critical', summary: 'a refresh token was reused', details: {}, count: 1, deliveryState: 'pending', mailState: 'none', nextAttemptAt: minutes(1) });
    assert.equal(await repository.claimAttempt(id, 0, minutes(1)), true, 'the firing instance takes attempt 1');
    assert.equal(await repository.claimAttempt(id, 0, minutes(1)), false, 'attempt 1 is taken once');
    assert.deepEqual(await repository.claimDue(new Date(), minutes(1), 20), [], 'held: no sweep takes it now');
    const taken = await repository.claimDue(minutes(2), minutes(3), 20);
    assert.deepEqual(taken.map((a) => [a.id, a.attempt]), [[id, 2]], 'past the hold, a sweep takes attempt 2');
    // Attempt 1's late outcomes are refused; attempt 2's lands.
    assert.equal(await repository.markDelivery(id, { state: 'retrying', attempts: 1, lastError: 'HTTP 503', delivered: false, nextAttemptAt: minutes(1) }), false);
    assert.equal(await repository.deadLetter(id, 1, 'HTTP 500', '{}'), false);
    assert.equal(await repository.markDelivery(id, { state: 'delivered', attempts: 2, lastError: null, delivered: true, nextAttemptAt: null }), true);
    assert.equal(await repository.markDelivery(id, { state: 'retrying', attempts: 2, lastError: 'HTTP 503', delivered: false, nextAttemptAt: minutes(1) }), false, 'a delivered alert stays delivered');
    const row = await tablesOf<AlertsTables>(app.database).selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual([row.delivery_state, row.attempts, row.last_error, row.next_attempt_at], ['delivered', 2, null, null]);
    assert.equal((await tablesOf<AlertsTables>(app.database).selectFrom('alert_dead_letters').select('id').where('alert_id', '=', id).execute()).length, 0);
  });
});

describe('alert webhook configuration', () => {
  it('refuses a webhook URL with credentials, a missing or short secret, and plain http in production', async () => {
    const { inspectEnvironment } = await import('../../src/config/config.js');
    const problems = (extra: Record<string, string>) => inspectEnvironment({ ...testEnvironment(), ...extra }).problems.map((p) => p.setting);
    assert.deepEqual(problems({ RAMPART_ALERT_WEBHOOK_URL: 'https://user:pw@hooks.example.com/x', RAMPART_ALERT_WEBHOOK_SECRET: SECRET }), ['RAMPART_ALERT_WEBHOOK_URL']);
    assert.deepEqual(problems({ RAMPART_ALERT_WEBHOOK_URL: 'https://hooks.example.com/x' }), ['RAMPART_ALERT_WEBHOOK_SECRET']);
    assert.deepEqual(problems({ RAMPART_ALERT_WEBHOOK_URL: 'https://hooks.example.com/x', RAMPART_ALERT_WEBHOOK_SECRET: 'short' }), ['RAMPART_ALERT_WEBHOOK_SECRET']);
    assert.deepEqual(problems({ RAMPART_ALERT_WEBHOOK_URL: 'file:///etc/passwd', RAMPART_ALERT_WEBHOOK_SECRET: SECRET }), ['RAMPART_ALERT_WEBHOOK_URL']);
    assert.deepEqual(problems({ RAMPART_ALERT_LOGIN_FAILURES_PER_IP: '0/60' }), ['RAMPART_ALERT_LOGIN_FAILURES_PER_IP']);
    const production = inspectEnvironment({ ...testEnvironment(), NODE_ENV: 'production', RAMPART_ALERT_WEBHOOK_URL: 'http://hooks.example.com/x', RAMPART_ALERT_WEBHOOK_SECRET: SECRET });
    assert.ok(production.problems.some((p) => p.setting === 'RAMPART_ALERT_WEBHOOK_URL'));
  });
});

describe('the security dashboard', () => {
  const served = suiteAppWithMail({ env: ALERT_ENV });

  it('is for administrators only: 403 for an author and a moderator, the sign-in page for a guest', async () => {
    const { app } = served.rampart;
    for (const role of ['author', 'moderator'] as const) {
      const { client } = await signedIn(app, role);
      const page = await client.get('/admin/security');
      assert.equal(page.statusCode, 403, role);
      assert.doesNotMatch(page.body, /<svg/);
    }
    const guest = await app.inject({ method: 'GET', url: '/admin/security', remoteAddress: randomIp() });
    assert.equal(guest.statusCode, 303);
    assert.equal(guest.headers.location, '/login?next=%2Fadmin%2Fsecurity');
  });

  it('shows counts from the events, coalesced rows included, as SVG with no inline style or script', async () => {
    const { app } = served.rampart;
    const { client } = await signedIn(app, 'admin');
    const ip = randomIp();
    for (let i = 0; i < 200; i += 1) app.securityEvents.record('authz_fail', { clientIp: ip, details: { route: '/x' } });
    // Rows are written in the background; a flush also closes the coalescing window (its summary row).
    await app.securityEvents.flush();
    const rows = await tables(app).selectFrom('security_events').select('details').where('client_ip', '=', ip).execute();
    assert.equal(rows.length, 11);
    const page = await client.get('/admin/security?range=7d');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<svg class="chart-svg"[^>]*data-chart="logins"/);
    assert.doesNotMatch(page.body, /\sstyle=/);
    assert.equal((page.body.match(/<script/g) ?? []).length, 1, 'only the layout\'s nonce script');
    // 200 identical events: ten rows and a summary counting 190 more; the chart counts 200.
    assert.ok(page.body.includes(`>${ip} (200)</text>`), 'the top IPs list counts the coalesced events');
    const bad = await client.get('/admin/security?range=1y');
    assert.equal(bad.statusCode, 400);
  });
});
