import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseBashTimes, percentOfCore } from './stats.js';
import type { RequestSpec } from './servers/protocol.js';

/** How wrk pushes: one thread on its own core, `connections` keep-alive connections. */
export interface WrkShape {
  readonly durationSeconds: number;
  readonly connections: number;
  readonly threads: number;
  /** The core wrk is pinned to (`taskset -c`). */
  readonly core: number;
}

/** What one wrk run measured. */
export interface WrkResult {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Answers wrk counts as errors (status >= 400) — any one fails the run (every spec expects 2xx). */
  readonly badStatus: number;
  readonly socketErrors: number;
  readonly timeouts: number;
  /** wrk's own CPU (user + system, from bash's `times`) over its wall time, in % of one core. */
  readonly generatorCpuPercent: number;
  readonly wallSeconds: number;
}

// wrk gives up on a request after this: a stuck server must not hold the bench open.
const WRK_TIMEOUT_SECONDS = 10;
// Past wrk's own duration and timeout: a wrk that does not exit by then is killed.
const GRACE_MS = 30_000;

/** A Lua string literal for any string (decimal escapes for everything outside printable ASCII). */
export function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += c === '"' || c === '\\' ? `\\${c}` : byte >= 0x20 && byte < 0x7f ? c : `\\${byte}`;
  }
  return `${out}"`;
}

function luaTable(headers: Readonly<Record<string, string>>): string {
  return `{${Object.entries(headers).map(([name, value]) => `[${luaString(name)}] = ${luaString(value)}`).join(', ')}}`;
}

/**
 * The wrk script for one request spec: a fixed request (wrk's fast path) for one header set,
 * or a rotation through prebuilt requests for several; `done` prints the summary as JSON.
 */
export function wrkScript(spec: RequestSpec, host: string, rotate: boolean): string {
  const headers = spec.headers.map((h) => ({ Host: host, ...h }));
  const lines: string[] = [];
  if (headers.length === 1 && !rotate) {
    lines.push(`wrk.method = ${luaString(spec.method)}`, `wrk.path = ${luaString(spec.path)}`, `wrk.headers = ${luaTable(headers[0]!)}`);
    if (spec.body !== undefined) lines.push(`wrk.body = ${luaString(spec.body)}`);
  } else {
    const body = spec.body === undefined ? 'nil' : luaString(spec.body);
    lines.push('local reqs = {}', 'local i = 0', 'init = function(args)');
    for (const h of headers) lines.push(`  reqs[#reqs + 1] = wrk.format(${luaString(spec.method)}, ${luaString(spec.path)}, ${luaTable(h)}, ${body})`);
    lines.push('end', 'request = function()', '  i = i + 1', '  if i > #reqs then i = 1 end', '  return reqs[i]', 'end');
  }
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n\',',
    '    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))',
    'end',
  );
  return `${lines.join('\n')}\n`;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
}

/** Runs wrk once, pinned, in a process of its own under bash (whose `times` reports wrk's CPU). */
export function runWrk(origin: string, spec: RequestSpec, shape: WrkShape, scriptPath: string, rotate: boolean): Promise<WrkResult> {
  const url = new URL(origin);
  writeFileSync(scriptPath, wrkScript(spec, url.host, rotate), { mode: 0o600 });
  const args = [
    '-c', 'taskset -c "$1" "${@:2}"; rc=$?; times 1>&2; exit $rc', 'bench-wrk', String(shape.core),
    'wrk', `-t${shape.threads}`, `-c${shape.connections}`, `-d${shape.durationSeconds}s`, `--timeout`, `${WRK_TIMEOUT_SECONDS}s`, '-s', scriptPath, `${origin}${spec.path}`,
  ];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('bash', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), shape.durationSeconds * 1_000 + GRACE_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const wallSeconds = (performance.now() - started) / 1_000;
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
      if (code !== 0 || line === undefined) {
        reject(new Error(`wrk exited with ${code}: ${(stderr || stdout).trim().split('\n').slice(0, 3).join(' | ')}`));
        return;
      }
      const json = JSON.parse(line.slice('BENCH_JSON '.length)) as WrkJson;
      const times = parseBashTimes(stderr);
      resolve({
        requests: json.requests,
        requestsPerSecond: json.requests / (json.duration_us / 1e6),
        p50Ms: json.p50_us / 1_000,
        p99Ms: json.p99_us / 1_000,
        maxMs: json.max_us / 1_000,
        badStatus: json.status,
        socketErrors: json.connect + json.read + json.write,
        timeouts: json.timeout,
        generatorCpuPercent: percentOfCore(times.userSeconds + times.systemSeconds, wallSeconds),
        wallSeconds,
      });
    });
  });
}
