import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { probe } from './probe.js';
import { deleteKeys } from './rampart.js';
import { cpuMicrosPerRequest, generatorSaturated, ratio, roundOrder, spread, type Spread } from './stats.js';
import { runWrk, type WrkResult, type WrkShape } from './wrk.js';
import { MATRIX_SCENARIOS, NONCE_MARKER, type MatrixScenario, type PageTemplates, type ReadyMessage, type RequestSpec, type ServerKind, type ServerOptions } from './servers/protocol.js';

export type Target = 'real' | 'embedded';
export const KINDS: readonly ServerKind[] = ['bare', 'stack', 'rampart', 'nometrics'];
const LABEL: Readonly<Record<ServerKind, string>> = { bare: 'bare', stack: 'stack', rampart: 'rampart', nometrics: 'no-metr' };

export const SCENARIO_TITLES: Readonly<Record<MatrixScenario | 'rss', string>> = {
  'api-status': 'GET /api/status, anonymous',
  'me-cookie': 'GET /api/me, session cookie',
  'me-bearer': 'GET /api/me, bearer token',
  home: 'GET / (home page, nonce CSP), anonymous',
  'post-page': 'GET /posts/:id, signed in',
  'posts-list': 'GET /api/posts?limit=20, anonymous (20 posts, ~117 KiB)',
  'post-create': 'POST /api/posts with CSRF token and session cookie',
  rss: 'RSS with 1 000 open keep-alive connections',
};

export interface MatrixOptions {
  readonly targets: readonly Target[];
  readonly scenarios: readonly (MatrixScenario | 'rss')[];
  readonly rounds: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly threads: number;
  readonly serverCore: number;
  readonly loadCore: number;
  readonly keepAliveConnections: number;
  /** A round whose wrk used more than this % of its core is invalid (default GENERATOR_SATURATION_PERCENT). */
  readonly generatorLimitPercent: number;
  readonly databaseAdminUrl: string;
  readonly redisUrl: string;
  /** Also run Rampart with metrics collection off, and report what the metrics cost per request. */
  readonly metricsOff: boolean;
}

/** One wrk run against one server. */
export interface Measurement {
  readonly round: number;
  readonly kind: ServerKind;
  readonly wrk: WrkResult;
  readonly cpuMicrosPerRequest: number | null;
  /** The generator was above its saturation threshold: this measurement measured wrk. */
  readonly saturated: boolean;
}

export interface KindSummary {
  readonly kind: ServerKind;
  readonly requestsPerSecond: Spread;
  readonly cpuMicrosPerRequest: Spread;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The highest generator CPU of its measured rounds, % of one core. */
  readonly generatorCpuPercent: number;
}

export interface ScenarioResult {
  readonly scenario: MatrixScenario;
  readonly title: string;
  readonly summaries: Partial<Record<ServerKind, KindSummary>>;
  readonly ratios: { readonly rampartBare: number | null; readonly rampartStack: number | null; readonly cpuRampartBare: number | null; readonly cpuRampartStack: number | null; readonly cpuMetrics?: number | null };
  readonly valid: boolean;
  readonly failures: readonly string[];
  readonly measurements: readonly Measurement[];
  readonly bodyBytes: Partial<Record<ServerKind, number>>;
}

export interface RssResult {
  readonly kind: ServerKind;
  readonly idleKiB: number;
  readonly openKiB: number;
  readonly afterCloseKiB: number;
  readonly opened: number;
  readonly answered: number;
}

export interface TargetResult {
  readonly target: Target;
  readonly notes: readonly string[];
  readonly scenarios: readonly ScenarioResult[];
  readonly rss: readonly RssResult[];
}

interface Child {
  readonly kind: ServerKind;
  readonly process: ChildProcess;
  readonly pid: number;
  readonly origin: string;
  readonly ready: ReadyMessage;
  close(): Promise<void>;
}

const CHILD_URL = fileURLToPath(new URL('./server-child.ts', import.meta.url));
const READY_TIMEOUT_MS = 180_000;
const CLOSE_TIMEOUT_MS = 20_000;
// Rampart allows each user 120 content writes per 10 minutes; the writer pool covers this rate for the whole run.
const MAX_EXPECTED_WRITES_PER_SECOND = 3_000;
const WRITES_PER_USER = 120;

function readStat(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, 'utf8');
}

function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]);
}

