import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
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
    if (options.maxEventLoopDelayMs <= 0 || options.maxHeapUsedBytes <= 0) throw new TypeError('load shedding thresholds must be positive');
    await app.register(underPressure, {
      maxEventLoopDelay: options.maxEventLoopDelayMs,
      maxHeapUsedBytes: options.maxHeapUsedBytes,
      sampleInterval: options.sampleIntervalMs ?? 1000,
      retryAfter,
      exposeStatusRoute: false,
      pressureHandler: (request, reply, type, value) => {
        request.log.warn({ pressure: type, value }, 'shedding load');
        reply.header('retry-after', String(retryAfter));
        void sendProblem(reply, { status: 503, code: 'RAMPART_ERR_OVERLOADED', title: 'The server is overloaded: retry after the time in Retry-After.' });
      },
    });
  },
  { name: 'rampart-load-shedding', dependencies: ['rampart-problem-details'] },
);
