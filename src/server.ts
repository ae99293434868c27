import { once } from 'node:events';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { buildRampart } from './app.js';
import { ConfigError, formatFinding } from './config/findings.js';
import { loadConfig, type Config } from './config/config.js';
import { createHttpsRedirectServer } from './security/https-redirect.js';
import { reloadCertificate, type SecureContextHolder } from './security/tls.js';

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly plugins?: readonly FastifyPluginAsync[];
}

/**
 * Makes the responses of requests in flight when the drain starts say `Connection: close`.
 * Closing the server only reaps idle keep-alive connections; one busy at that moment would
 * stay open after its response until the client or the keep-alive timeout closed it, holding
 * the process past its grace period. Returns the function that starts the drain.
 */
function closeBusyConnectionsAfterResponse(server: Server): () => void {
  const inFlight = new Set<ServerResponse>();
  server.on('request', (_request, response: ServerResponse) => {
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
  });
  return () => {
    for (const response of inFlight) if (!response.headersSent) response.setHeader('connection', 'close');
  };
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
  const app = await buildRampart({ config, plugins: options.plugins });
  const startDrain = closeBusyConnectionsAfterResponse(app.server);
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
    startDrain();
    await app.close();
  });

  const listening = await app.listen({ host: config.host, port: config.port });
  // Fastify names the scheme from its own `https` option; Rampart builds its TLS server itself.
  const address = config.tls === null ? listening : listening.replace(/^http:/, 'https:');
  if (config.tls !== null && config.httpRedirectPort !== null) redirects = await listenForRedirects(config, config.httpRedirectPort, app);
  app.securityEvents.record('sys_startup', { details: { environment: config.env } });
  app.log.info({ address, publicUrl: config.publicUrl }, `Rampart is listening on ${address} (public URL ${config.publicUrl})`);
  const setupToken = await app.accounts.issueSetupToken();
  if (setupToken !== null) {
    // The URL carries a one-time secret, so it goes to the operator's console, never into the
    // structured log (which is shipped and kept); the log only says that it was printed.
    process.stderr.write(`\nNo administrator exists yet. Create one within 1 hour at:\n\n  ${config.publicUrl}/setup?token=${setupToken}\n\n(or: npm run rampart -- users create --admin --email … --name …)\n\n`);
    app.log.warn('no administrator exists: a one-time setup URL (valid 1 h) was printed to the console');
  }
  return app;
}