/** Starts one server process pinned to the server core; resolves when it prints READY. */
function startChild(options: ServerOptions, core: number, print: (line: string) => void): Promise<Child> {
  const child = spawn('taskset', ['-c', String(core), process.execPath, '--import', 'tsx', CHILD_URL], {
    env: { ...process.env, BENCH_SERVER_OPTIONS: JSON.stringify(options) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.on('exit', () => {
    exited = true;
    resolve();
  }));
  const close = async (): Promise<void> => {
    if (exited) return;
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
    await exit;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let isReady = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${options.kind} server was not ready within ${READY_TIMEOUT_MS / 1_000} s`));
    }, READY_TIMEOUT_MS);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      // Only complete lines: the READY message (650 writer sessions) spans many pipe chunks.
      const line = stdout.split('\n').slice(0, -1).find((l) => l.startsWith('READY '));
      if (line === undefined || child.pid === undefined) return;
      isReady = true;
      clearTimeout(timer);
      stdout = '';
      const ready = JSON.parse(line.slice('READY '.length)) as ReadyMessage;
      resolve({ kind: options.kind, process: child, pid: child.pid, origin: `http://127.0.0.1:${ready.port}`, ready, close });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (isReady) return;
      const tail = stderr.trim().split('\n').slice(-6).join('\n    ');
      if (tail !== '') print(`  ${options.kind} server stderr:\n    ${tail}`);
      reject(new Error(`${options.kind} server exited with ${code} before it was ready`));
    });
  });
}

/** Rampart's page, its nonce replaced by the marker, for the baselines to send. */
async function capturePage(origin: string, spec: RequestSpec): Promise<string> {
  const res = await probe({ label: 'rampart', origin, request: { path: spec.path, headers: spec.headers[0] ?? {} } });
  if (res.status !== 200) throw new Error(`rampart: GET ${spec.path} answered ${res.status}`);
  const nonce = /'nonce-([^']+)'/.exec(String(res.headers['content-security-policy']))?.[1];
  if (nonce === undefined) throw new Error(`rampart: GET ${spec.path} has no CSP nonce`);
  return res.body.replaceAll(nonce, NONCE_MARKER);
}

/** Opens `count` keep-alive connections, each answering one request, and holds them; closes them all on `release`. */
async function holdConnections(origin: string, count: number): Promise<{ opened: number; answered: number; release: () => void }> {
  const url = new URL(origin);
  const sockets: Socket[] = [];
  let answered = 0;
  const request = `GET /api/status HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n\r\n`;
  await Promise.all(Array.from({ length: count }, () => new Promise<void>((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    sockets.push(socket);
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve();
      }
    };
    socket.setTimeout(15_000, () => {
      finish();
    });
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      if (!done && chunk.toString('latin1').startsWith('HTTP/1.1 200')) answered += 1;
      finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
  })));
  const opened = sockets.filter((s) => !s.destroyed).length;
  return { opened, answered, release: () => {
    for (const s of sockets) s.destroy();
  } };
}

function summarize(kind: ServerKind, measured: readonly Measurement[]): KindSummary {
  const rounds = measured.filter((m) => m.kind === kind && m.round > 0);
  const medianOf = (pick: (m: Measurement) => number) => spread(rounds.map(pick)).median;
  return {
    kind,
    requestsPerSecond: spread(rounds.map((m) => m.wrk.requestsPerSecond)),
    cpuMicrosPerRequest: spread(rounds.flatMap((m) => (m.cpuMicrosPerRequest === null ? [] : [m.cpuMicrosPerRequest]))),
    p50Ms: medianOf((m) => m.wrk.p50Ms),
    p99Ms: medianOf((m) => m.wrk.p99Ms),
    generatorCpuPercent: Math.max(...rounds.map((m) => m.wrk.generatorCpuPercent)),
  };
}

function failuresOf(scenario: MatrixScenario, m: Measurement, limit: number): string[] {
  const where = `${scenario}, ${m.kind}, ${m.round === 0 ? 'warm-up' : `round ${m.round}`}`;
  const out: string[] = [];
  if (m.wrk.badStatus > 0) out.push(`${where}: ${m.wrk.badStatus} answers with status >= 400`);
  if (m.wrk.socketErrors + m.wrk.timeouts > 0) out.push(`${where}: ${m.wrk.socketErrors} socket errors, ${m.wrk.timeouts} timeouts`);
  if (m.wrk.requests === 0) out.push(`${where}: no answers`);
  if (m.round > 0 && m.saturated) out.push(`${where}: load generator at ${m.wrk.generatorCpuPercent.toFixed(0)}% of its core (> ${limit}%): it, not the server, set the pace`);
  return out;
}

