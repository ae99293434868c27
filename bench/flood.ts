import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Load that wrk cannot send: many loopback source addresses (`localAddress`), a CSRF
 * token fetched per connection before the start, a different body per request, and a
 * fixed-rate monitor. Each job runs in a process of its own (`flood-worker.ts`), pinned to
 * the load core with `taskset`, so the load never shares the server's process. Every job is
 * bounded in time and in requests, and talks only to a loopback origin from loopback addresses.
 */

/** Latency percentiles in ms. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Responses with one status and problem `code` (`OK` for a 200, `NO_CODE` when the body has none). */
export interface OutcomeCount {
  readonly status: number;
  readonly code: string;
  readonly count: number;
  /** When the first of them arrived, in ms after the start. */
  readonly firstAtMs: number;
  readonly latency: LatencySummary;
}

/** Wrong-password logins from `clients.length` connections, each with its own pre-session and CSRF token. */
export interface LoginFloodJob {
  readonly kind: 'login';
  readonly origin: string;
  readonly durationMs: number;
  /** A hard cap on requests, whatever the duration. */
  readonly maxRequests: number;
  /** The loopback source address of each connection (one entry per connection). */
  readonly clients: readonly string[];
  /** Emails of existing accounts; every password sent is wrong. */
  readonly accounts: readonly string[];
  /**
   * `mixed`: requests alternate between the existing accounts (round robin) and unknown
   * emails, each unknown one new. `unique-pairs`: from each address, each existing account
   * once, alternating with new unknown emails, then new unknown emails only, so no
   * (account, address) pair ever fails twice.
   */
  readonly pairing: 'mixed' | 'unique-pairs';
  /** Makes this run's unknown emails unique. */
  readonly tag: string;
}

/** `GET /healthz` every `intervalMs` from one loopback address. */
export interface HealthzJob {
  readonly kind: 'healthz';
  readonly origin: string;
  readonly durationMs: number;
  readonly intervalMs: number;
  readonly localAddress: string;
}

export type FloodJob = LoginFloodJob | HealthzJob;

export interface LoginFloodResult {
  readonly kind: 'login';
  readonly elapsedMs: number;
  readonly requests: number;
  readonly outcomes: readonly OutcomeCount[];
  /** Connection errors and timeouts by code. */
  readonly errors: Readonly<Record<string, number>>;
  /** 429 and 503 answers without `Retry-After`. */
  readonly missingRetryAfter: number;
  /** 401s (passwords checked) per existing account, over every address. */
  readonly checkedPerAccount: Readonly<Record<string, number>>;
  /** Answers to the logins of existing accounts, by status. */
  readonly existingStatuses: Readonly<Record<string, number>>;
  /** CPU of the load process's main thread (µs), null off Linux. */
  readonly cpuMicros: number | null;
}

export interface HealthzResult {
  readonly kind: 'healthz';
  readonly elapsedMs: number;
  /** Latency of the 200 answers. */
  readonly ok: LatencySummary;
  /** 200 answers whose body was not `{"status":"ok"}`. */
  readonly badBodies: number;
  /** Non-200 answers. */
  readonly other: readonly OutcomeCount[];
  readonly errors: Readonly<Record<string, number>>;
  /** Ticks not sent because a thousand earlier ones were still waiting (bounds the monitor). */
  readonly skipped: number;
  readonly cpuMicros: number | null;
}

export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly result: LoginFloodResult | HealthzResult }
  | { readonly type: 'failed'; readonly message: string };

export type MainMessage = { readonly type: 'go' };

const LOOPBACK_V4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Refuses any source address outside 127.0.0.0/8 (which Linux routes to `lo`). */
export function checkLocalAddress(address: string): string {
  const match = LOOPBACK_V4.exec(address);
  if (match === null || match.slice(1).some((octet) => Number(octet) > 255)) throw new Error(`${address} is not a loopback address in 127.0.0.0/8`);
  return address;
}

