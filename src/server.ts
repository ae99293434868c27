import { once } from 'node:events';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { buildRampart } from './app.js';
import { ConfigError, formatFinding } from './config/findings.js';
import { loadConfig, type Config } from './config/config.js';
import { boxed, createReadableLogStream, wantsReadableLogs } from './security/console-format.js';
import { createHttpsRedirectServer } from './security/https-redirect.js';
import { createLogDestination, writeOutLogs } from './security/logging.js';
import { createMetricsServer } from './security/metrics.js';
import { reloadCertificate, type SecureContextHolder } from './security/tls.js';

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly plugins?: readonly FastifyPluginAsync[];
}

/**
 * Drains connections without resetting one. From the start of the drain every response says
 * `Connection: close` (those in flight, and any request arriving on an open connection), so
 * each client closes its connection after its answer and never sends on a closed one.
 * Node's `server.close()` (and Fastify's `forceCloseConnections: 'idle'`) would instead cut
 * every idle keep-alive connection at once, resetting a request a client is sending on it
 * at that moment; an idle connection is left to the keep-alive timeout instead, the same
 * rule as outside a drain, and the rest are closed after `idleBoundMs` so the drain still
 * ends within its grace period. Returns the function that starts the drain.
 */
function drainWithoutResets(server: Server, idleBoundMs: number): () => void {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  server.on('request', (_request, response: ServerResponse) => {
    if (draining && !response.headersSent) response.setHeader('connection', 'close');
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
  });
  const closeIdleConnections = server.closeIdleConnections.bind(server);
  return () => {
    draining = true;
    for (const response of inFlight) if (!response.headersSent) response.setHeader('connection', 'close');
    server.closeIdleConnections = () => undefined;
    setTimeout(closeIdleConnections, idleBoundMs).unref();
  };
}

/** The one-time setup URL, framed so it stands out from the log lines around it. */
export function setupNotice(url: string, { embedded }: { readonly embedded: boolean }): string {
  // The embedded database is this process's alone: the CLI can only run once it has stopped.
  const cli = embedded ? 'or stop this server, then run' : 'or';
  return boxed([
    'No administrator exists yet. Create one within 1 hour at:',
    '',
    `  ${url}`,
    '',
    `${cli}:`,
    '  npm run rampart -- users create --admin --email … --name …',
  ]);
}

/** Starts the plain-HTTP port that only redirects to the public https URL. */
async function listenForRedirects(config: Config, port: number, app: FastifyInstance): Promise<Server> {
  const server = createHttpsRedirectServer({
    publicOrigin: config.publicOrigin,
    headersTimeoutMs: config.http.headersTimeoutMs,
    requestTimeoutMs: config.http.requestTimeoutMs,
    maxHeaderBytes: config.http.maxHeaderBytes,
  });
  server.listen({ host: config.host, port });
  await once(server, 'listening');
  const { address, family, port: bound } = server.address() as AddressInfo;
  app.log.info({ publicUrl: config.publicUrl }, `HTTP redirect listening on http://${family === 'IPv6' ? `[${address}]` : address}:${bound}`);
  return server;
}

/** Starts the separate metrics listener (`RAMPART_METRICS_PORT`), loopback unless configured otherwise. */
async function listenForMetrics(config: Config, port: number, app: FastifyInstance): Promise<Server> {
  const server = createMetricsServer({
    metrics: app.metrics,
    token: config.metrics.token,
    headersTimeoutMs: config.http.headersTimeoutMs,
    requestTimeoutMs: config.http.requestTimeoutMs,
    maxHeaderBytes: config.http.maxHeaderBytes,
    onRefused: (request) => {
      app.securityEvents.record('authn_token_invalid', { clientIp: request.socket.remoteAddress ?? null, details: { reason: 'metrics_token', kind: 'metrics' } });
    },
  });
  server.listen({ host: config.metrics.host, port });
  await once(server, 'listening');
  const { address, family, port: bound } = server.address() as AddressInfo;
  app.log.info({ metricsToken: config.metrics.token !== null }, `metrics listening on http://${family === 'IPv6' ? `[${address}]` : address}:${bound}/metrics`);
  return server;
}

/**
 * The process: configuration, listen, and a graceful drain on SIGTERM/SIGINT (in-flight
 * requests finish, the store and database close, exit code 0). An uncaught exception or
 * unhandled rejection is logged, the server drains, and the process exits 1 for its
 * supervisor to restart it. Returns null when the configuration refuses to start.
 */