async function runScenario(scenario: MatrixScenario, children: readonly Child[], options: MatrixOptions, scratch: string, print: (line: string) => void): Promise<ScenarioResult> {
  const shape: WrkShape = { durationSeconds: options.durationSeconds, connections: options.connections, threads: options.threads, core: options.loadCore };
  const serving = children.filter((c) => c.ready.requests[scenario] !== undefined);
  const bodyBytes: Partial<Record<ServerKind, number>> = {};
  // The POST rotates prebuilt requests on every server, so each pays wrk's Lua request hook alike.
  const rotate = scenario === 'post-create';
  for (const child of serving) {
    const spec = child.ready.requests[scenario]!;
    const res = await probe({ label: child.kind, origin: child.origin, request: { method: spec.method, path: spec.path, headers: spec.headers[0] ?? {}, ...(spec.body === undefined ? {} : { body: spec.body }) } });
    if (res.status !== spec.status) throw new Error(`${scenario}: ${child.kind} answered ${res.status} (expected ${spec.status}): ${res.body.slice(0, 200)}`);
    bodyBytes[child.kind] = Buffer.byteLength(res.body);
  }
  const measurements: Measurement[] = [];
  const measure = async (child: Child, round: number, seconds: number): Promise<void> => {
    const spec = child.ready.requests[scenario]!;
    const before = readStat(child.pid);
    const wrk = await runWrk(child.origin, spec, { ...shape, durationSeconds: seconds }, join(scratch, `${scenario}-${child.kind}.lua`), rotate);
    const after = readStat(child.pid);
    const m: Measurement = { round, kind: child.kind, wrk, cpuMicrosPerRequest: cpuMicrosPerRequest(before, after, wrk.requests), saturated: generatorSaturated(wrk.generatorCpuPercent, options.generatorLimitPercent) };
    measurements.push(m);
    print(`    ${(round === 0 ? 'warm-up' : `round ${round}`).padEnd(8)} ${LABEL[child.kind].padEnd(8)} ${fmt(wrk.requestsPerSecond).padStart(8)} req/s  p50 ${wrk.p50Ms.toFixed(1).padStart(6)} ms  p99 ${wrk.p99Ms.toFixed(1).padStart(7)} ms  ` +
      `cpu ${m.cpuMicrosPerRequest === null ? 'n/a' : fmt(m.cpuMicrosPerRequest)} µs/req  wrk cpu ${wrk.generatorCpuPercent.toFixed(0)}%${m.saturated ? ' SATURATED' : ''}${wrk.badStatus + wrk.socketErrors + wrk.timeouts > 0 ? `  errors ${wrk.badStatus}/${wrk.socketErrors}/${wrk.timeouts}` : ''}`);
  };
  if (options.warmupSeconds > 0) for (const child of serving) await measure(child, 0, options.warmupSeconds);
  for (let round = 1; round <= options.rounds; round += 1) {
    for (const child of roundOrder(serving, round)) await measure(child, round, options.durationSeconds);
  }
  const summaries: Partial<Record<ServerKind, KindSummary>> = {};
  for (const child of serving) summaries[child.kind] = summarize(child.kind, measurements);
  const rps = (kind: ServerKind) => summaries[kind]?.requestsPerSecond.median ?? null;
  const cpu = (kind: ServerKind) => summaries[kind]?.cpuMicrosPerRequest.median ?? null;
  const failures = measurements.flatMap((m) => failuresOf(scenario, m, options.generatorLimitPercent));
  return {
    scenario,
    title: SCENARIO_TITLES[scenario],
    summaries,
    ratios: { rampartBare: ratio(rps('rampart'), rps('bare')), rampartStack: ratio(rps('rampart'), rps('stack')), cpuRampartBare: ratio(cpu('rampart'), cpu('bare')), cpuRampartStack: ratio(cpu('rampart'), cpu('stack')), cpuMetrics: ratio(cpu('rampart'), cpu('nometrics')) },
    valid: failures.length === 0,
    failures,
    measurements,
    bodyBytes,
  };
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
function fmt(n: number | null): string {
  return n === null || Number.isNaN(n) ? 'n/a' : integer.format(n);
}
function times(n: number | null): string {
  return n === null ? 'n/a' : `${n.toFixed(2)}×`;
}

/** The table of one scenario: one row per server, then the ratios and the verdict. */
export function scenarioTable(result: ScenarioResult): string[] {
  const head = ['server', 'req/s (median)', 'spread', 'cpu µs/req', 'spread', 'p50 ms', 'p99 ms', 'wrk cpu', 'body B'];
  const widths = [8, 14, 8, 10, 8, 7, 8, 7, 8];
  const row = (cells: readonly string[]) => '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const lines = [row(head), `  ${'-'.repeat(row(head).length - 2)}`];
  for (const kind of KINDS) {
    const s = result.summaries[kind];
    if (s === undefined && kind === 'nometrics') continue;
    if (s === undefined) {
      lines.push(row([LABEL[kind], 'n/a', '', '', '', '', '', '', '']));
      continue;
    }
    const pct = (x: Spread) => (Number.isNaN(x.relative) ? '' : `±${(x.relative * 50).toFixed(0)}%`);
    lines.push(row([LABEL[kind], fmt(s.requestsPerSecond.median), pct(s.requestsPerSecond), fmt(s.cpuMicrosPerRequest.median), pct(s.cpuMicrosPerRequest), s.p50Ms.toFixed(1), s.p99Ms.toFixed(1), `${s.generatorCpuPercent.toFixed(0)}%`, fmt(result.bodyBytes[kind] ?? null)]));
  }
  const r = result.ratios;
  lines.push(`  rampart/bare req/s ${times(r.rampartBare)} (cpu ${times(r.cpuRampartBare)}); rampart/stack req/s ${times(r.rampartStack)} (cpu ${times(r.cpuRampartStack)}); ${result.valid ? 'VALID' : 'INVALID'}`);
  const on = result.summaries.rampart?.cpuMicrosPerRequest.median;
  const off = result.summaries.nometrics?.cpuMicrosPerRequest.median;
  if (on !== undefined && off !== undefined) {
    lines.push(`  metrics: ${(on - off).toFixed(1)} cpu µs/req (${(((on - off) / off) * 100).toFixed(1)}% of Rampart without them: ${off.toFixed(1)} → ${on.toFixed(1)} µs/req)`);
  }
  for (const f of result.failures) lines.push(`  INVALID: ${f}`);
  return lines;
}

async function createDatabases(adminUrl: string, runId: string): Promise<{ urls: Record<ServerKind, string>; drop: () => Promise<void> }> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error('PostgreSQL is unreachable: start it, or set RAMPART_BENCH_ADMIN_DATABASE_URL', { cause: err });
  }
  const names = Object.fromEntries(KINDS.map((kind) => [kind, `rampart_bench_${runId}_${kind}`])) as Record<ServerKind, string>;
  const created: string[] = [];
  const drop = async (): Promise<void> => {
    // Ours only, by exact name; the servers have closed their pools, FORCE covers a crashed one.
    for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  };
  try {
    for (const kind of KINDS) {
      await admin.query(`CREATE DATABASE ${names[kind]}`);
      created.push(names[kind]);
    }
  } catch (err) {
    await drop();
    throw err;
  }
  const urls = Object.fromEntries(KINDS.map((kind) => {
    const url = new URL(adminUrl);
    url.pathname = `/${names[kind]}`;
    return [kind, url.toString()];
  })) as Record<ServerKind, string>;
  return { urls, drop };
}

