import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { responseSerializerCompiler } from './security/response-serializer.js';
import { bootRampart, type BuildOptions, type KernelOptions } from './kernel/boot.js';
import { collectEncryptedColumns, collectMigrations, composeAbilities, registerModules, type RampartModule } from './kernel/module.js';
import type { EncryptedColumn } from './security/key-maintenance.js';
import { SIGNING_KEY_COLUMN } from './security/signing-keys.js';
import { createKernelKeyring, decorateKernel } from './kernel/services.js';
import { createChainKeys } from './security/security-event-chain.js';
import type { NamedMigration } from './platform/database.js';
import { PLATFORM_ERRORS } from './platform/errors.js';
import { KERNEL_MIGRATIONS } from './platform/migrations/index.js';
import { collectErrors, KERNEL_ERRORS, type ErrorOwner } from './security/errors.js';
import { authenticationPlugin } from './security/authentication.js';
import { authorizationPlugin } from './security/authorization.js';
import { corsPlugin } from './security/cors.js';
import { cspReportPlugin } from './security/csp-report.js';
import { csrfPlugin } from './security/csrf.js';
import { drainingPlugin } from './security/draining.js';
import { securityHeadersPlugin } from './security/headers.js';
import { hostHeaderPlugin } from './security/host-header.js';
import { inputHardeningPlugin } from './security/input-hardening.js';
import { loadSheddingPlugin } from './security/load-shedding.js';
import { createMetrics, metricsPlugin, metricsRoutePlugin } from './security/metrics.js';
import { openApiPlugin } from './kernel/openapi.js';
import { problemDetailsPlugin } from './security/problem-details.js';
import { globalRateLimitPlugin, routeRateLimitsPlugin } from './security/rate-limit.js';
import { routeContractPlugin } from './security/route-contract.js';
import { securityEventsPlugin } from './security/security-events.js';
import { signInPlugin } from './security/sign-in.js';
import { stepUpPlugin } from './security/step-up.js';
import { accountsModule } from './modules/accounts/index.js';
import { adminModule } from './modules/admin/index.js';
import { alertsModule } from './modules/alerts/index.js';
import { bookmarksModule } from './modules/bookmarks/index.js';
import { commentsModule } from './modules/comments/index.js';
import { mfaModule } from './modules/mfa/index.js';
import { passkeysModule } from './modules/passkeys/index.js';
import { postsModule } from './modules/posts/index.js';
import { systemModule } from './modules/system/index.js';
import { tokensModule } from './modules/tokens/index.js';
import { webModule } from './web/index.js';

export type { BuildOptions } from './kernel/boot.js';

/** The version of the JSON API the OpenAPI document describes (`/openapi.json`). */
export const API_VERSION = '1.0.0';

/**
 * The application: the kernel's protections in their order, then these modules in theirs. A
 * module is one line here (see docs/add-a-module.md); each may use what those above it decorate.
 */
export const MODULES: readonly RampartModule[] = [
  systemModule,
  accountsModule,
  tokensModule,
  mfaModule,
  postsModule,
  commentsModule,
  adminModule,
  alertsModule,
  bookmarksModule,
  passkeysModule,
  webModule,
];

/**
 * Every coded error: the platform's, the kernel's, then each module's, keyed by code. Building it
 * throws if two owners define one code; README's error table documents each
 * (test/docs/error-registry.test.ts).
 */
export const ERROR_OWNERS: readonly ErrorOwner[] = [PLATFORM_ERRORS, KERNEL_ERRORS, ...MODULES.flatMap((module) => (module.errors === undefined ? [] : [module.errors]))];
export const ERRORS = collectErrors(ERROR_OWNERS);

/** Every migration of the kernel and the modules, in the order they run. */
export function rampartMigrations(modules: readonly RampartModule[] = MODULES): NamedMigration[] {
  return collectMigrations(KERNEL_MIGRATIONS, modules);
}

/** Every column holding keyring ciphertext: the kernel's signing keys, then each module's declarations. */
export function rampartEncryptedColumns(modules: readonly RampartModule[] = MODULES): EncryptedColumn[] {
  return collectEncryptedColumns([SIGNING_KEY_COLUMN], modules);
}

/**
 * The kernel's registration order is the contract: each line may rely on everything above it,
 * and every onRequest hook runs in this order. Then the modules, then your plugins.
 */
