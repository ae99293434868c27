import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import proxyAddr from '@fastify/proxy-addr';
import type { FastifyServerOptions } from 'fastify';
import type { DestinationStream } from 'pino';
import type { Config } from '../config/config.js';
import { RAMPART_ERR_BAD_REQUEST, RAMPART_ERR_HEADERS_TOO_LARGE, RAMPART_ERR_REQUEST_TIMEOUT } from '../security/errors.js';
import { RAW_RESPONSE_HEADERS } from '../security/headers.js';
import { AccessLogController, loggerOptions } from '../security/logging.js';
import { problemType, sendProblem } from '../security/problem-details.js';
import { readTlsMaterial, tlsServerOptions } from '../security/tls.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// What a request Node or Fastify could not parse is told: it never reached a route, so no more detail applies.
const BAD_REQUEST_TITLE = 'Bad request.';

/** Fastify's server options: timeouts, limits, proxy trust and logging, all explicit. */
export function serverOptions(config: Config, logStream: DestinationStream): FastifyServerOptions {
  const trustProxy = config.trustProxy === false ? false : [...config.trustProxy.addresses];
  const isTrusted = config.trustProxy === false ? () => false : proxyAddr.compile([...config.trustProxy.addresses]);
  const http = config.http;
  const tls = config.tls === null ? null : readTlsMaterial(config.tls);
  const nodeOptions = {
    maxHeaderSize: http.maxHeaderBytes,
    headersTimeout: http.headersTimeoutMs,
    requestTimeout: http.requestTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    // Check for expired header/request timers often enough that a slow client is dropped promptly.
    connectionsCheckingInterval: Math.min(1000, Math.floor(http.headersTimeoutMs / 2)),
    requireHostHeader: true,
  };
  return {
    logger: { ...loggerOptions({ level: config.logLevel }), stream: logStream },
    // One access line per request, on completion; Fastify's error lines stay as they are.
    logController: new AccessLogController(),
    // Fastify hands every request's child an options object, empty unless the route sets its
    // own log level or serializers (none of Rampart's do); pino takes a much shorter path for a
    // child made without one, so an empty one is not passed on. The child is the same.
    childLoggerFactory: (logger, bindings, options) => (Object.keys(options).length === 0 ? logger.child(bindings) : logger.child(bindings, options)),
    trustProxy,
    // A client-supplied request id is believed only from a trusted proxy; anyone else could forge log correlation.
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const header = req.headers['x-request-id'];
      const peer = req.socket.remoteAddress ?? '';
      if (typeof header === 'string' && REQUEST_ID.test(header) && isTrusted(peer, 0)) return header;
      return randomUUID();
    },
    bodyLimit: config.bodyLimitBytes,
    connectionTimeout: http.connectionTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    requestTimeout: http.requestTimeoutMs,
    maxRequestsPerSocket: http.maxRequestsPerSocket,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    serverFactory: (handler: RequestListener) => {
      const server: Server = tls === null
        ? createHttpServer(nodeOptions, handler)
        : createHttpsServer({ ...nodeOptions, ...tlsServerOptions(), cert: tls.cert, key: tls.key }, handler);
      return server;
    },
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) return;
      const error = err.code === 'HPE_HEADER_OVERFLOW' ? RAMPART_ERR_HEADERS_TOO_LARGE : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? RAMPART_ERR_REQUEST_TIMEOUT : RAMPART_ERR_BAD_REQUEST;
      const { statusCode: status, code } = error;
      const title = error === RAMPART_ERR_BAD_REQUEST ? BAD_REQUEST_TITLE : error.message;
      const body = JSON.stringify({ type: problemType(code), title, status, code, traceId: randomUUID() });
      const headers = Object.entries({ ...RAW_RESPONSE_HEADERS, 'content-length': String(Buffer.byteLength(body)) }).map(([k, v]) => `${k}: ${v}`).join('\r\n');
      socket.end(`HTTP/1.1 ${status} ${title.replace(/\.$/, '')}\r\n${headers}\r\n\r\n${body}`);
    },
    frameworkErrors: (_err, _request, reply) => {
      void sendProblem(reply, { status: RAMPART_ERR_BAD_REQUEST.statusCode, code: RAMPART_ERR_BAD_REQUEST.code, title: BAD_REQUEST_TITLE });
    },
  };
}
