import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { RAMPART_ERR_OVERLOADED } from './errors.js';
import { sendProblem } from './problem-details.js';

export interface LoadSheddingOptions {
  /** Event-loop delay (ms) above which new requests are refused. */
  readonly maxEventLoopDelayMs: number;
  /** Heap used (bytes) above which new requests are refused. */
  readonly maxHeapUsedBytes: number;
  /** How often the gauges are sampled (ms). */
  readonly sampleIntervalMs?: number;
  /** Seconds a refused client is told to wait. */
  readonly retryAfterSeconds?: number;
}

/**
 * Sheds load with 503 and `Retry-After` while the event loop lags or the heap is nearly
 * full, so an overloaded instance answers quickly instead of timing everyone out.
 */
export const loadSheddingPlugin = fp<LoadSheddingOptions>(
  async (app: FastifyInstance, options) => {
    const retryAfter = options.retryAfterSeconds ?? 10;
    const sampleInterval = options.sampleIntervalMs ?? 1000;
    // Booting (PGlite compiling and opening its data directory, the password dictionaries) stalls
    // the event loop before the first request, and the gauge would report that stall until its
    // next sample: a restarted instance would shed its first requests for a second of no load.
    // Event-loop delay is therefore judged from one full sample after the instance is ready.
    let readyAt = Number.POSITIVE_INFINITY;
    app.addHook('onReady', (done) => {
      readyAt = performance.now();
      done();
    });
    const bootStall = (type: string) => type === 'eventLoopDelay' && performance.now() - readyAt < 2 * sampleInterval;
    if (options.maxEventLoopDelayMs <= 0 || options.maxHeapUsedBytes <= 0) throw new TypeError('load shedding thresholds must be positive');
    await app.register(underPressure, {
      maxEventLoopDelay: options.maxEventLoopDelayMs,
      maxHeapUsedBytes: options.maxHeapUsedBytes,
      sampleInterval,
      retryAfter,
      exposeStatusRoute: false,
      pressureHandler: (request, reply, type, value) => {
        // Returning nothing lets the request through (under-pressure then calls next()).
        if (bootStall(type)) return;
        request.log.warn({ pressure: type, value }, 'shedding load');
        if (app.hasDecorator('metrics')) app.metrics.observeShed(type);
        reply.header('retry-after', String(retryAfter));
        void sendProblem(reply, { status: RAMPART_ERR_OVERLOADED.statusCode, code: RAMPART_ERR_OVERLOADED.code, title: RAMPART_ERR_OVERLOADED.message });
      },
    });
    // The gauges it samples are also the metrics' event-loop series.
    if (app.hasDecorator('metrics')) app.metrics.readEventLoop(() => app.memoryUsage());
  },
  { name: 'rampart-load-shedding', dependencies: ['rampart-problem-details'] },
);
