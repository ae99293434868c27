import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkLoopbackOrigin } from './load.js';
import { currentThreadCpuMicros } from './thread-cpu.js';
import { checkLocalAddress, type FloodJob, type HealthzJob, type HealthzResult, type LatencySummary, type LoginFloodJob, type LoginFloodResult, type OutcomeCount, type WorkerMessage } from './flood.js';

// A stuck server must not hold the bench open; longer than the server's own request timeout
// (30 s by default), so a request the server would still answer is never given up here.
const REQUEST_TIMEOUT_MS = 35_000;
// Answers here are small problem+json or JSON bodies; anything longer is cut, not buffered.
const MAX_BODY_BYTES = 64 * 1024;
// Monitor connections; a tick that finds them all busy waits in the agent's queue, and that
// wait counts in its latency (no coordinated omission).
const HEALTHZ_CONNECTIONS = 16;
// Ticks waiting at once, beyond which a tick is skipped (counted): bounds the monitor's memory.
const MAX_HEALTHZ_PENDING = 1_000;
const CODE = /"code"\s*:\s*"([A-Z0-9_]{1,64})"/;

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface Send {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly agent: Agent;
  readonly localAddress: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** One request on the caller's keep-alive agent, from the caller's loopback address. */
function send(origin: URL, options: Send): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'user-agent': 'RampartBench/1.0', ...options.headers };
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    const req = request({
      host: origin.hostname,
      port: origin.port,
      method: options.method,
      path: options.path,
      agent: options.agent,
      localAddress: options.localAddress,
      headers,
      timeout: REQUEST_TIMEOUT_MS,
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(options.body);
  });
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.message.slice(0, 60) : 'unknown';
}

function summarize(histogram: RecordableHistogram): LatencySummary {
  // Recorded in µs; reported in ms.
  const ms = (value: number) => value / 1_000;
  return histogram.count === 0
    ? { count: 0, p50Ms: Number.NaN, p99Ms: Number.NaN, maxMs: Number.NaN }
    : { count: histogram.count, p50Ms: ms(histogram.percentile(50)), p99Ms: ms(histogram.percentile(99)), maxMs: ms(histogram.max) };
}

function recordMicros(histogram: RecordableHistogram, startedAt: number): void {
  histogram.record(Math.max(1, Math.round((performance.now() - startedAt) * 1_000)));
}

/** Cookie header for the `Set-Cookie` lines of one answer (names and values only). */
function cookiesOf(headers: IncomingHttpHeaders): string {
  return (headers['set-cookie'] ?? []).map((line) => line.split(';', 1)[0]?.trim() ?? '').filter((pair) => pair.includes('=')).join('; ');
}

class Outcomes {
  readonly #byKey = new Map<string, { status: number; code: string; count: number; firstMs: number; histogram: RecordableHistogram }>();
  readonly errors = new Map<string, number>();
  missingRetryAfter = 0;

  /** `phaseStart`: when the load started, for the time of each outcome's first answer. */
  constructor(readonly phaseStart: number) {}

  /** An answer has just arrived for a request sent at `sentAt`. */
  add(status: number, code: string, sentAt: number): void {
    const key = `${status} ${code}`;
    let entry = this.#byKey.get(key);
    if (entry === undefined) {
      entry = { status, code, count: 0, firstMs: performance.now() - this.phaseStart, histogram: createHistogram() };
      this.#byKey.set(key, entry);
    }
    entry.count += 1;
    recordMicros(entry.histogram, sentAt);
  }

  error(err: unknown): void {
    const code = errorCode(err);
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  list(): OutcomeCount[] {
    return [...this.#byKey.values()]
      .sort((a, b) => a.status - b.status || a.code.localeCompare(b.code))
      .map((e) => ({ status: e.status, code: e.code, count: e.count, firstAtMs: e.firstMs, latency: summarize(e.histogram) }));
  }
}

interface LoginClient {
  readonly localAddress: string;
  readonly agent: Agent;
  cookie: string;
  token: string;
}

/** Each client: GET /api/csrf once, from its own address, for a pre-session cookie and its token. */
async function prepareClient(origin: URL, localAddress: string): Promise<LoginClient> {
  // One socket per client, kept alive: one client is one connection.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const answer = await send(origin, { method: 'GET', path: '/api/csrf', agent, localAddress, headers: {} });
  if (answer.status !== 200) throw new Error(`GET /api/csrf from ${localAddress} answered ${answer.status}`);
  const token = (JSON.parse(answer.body) as { token?: unknown }).token;
  const cookie = cookiesOf(answer.headers);
  if (typeof token !== 'string' || cookie === '') throw new Error(`GET /api/csrf from ${localAddress} gave no token or no pre-session cookie`);
  return { localAddress, agent, cookie, token };
}

/** Which account each login attempts: see {@link LoginFloodJob.pairing}. */
function accountPicker(job: LoginFloodJob): (client: LoginClient) => string {
  let sent = 0;
  const perAddress = new Map<string, number>();
  const unknown = (n: number) => `nobody-${job.tag}-${n}@bench.example`;
  return (client) => {
    const n = sent++;
    if (job.pairing === 'mixed') return n % 2 === 0 && job.accounts.length > 0 ? job.accounts[(n / 2) % job.accounts.length]! : unknown(n);
    // unique-pairs: from each address, every existing account once (alternating with unknown ones), then unknown ones only.
    const k = perAddress.get(client.localAddress) ?? 0;
    perAddress.set(client.localAddress, k + 1);
    return k % 2 === 0 && k / 2 < job.accounts.length ? job.accounts[k / 2]! : unknown(n);
  };
}

/** To the bench process, over the IPC channel it opened. */
function tell(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, undefined, () => {
      resolve();
    });
  });
}