/** `127.0.0.<first>` … for `count` addresses. */
export function loopbackAddresses(first: number, count: number): string[] {
  if (!Number.isInteger(first) || !Number.isInteger(count) || first < 2 || count < 1 || first + count - 1 > 254) throw new RangeError('loopback addresses must stay within 127.0.0.2-127.0.0.254');
  return Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
}

// How long a worker may take to get ready (CSRF tokens for every connection), and to finish after its duration.
const READY_TIMEOUT_MS = 30_000;
// Past the workers' request timeout (35 s), so their own timeouts report a stuck server first.
const FINISH_GRACE_MS = 45_000;

/** A job in its worker thread: ready (prepared, not yet sending), then started, then done. */
export interface FloodWorker<R> {
  readonly ready: Promise<void>;
  start(): void;
  readonly done: Promise<R>;
  /** Stops the worker now (after a failure elsewhere). */
  stop(): Promise<void>;
}

const WORKER_PATH = fileURLToPath(new URL('./flood-worker.ts', import.meta.url));
/** The core the load processes are pinned to (`BENCH_LOAD_CORE`, default 1). */
const LOAD_CORE = process.env.BENCH_LOAD_CORE ?? '1';

function settle<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Observed here, so a failure before anyone awaits it is not an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** Starts a job in a new worker thread; it prepares at once and sends load only after `start()`. */
export function startFloodWorker(job: LoginFloodJob): FloodWorker<LoginFloodResult>;
export function startFloodWorker(job: HealthzJob): FloodWorker<HealthzResult>;
export function startFloodWorker(job: FloodJob): FloodWorker<LoginFloodResult | HealthzResult> {
  const worker = spawn('taskset', ['-c', LOAD_CORE, process.execPath, '--import', 'tsx', WORKER_PATH], {
    env: { ...process.env, BENCH_FLOOD_JOB: JSON.stringify(job) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = settle<undefined>();
  const done = settle<LoginFloodResult | HealthzResult>();
  let finished = false;
  const fail = (err: Error) => {
    finished = true;
    ready.reject(err);
    done.reject(err);
    worker.kill('SIGKILL');
  };
  let readyTimer: NodeJS.Timeout | undefined = setTimeout(() => {
    fail(new Error(`${job.kind} load process was not ready within ${READY_TIMEOUT_MS} ms`));
  }, READY_TIMEOUT_MS);
  let doneTimer: NodeJS.Timeout | undefined;
  const clearTimers = () => {
    clearTimeout(readyTimer);
    clearTimeout(doneTimer);
    readyTimer = undefined;
    doneTimer = undefined;
  };
  worker.on('message', (message: WorkerMessage) => {
    if (message.type === 'ready') {
      clearTimeout(readyTimer);
      ready.resolve(undefined);
    } else if (message.type === 'done') {
      finished = true;
      clearTimers();
      done.resolve(message.result);
    } else {
      clearTimers();
      fail(new Error(`${job.kind} load process: ${message.message}`));
    }
  });
  worker.on('error', (err) => {
    clearTimers();
    fail(err);
  });
  worker.on('exit', (code) => {
    clearTimers();
    if (!finished) fail(new Error(`${job.kind} load process exited (code ${String(code)}) before it finished`));
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => {
    resolve();
  }));
  return {
    ready: ready.promise,
    done: done.promise,
    start() {
      doneTimer = setTimeout(() => {
        fail(new Error(`${job.kind} load process did not finish within ${job.durationMs + FINISH_GRACE_MS} ms`));
      }, job.durationMs + FINISH_GRACE_MS);
      worker.send({ type: 'go' } satisfies MainMessage);
    },
    async stop() {
      clearTimers();
      finished = true;
      if (worker.exitCode === null && worker.signalCode === null) {
        worker.kill('SIGKILL');
        await exited;
      }
    },
  };
}
