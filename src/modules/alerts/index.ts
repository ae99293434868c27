import { defineModule } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import type { KernelSchema } from '../../platform/database-schema.js';
import { createAlertEngine } from './alert-engine.js';
import { createDashboardQueries, type DashboardData, type DashboardDatabase, type DashboardRange } from './dashboard.js';
import { contactAddresses, createDelivery, SWEEP_INTERVAL_MS } from './delivery.js';
import * as alertsMigration from './migrations/0001-alerts.js';
import { createAlertsRepository, type AlertRecord } from './repository.js';
import { pruneEventAddresses, type PruneResult } from './retention.js';
import { defaultRules } from './rules.js';
import type { AlertsTables } from './tables.js';

export { verifyAlertSignature, signAlert, SIGNATURE_HEADER, REPLAY_WINDOW_SECONDS } from './signature.js';
export { pruneEventAddresses } from './retention.js';

const RETENTION_INTERVAL_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** What the security dashboard page and operators' tooling use. */
export interface AlertsService {
  /** Counts every event observed so far against the rules and writes alert counts. */
  flush(): Promise<void>;
  /** Resolves when no delivery (webhook attempt, scheduled retry or mail) is in progress. */
  deliveriesSettled(): Promise<void>;
  recent(limit: number): Promise<AlertRecord[]>;
  dashboard(range: DashboardRange): Promise<DashboardData>;
  /** Erases client IPs of events older than the retention period (one instance at a time). */
  pruneEvents(): Promise<PruneResult>;
}

declare module 'fastify' {
  interface FastifyInstance {
    alerts: AlertsService;
  }
}

/**
 * Alerts over the security events: rules counted in the shared store, deduplicated, delivered
 * to a signed webhook (retried, then dead-lettered) and mailed to the security contact; the
 * security dashboard's aggregates; and the retention job that erases old events' client IPs.
 */
export const alertsModule = defineModule({
  name: 'alerts',
  dependencies: ['accounts', 'admin'],
  migrations: [{ name: '0001-alerts', migration: alertsMigration }],
  plugin(app) {
    const { config } = app;
    const db = tablesOf<AlertsTables>(app.database);
    const repository = createAlertsRepository(db);
    const mailTo = config.securityTxt.contactConfigured ? contactAddresses(config.securityTxt.contacts) : [];
    const delivery = createDelivery({
      webhook: config.alerts.webhook,
      attempts: config.alerts.attempts,
      retryBaseMs: config.alerts.retryBaseMs,
      mailTo,
      mailer: app.mailer,
      repository,
      logger: app.log,
      now: app.clock,
      dashboardUrl: `${config.publicUrl}/admin/security`,
    });
    const engine = createAlertEngine({
      rules: defaultRules(config.alerts),
      store: app.store,
      repository,
      deliver: (payload) => { delivery.deliver(payload); },
      dedupMs: config.alerts.dedupMs,
      dashboardUrl: `${config.publicUrl}/admin/security`,
      deliveryEnabled: config.alerts.webhook !== null,
      holdUntil: () => new Date(app.clock() + delivery.holdMs),
      mailEnabled: mailTo.length > 0,
      logger: app.log,
    });
    const stopObserving = app.securityEvents.observe((event) => { engine.observe(event); });
    const queries = createDashboardQueries(tablesOf<DashboardDatabase>(app.database));
    const events = tablesOf<Pick<KernelSchema, 'security_events'>>(app.database);
    const pruneEvents = () => pruneEventAddresses(events, { before: new Date(app.clock() - config.events.retentionDays * DAY_MS) });

    app.decorate('alerts', {
      flush: () => engine.flush(),
      deliveriesSettled: () => delivery.settled(),
      recent: (limit: number) => repository.recent(limit),
      dashboard: (range: DashboardRange) => queries.load(range, new Date(app.clock())),
      pruneEvents,
    } satisfies AlertsService);

    // Hourly on every instance; the advisory lock lets one at a time do the work.
    const retention = setInterval(() => {
      pruneEvents().then((result) => {
        if (result.erased > 0) app.log.info({ erased: result.erased, retentionDays: config.events.retentionDays }, 'erased the client IP of old security events');
      }, (err: unknown) => { app.log.error({ err }, 'the security event retention job failed; it runs again in an hour'); });
    }, RETENTION_INTERVAL_MS);
    retention.unref();
    // Webhook deliveries another instance stopped holding (it stopped mid-retry): at boot, then every 30 s.
    const sweeping = setInterval(() => { void delivery.sweep(); }, SWEEP_INTERVAL_MS);
    sweeping.unref();
    app.addHook('onReady', async () => { await delivery.sweep(); });

    app.addHook('onClose', async () => {
      clearInterval(retention);
      clearInterval(sweeping);
      stopObserving();
      await engine.flush();
      await delivery.close();
    });
    return Promise.resolve();
  },
});
