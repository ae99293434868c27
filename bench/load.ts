/** One HTTP request, as plain data (the flood's load runs in worker threads, so it cannot carry functions). */
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

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]']);

/** Refuses anything but a loopback http origin: the bench never sends load off the machine. */
export function checkLoopbackOrigin(origin: string): URL {
  const url = new URL(origin);
  if (url.protocol !== 'http:' || !LOOPBACK_HOSTS.has(url.hostname) || url.pathname !== '/' || url.search !== '') {
    throw new Error(`load target ${origin} is not a loopback http origin (127.0.0.1 or [::1])`);
  }
  return url;
}