async function loginFlood(job: LoginFloodJob, go: Promise<void>): Promise<LoginFloodResult> {
  const origin = checkLoopbackOrigin(job.origin);
  for (const address of job.clients) checkLocalAddress(address);
  const clients = await Promise.all(job.clients.map((address) => prepareClient(origin, address)));
  void tell({ type: 'ready' });
  await go;
  const pick = accountPicker(job);
  const existing = new Set(job.accounts);
  const checkedPerAccount: Record<string, number> = Object.fromEntries(job.accounts.map((email) => [email, 0]));
  const existingStatuses: Record<string, number> = {};
  let requests = 0;
  const cpuBefore = currentThreadCpuMicros();
  const startedAt = performance.now();
  const outcomes = new Outcomes(startedAt);
  const deadline = startedAt + job.durationMs;
  const loop = async (client: LoginClient): Promise<void> => {
    while (performance.now() < deadline && requests < job.maxRequests) {
      requests += 1;
      const email = pick(client);
      const body = JSON.stringify({ email, password: `not-the-password-${requests}` });
      const sentAt = performance.now();
      try {
        const answer = await send(origin, {
          method: 'POST',
          path: '/api/auth/login',
          agent: client.agent,
          localAddress: client.localAddress,
          headers: { 'content-type': 'application/json', cookie: client.cookie, 'x-csrf-token': client.token },
          body,
        });
        const code = CODE.exec(answer.body)?.[1] ?? (answer.status === 200 ? 'OK' : 'NO_CODE');
        outcomes.add(answer.status, code, sentAt);
        if (existing.has(email)) {
          existingStatuses[answer.status] = (existingStatuses[answer.status] ?? 0) + 1;
          if (answer.status === 401) checkedPerAccount[email] = (checkedPerAccount[email] ?? 0) + 1;
        }
        if ((answer.status === 429 || answer.status === 503) && answer.headers['retry-after'] === undefined) outcomes.missingRetryAfter += 1;
      } catch (err) {
        outcomes.error(err);
      }
    }
  };
  await Promise.all(clients.map(loop));
  const elapsedMs = performance.now() - startedAt;
  const cpuAfter = currentThreadCpuMicros();
  for (const client of clients) client.agent.destroy();
  return {
    kind: 'login',
    elapsedMs,
    requests,
    outcomes: outcomes.list(),
    errors: Object.fromEntries(outcomes.errors),
    missingRetryAfter: outcomes.missingRetryAfter,
    checkedPerAccount,
    existingStatuses,
    cpuMicros: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
  };
}

/**
 * GET /healthz at a fixed rate on up to {@link HEALTHZ_CONNECTIONS} keep-alive connections;
 * latency from the tick (including any wait for a free connection) to the end of the answer.
 */
async function healthzMonitor(job: HealthzJob, go: Promise<void>): Promise<HealthzResult> {
  const origin = checkLoopbackOrigin(job.origin);
  checkLocalAddress(job.localAddress);
  const agent = new Agent({ keepAlive: true, maxSockets: HEALTHZ_CONNECTIONS });
  const check = () => send(origin, { method: 'GET', path: '/healthz', agent, localAddress: job.localAddress, headers: {} });
  // One request before the start, so the first measured one does not pay for the connection.
  const first = await check();
  if (first.status !== 200) throw new Error(`GET /healthz answered ${first.status} before the start`);
  void tell({ type: 'ready' });
  await go;
  const ok = createHistogram();
  const inFlight = new Set<Promise<void>>();
  let skipped = 0;
  let badBodies = 0;
  const cpuBefore = currentThreadCpuMicros();
  const startedAt = performance.now();
  const outcomes = new Outcomes(startedAt);
  for (let tick = 0; ; tick++) {
    const at = startedAt + tick * job.intervalMs;
    if (at >= startedAt + job.durationMs) break;
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    if (inFlight.size >= MAX_HEALTHZ_PENDING) {
      skipped += 1;
      continue;
    }
    const sentAt = performance.now();
    const one = check().then(
      (answer) => {
        if (answer.status === 200) {
          recordMicros(ok, sentAt);
          if (answer.body !== '{"status":"ok"}') badBodies += 1;
        } else {
          outcomes.add(answer.status, CODE.exec(answer.body)?.[1] ?? 'NO_CODE', sentAt);
        }
      },
      (err: unknown) => {
        outcomes.error(err);
      },
    );
    inFlight.add(one);
    void one.finally(() => inFlight.delete(one));
  }
  await Promise.all([...inFlight]);
  const elapsedMs = performance.now() - startedAt;
  const cpuAfter = currentThreadCpuMicros();
  agent.destroy();
  return {
    kind: 'healthz',
    elapsedMs,
    ok: summarize(ok),
    badBodies,
    other: outcomes.list(),
    errors: Object.fromEntries(outcomes.errors),
    skipped,
    cpuMicros: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.BENCH_FLOOD_JOB ?? '{}') as FloodJob;
  const go = new Promise<void>((resolve) => {
    // The bench sends one message, `go` (MainMessage).
    process.once('message', () => {
      resolve();
    });
  });
  try {
    const result = job.kind === 'login' ? await loginFlood(job, go) : await healthzMonitor(job, go);
    await tell({ type: 'done', result });
  } catch (err) {
    await tell({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
  }
  process.disconnect();
}

await main();