const rampart = fp<KernelOptions>(
  async (app, { config, resources: opened, loadShedding, plugins, clock, metrics: collectMetrics }) => {
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(responseSerializerCompiler);
    // 0. Metrics: this instance's registry, and every answer counted by route template. The
    //    store, the hasher and the database are timed from here on.
    let resources = opened;
    if (collectMetrics) {
      const metrics = createMetrics();
      await app.register(metricsPlugin, { metrics });
      resources = { ...opened, store: metrics.instrumentStore(opened.store), passwords: metrics.instrumentPasswords(opened.passwords) };
      const stopObserving = metrics.observeDatabase(opened.database);
      app.addHook('onClose', (_instance, done) => {
        stopObserving();
        done();
      });
    }
    // 1. Security events: everything below may record one. Then what modules build on.
    const keyring = createKernelKeyring(app, config);
    await app.register(securityEventsPlugin, {
      db: resources.database.db,
      chain: createChainKeys(keyring),
      coalescing: { windowMs: config.events.coalesceWindowMs, rowsPerWindow: config.events.coalesceRows },
      now: clock,
    });
    decorateKernel(app, { config, resources, clock, modules: MODULES, keyring });
    // 2. Errors and 404s as problem+json.
    await app.register(problemDetailsPlugin);
    // 3. No route without an access rule and schemas: must precede every route.
    await app.register(routeContractPlugin);
    //    The OpenAPI document collects the routes as they are added, so it precedes them too.
    const guest = composeAbilities(MODULES).abilityFor(null);
    await app.register(openApiPlugin, { title: 'Rampart API', version: API_VERSION, publicUrl: config.publicUrl, sessionCookieName: config.sessions.cookieName, guestMay: ({ action, subject }) => guest.can(action, subject) });
    // 4. Headers first among onRequest hooks, so 503 and 429 answers carry them too.
    await app.register(securityHeadersPlugin, { hstsPreload: config.hsts.preload, pageCsp: { publicOrigin: config.publicOrigin, reportOnly: config.cspReportOnly } });
    // 5. Refuse new work while draining; 6. shed load, cheapest refusal first.
    await app.register(drainingPlugin);
    await app.register(loadSheddingPlugin, { ...config.loadShedding, ...loadShedding });
    // 7. The global per-client rate limit, on the shared store; then the Host header names this
    //    site (after the limit, so a flood of forged hosts is throttled before each refusal is recorded).
    await app.register(globalRateLimitPlugin, { store: resources.store, points: config.rateLimit.points, windowSeconds: config.rateLimit.windowSeconds });
    await app.register(hostHeaderPlugin, { publicOrigin: config.publicOrigin, allowedHosts: config.allowedHosts, allowLoopback: !config.isProduction });
    // 8. CORS (off unless exact origins are configured); preflights are answered here.
    await app.register(corsPlugin, config.cors);
    // 9. Cookie sessions and bearer tokens (`request.principal`); `access: 'authenticated'`
    //    routes answer 401 here, before any body is read. Users come from the identity seam.
    await app.register(authenticationPlugin, {
      sessions: app.sessions,
      cookieName: config.sessions.cookieName,
      secureCookies: config.sessions.secureCookies,
      loadPrincipal: async (userId, marker) => (await app.userStates.get(userId, marker)).principal,
      bearer: { resolve: (token) => app.identity.resolveBearer(token), scopes: app.scopes.all },
    });
    // 10. Authorization: the modules' abilities, deny by default; 401/403 before any body is read.
    await app.register(authorizationPlugin, composeAbilities(MODULES));
    // 10b. Step-up ("sudo mode") and the second-factor enrolment policy, declared per route: a
    //      sensitive route needs a proof of presence from the last 10 minutes on this session.
    await app.register(stepUpPlugin, {
      store: resources.store,
      now: clock,
      confirmPage: '/account/confirm',
      enrolPage: '/account/security',
      mfaRequired: config.mfa.required,
      enrolled: (userId) => app.identity.secondFactorEnrolled(userId),
    });
    // 11. CSRF on unsafe methods (a preHandler, after authentication and validation). Development
    //     also serves the loopback addresses the console prints; production only exact origins.
    await app.register(csrfPlugin, {
      store: resources.store,
      keyring: app.keyring,
      publicOrigin: config.publicOrigin,
      trustedOrigins: [...config.csrf.trustedOrigins, ...app.loopbackOrigins],
      preSessionCookieName: config.sessions.secureCookies ? '__Host-rampart_presession' : 'rampart_presession',
      secureCookies: config.sessions.secureCookies,
      preSessionTtlMs: 2 * 3_600_000,
    });
    await app.register(signInPlugin, { sessions: app.sessions });
    // 12. Routes' own limits (config.rateLimit), spent after the CSRF check; body parsing and
    //     forbidden keys, before any validation or handler; CSP reports.
    await app.register(routeRateLimitsPlugin, { store: resources.store });
    await app.register(inputHardeningPlugin);
    await app.register(cspReportPlugin, { store: resources.store });
    // `/metrics` on this port only with a scraper's token (else it does not exist here).
    if (collectMetrics && config.metrics.token !== null) await app.register(metricsRoutePlugin, { token: config.metrics.token });
    // 13. The modules, then your plugins.
    await registerModules(app, MODULES);
    app.addHook('onReady', (done) => {
      try {
        app.identity.assertComplete();
        done();
      } catch (err) {
        done(err as Error);
      }
    });
    for (const plugin of plugins) await app.register(plugin);
  },
  { name: 'rampart' },
);

/** Builds a ready-to-listen Rampart instance: opens the database and store, migrates, registers everything. */
export function buildRampart(options: BuildOptions): Promise<FastifyInstance> {
  return bootRampart(options, rampart, rampartMigrations(), rampartEncryptedColumns());
}
