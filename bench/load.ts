import autocannon from 'autocannon';
import { mainThreadCpuMicros } from './thread-cpu.js';

/** One HTTP request, as plain data: the load runs in a worker thread, so it cannot carry functions. */
export interface LoadRequest {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. `/api/status`. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Something a scenario puts under load: one server and the request it answers. */
export interface LoadTarget {
  /** The row label in the report, e.g. `rampart` or `bare fastify`. */
  readonly label: string;
  /** Where the server listens: a loopback origin such as `http://127.0.0.1:41234`. */
  readonly origin: string;
  readonly request: LoadRequest;
  /** Statuses that count as a correct answer; any other status fails the bench. Default: 2xx. */
  readonly expectedStatuses?: readonly number[];
}

/** How hard and how long one measurement pushes. */
export interface LoadShape {
  readonly durationSeconds: number;
  readonly connections: number;
  readonly pipelining: number;
}

/** What one measurement of one target produced. */
export interface Sample {
  /** Mean of autocannon's one-second samples. */
  readonly requestsPerSecond: number;
  /** Latency percentiles in milliseconds (autocannon's histogram has 1 ms resolution). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly responses: number;
  /**
   * Main-thread CPU per response in µs: what the server spent on each request, robust to
   * noisy neighbours. Null where per-thread CPU cannot be read.
   */
  readonly cpuMicrosPerResponse: number | null;
  /** Responses whose status the target does not expect (non-2xx by default). */
  readonly unexpected: number;
  /** Connection errors, timeouts included. */
  readonly errors: number;
  readonly statusCounts: Readonly<Record<string, number>>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]']);
// A stuck server must not hold the bench open: autocannon gives up on a request after this.
const REQUEST_TIMEOUT_SECONDS = 10;

/** Refuses anything but a loopback http origin: the bench never sends load off the machine. */
export function checkLoopbackOrigin(origin: string): URL {
  const url = new URL(origin);
  if (url.protocol !== 'http:' || !LOOPBACK_HOSTS.has(url.hostname) || url.pathname !== '/' || url.search !== '') {
    throw new Error(`load target ${origin} is not a loopback http origin (127.0.0.1 or [::1])`);
  }
  return url;
}

function isExpected(target: LoadTarget, status: number): boolean {
  return target.expectedStatuses === undefined ? status >= 200 && status < 300 : target.expectedStatuses.includes(status);
}

/**
 * Puts one target under load with autocannon. The load generator runs in its own worker
 * thread (`workers: 1`), so it does not share the event loop of the servers it measures.
 */
export async function measure(target: LoadTarget, shape: LoadShape): Promise<Sample> {
  const url = new URL(target.request.path, checkLoopbackOrigin(target.origin));
  const cpuBefore = mainThreadCpuMicros();
  const result = await autocannon({
    url: url.href,
    method: target.request.method ?? 'GET',
    ...(target.request.headers === undefined ? {} : { headers: { ...target.request.headers } }),
    ...(target.request.body === undefined ? {} : { body: target.request.body }),
    connections: shape.connections,
    pipelining: shape.pipelining,
    duration: shape.durationSeconds,
    timeout: REQUEST_TIMEOUT_SECONDS,
    workers: 1,
  });
  const cpuAfter = mainThreadCpuMicros();
  const statusCounts: Record<string, number> = {};
  let responses = 0;
  let unexpected = 0;
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) {
    const count = stat.count ?? 0;
    statusCounts[status] = count;
    responses += count;
    if (!isExpected(target, Number(status))) unexpected += count;
  }
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    responses,
    cpuMicrosPerResponse: cpuBefore === null || cpuAfter === null || responses === 0 ? null : (cpuAfter - cpuBefore) / responses,
    unexpected,
    errors: result.errors,
    statusCounts,
  };
}