/** Pins this process (every thread) to `cores` (e.g. the load core, so nothing of the bench's own runs on the server's core). */
export function pinSelf(cores: number | string): boolean {
  return spawnSync('taskset', ['-a', '-p', '-c', String(cores), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** Runs the matrix on one target: three server processes, every scenario, then the RSS check; cleans up whatever happens. */
export async function runTarget(target: Target, options: MatrixOptions, print: (line: string) => void): Promise<TargetResult> {
  const runId = randomBytes(4).toString('hex');
  const prefix = `rampart-bench:${runId}:`;
  const scratch = mkdtempSync(join(tmpdir(), 'rampart-bench-'));
  const databases = target === 'real' ? await createDatabases(options.databaseAdminUrl, runId) : null;
  const children: Child[] = [];
  const ratioScenarios = options.scenarios.filter((s): s is MatrixScenario => s !== 'rss');
  const totalSeconds = options.warmupSeconds + options.rounds * options.durationSeconds;
  const writers = ratioScenarios.includes('post-create') ? Math.ceil((totalSeconds * MAX_EXPECTED_WRITES_PER_SECOND) / WRITES_PER_USER) : 1;
  const serverOptions = (kind: ServerKind, pages: PageTemplates | null): ServerOptions => ({
    kind, pages, writers,
    databaseUrl: databases === null ? null : databases.urls[kind],
    redisUrl: target === 'real' ? options.redisUrl : null,
    redisPrefix: `${prefix}${kind}:`,
  });
  try {
    print(`  starting rampart (${target === 'real' ? 'PostgreSQL + Redis' : 'PGlite + memory store'}; ${writers} writer sessions) pinned to core ${options.serverCore} ...`);
    const rampart = await startChild(serverOptions('rampart', null), options.serverCore, print);
    children.push(rampart);
    const home = rampart.ready.requests.home;
    const post = rampart.ready.requests['post-page'];
    if (home === undefined || post === undefined) throw new Error('rampart: no page requests');
    const pages: PageTemplates = { home: await capturePage(rampart.origin, home), post: await capturePage(rampart.origin, post) };
    for (const kind of ['bare', 'stack'] as const) children.push(await startChild(serverOptions(kind, pages), options.serverCore, print));
    if (options.metricsOff) children.push(await startChild(serverOptions('nometrics', null), options.serverCore, print));
    const notes = children.flatMap((c) => c.ready.notes);
    for (const note of notes) print(`  ${note}`);
    const scenarios: ScenarioResult[] = [];
    for (const scenario of ratioScenarios) {
      print(`\n  ${scenario}: ${SCENARIO_TITLES[scenario]}`);
      const result = await runScenario(scenario, children, options, scratch, print);
      scenarios.push(result);
      for (const line of scenarioTable(result)) print(line);
    }
    const rss: RssResult[] = [];
    if (options.scenarios.includes('rss')) {
      print(`\n  rss: ${SCENARIO_TITLES.rss}`);
      for (const child of children) {
        const idleKiB = rssKiB(child.pid);
        const held = await holdConnections(child.origin, options.keepAliveConnections);
        const openKiB = rssKiB(child.pid);
        held.release();
        await new Promise((resolve) => setTimeout(resolve, 500));
        const result: RssResult = { kind: child.kind, idleKiB, openKiB, afterCloseKiB: rssKiB(child.pid), opened: held.opened, answered: held.answered };
        rss.push(result);
        print(`    ${LABEL[child.kind].padEnd(8)} RSS idle ${fmt(idleKiB / 1024)} MiB, with ${held.opened} connections open (${held.answered} answered 200) ${fmt(openKiB / 1024)} MiB (+${fmt((openKiB - idleKiB) / held.opened)} KiB each), after closing ${fmt(result.afterCloseKiB / 1024)} MiB`);
      }
    }
    return { target, notes, scenarios, rss };
  } finally {
    await Promise.allSettled(children.map((c) => c.close()));
    if (databases !== null) await databases.drop();
    if (target === 'real') {
      const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null });
      try {
        await deleteKeys(redis, prefix);
      } finally {
        redis.disconnect();
      }
    }
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Writes the run as JSON; the README table can be regenerated from it (`npm run bench -- --report <file>`). */
export function writeResults(dir: string, run: { readonly startedAt: string; readonly machine: Record<string, unknown>; readonly options: MatrixOptions; readonly targets: readonly TargetResult[] }): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${run.startedAt.replace(/[:.]/g, '-')}.json`);
  const redacted = { ...run, options: { ...run.options, databaseAdminUrl: redactPassword(run.options.databaseAdminUrl), redisUrl: redactPassword(run.options.redisUrl) } };
  writeFileSync(file, `${JSON.stringify(redacted, null, 2)}\n`);
  return file;
}

function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** The README's table, one row per target and scenario. */
export function markdownTable(targets: readonly TargetResult[]): string[] {
  const lines = [
    '| target | route | bare req/s (cpu µs) | stack req/s (cpu µs) | Rampart req/s (cpu µs) | Rampart/bare | Rampart/stack | Rampart p50/p99 ms | wrk cpu max | valid |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const t of targets) {
    for (const s of t.scenarios) {
      const cell = (kind: ServerKind) => {
        const x = s.summaries[kind];
        return x === undefined ? 'n/a' : `${fmt(x.requestsPerSecond.median)} (${fmt(x.cpuMicrosPerRequest.median)})`;
      };
      const r = s.summaries.rampart;
      const wrkMax = Math.max(...Object.values(s.summaries).map((x) => x.generatorCpuPercent));
      lines.push(`| ${t.target} | ${s.title} | ${cell('bare')} | ${cell('stack')} | ${cell('rampart')} | ${times(s.ratios.rampartBare)} | ${times(s.ratios.rampartStack)} | ${r === undefined ? 'n/a' : `${r.p50Ms.toFixed(1)} / ${r.p99Ms.toFixed(1)}`} | ${wrkMax.toFixed(0)}% | ${s.valid ? 'yes' : 'INVALID'} |`);
    }
    for (const r of t.rss) {
      lines.push(`| ${t.target} | RSS, ${r.opened} keep-alive connections (${r.kind}) | | | | | | idle ${fmt(r.idleKiB / 1024)} MiB → ${fmt(r.openKiB / 1024)} MiB | | ${r.answered === r.opened ? 'yes' : `${r.answered} answered`} |`);
    }
  }
  return lines;
}

export { MATRIX_SCENARIOS };