export async function runServer(options: RunOptions = {}): Promise<FastifyInstance | null> {
  let loaded;
  try {
    loaded = loadConfig(options.env ?? process.env, { generateDevSecrets: true });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
    return null;
  }
  const { config, warnings } = loaded;
  // A person at a terminal in development reads lines, not JSON; anything piped keeps JSON,
  // written in batches in the background (flushed on close and on exit, crashes included).
  const readable = wantsReadableLogs({ env: config.env, isTTY: process.stdout.isTTY });
  const logStream = readable ? createReadableLogStream(process.stdout, { colour: process.stdout.hasColors() }) : createLogDestination();
  let app: FastifyInstance;
  try {
    app = await buildRampart({ config, plugins: options.plugins, logStream });
  } catch (err) {
    // A data directory that cannot be used, or an embedded database another process holds:
    // a finding with its id, path and fix, not a stack trace.
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
    return null;
  }
  const startDrain = drainWithoutResets(app.server, Math.min(config.http.keepAliveTimeoutMs, Math.floor(config.shutdownGraceMs / 2)));
  if (config.isProduction) {
    for (const warning of warnings) app.log.warn({ finding: warning.id, setting: warning.setting }, formatFinding(warning));
  } else {
    app.log.info(`development mode: ${warnings.length} deploy findings (see \`npm run rampart -- check --deploy\`)`);
    if (config.secrets.source === 'generated') app.log.info(`using development secrets from ${config.dataDir}/secrets.json`);
  }

  // SIGHUP re-reads the certificate files (renewal without a restart); without TLS it drains
  // and exits like SIGTERM (close-with-grace's default).
  const tlsFiles = config.tls;
  const onHangup = tlsFiles === null ? null : () => {
    reloadCertificate(app.server as unknown as SecureContextHolder, tlsFiles, app.log);
  };
  if (onHangup !== null) process.on('SIGHUP', onHangup);
  let redirects: Server | null = null;
  let metricsServer: Server | null = null;

  closeWithGrace({ delay: config.shutdownGraceMs, skip: onHangup === null ? [] : ['SIGHUP'], logger: { error: (msg: unknown) => { app.log.error({ detail: String(msg) }, 'shutdown did not finish in time'); } } }, async ({ signal, err }) => {
    if (err !== undefined) {
      app.log.error({ err }, 'unexpected error: draining and exiting');
      app.securityEvents.record('sys_crash', { details: { kind: err.name } });
    } else {
      app.log.info({ signal }, 'shutting down');
      app.securityEvents.record('sys_shutdown', { details: { signal: signal ?? 'exit' } });
    }
    if (onHangup !== null) process.off('SIGHUP', onHangup);
    redirects?.close();
    metricsServer?.close();
    startDrain();
    await app.close();
  });

  const listening = await app.listen({ host: config.host, port: config.port });
  // Fastify names the scheme from its own `https` option; Rampart builds its TLS server itself.
  const address = config.tls === null ? listening : listening.replace(/^http:/, 'https:');
  if (config.tls !== null && config.httpRedirectPort !== null) redirects = await listenForRedirects(config, config.httpRedirectPort, app);
  if (config.metrics.port !== null) metricsServer = await listenForMetrics(config, config.metrics.port, app);
  // Production's deploy-check warnings go into the startup event too, where an alert rule sees them.
  app.securityEvents.record('sys_startup', { details: { environment: config.env, ...(config.isProduction ? { deploy_warnings: warnings.map((w) => w.id) } : {}) } });
  app.log.info({ address, publicUrl: config.publicUrl }, `Rampart is listening on ${address} (public URL ${config.publicUrl})`);
  // Supervisors, scripts and people wait for that line: out now, not with the next batch.
  writeOutLogs(logStream);
  const setupToken = await app.accounts.issueSetupToken();
  if (setupToken !== null) {
    // The URL carries a one-time secret, so it goes to the operator's console, never into the
    // structured log (which is shipped and kept); the log only says that it was printed.
    process.stderr.write(`\n${setupNotice(`${config.publicUrl}/setup?token=${setupToken}`, { embedded: config.database.url === null })}\n\n`);
    app.log.warn('no administrator exists: a one-time setup URL (valid 1 h) was printed to the console');
  }
  return app;
}
