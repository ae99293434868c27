import { availableParallelism, cpus, loadavg } from 'node:os';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { markdownTable, MATRIX_SCENARIOS, pinSelf, runTarget, scenarioTable, writeResults, type MatrixOptions, type Target, type TargetResult } from './matrix.js';
import type { MatrixScenario } from './servers/protocol.js';
import { procedures } from './scenarios/index.js';
import { GENERATOR_SATURATION_PERCENT } from './stats.js';

const USAGE = `Usage: npm run bench -- [scenario ...] [options]

The request-path matrix: every scenario against bare Fastify, the usual Fastify plugin stack
and Rampart, each server in its own process pinned to the server core, wrk pinned to the
load core, interleaved rounds. Then the login flood and the sanitizer. Exit 1 when a run
is INVALID (wrong status, socket errors, the load generator saturated) or cannot run.

Scenarios: ${MATRIX_SCENARIOS.join(', ')}, rss, ${procedures.map((p) => p.name).join(', ')}
(default: all of them)

Options (environment variable in brackets):
  --target <t>         real | embedded | all                    [BENCH_TARGET]      (default all)
  --rounds <n>         measured rounds per server, 1-9          [BENCH_ROUNDS]      (default 3)
  --duration <s>       seconds per round, 1-60                  [BENCH_DURATION]    (default 8)
  --warmup <s>         warm-up seconds per server, 0-30         [BENCH_WARMUP]      (default 2)
  --connections <n>    wrk connections, 1-1000                  [BENCH_CONNECTIONS] (default 50)
  --threads <n>        wrk threads, 1-8                         [BENCH_THREADS]     (default 1)
  --server-core <n>    core the servers are pinned to           [BENCH_SERVER_CORE] (default 0)
  --load-core <n>      core wrk and this process are pinned to  [BENCH_LOAD_CORE]   (default 1)
  --keep-alive <n>     connections held open for rss, 1-5000    [BENCH_KEEP_ALIVE]  (default 1000)
  --generator-limit <%> wrk CPU above which a round is INVALID  [BENCH_GENERATOR_LIMIT] (default 90;
                       lower it only to see the check trigger)
  --metrics-off        also run Rampart with metrics collection off, and print what the
                       metrics cost in cpu µs/req                [BENCH_METRICS_OFF=1]
  --report <file>      print the README table of a results file and exit
  --list               list the scenarios and exit
  --help               this text

login-flood has its own shape (200 connections, 10 s per flood unless --connections or
--duration is given) and runs on each target; sanitize ignores --target.
Requirements: wrk and taskset (apt-get install wrk util-linux), 2 or more cores, PostgreSQL
(RAMPART_BENCH_ADMIN_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres, may
create databases) and Redis (RAMPART_BENCH_REDIS_URL, default redis://127.0.0.1:6379).
Results are written to bench/results/<time>.json.`;

function bounded(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`--${name} must be an integer from ${min} to ${max} (got ${text})`);
  return value;
}

const ALL = [...MATRIX_SCENARIOS, 'rss', ...procedures.map((p) => p.name)] as const;

interface Plan {
  readonly matrix: MatrixOptions;
  readonly procedures: readonly string[];
  readonly explicit: { readonly durationSeconds?: number; readonly connections?: number };
}

function parse(): Plan | string | null {
  const env = process.env;
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      target: { type: 'string', default: env.BENCH_TARGET ?? 'all' },
      rounds: { type: 'string', default: env.BENCH_ROUNDS ?? '3' },
      duration: { type: 'string', ...(env.BENCH_DURATION === undefined ? {} : { default: env.BENCH_DURATION }) },
      warmup: { type: 'string', default: env.BENCH_WARMUP ?? '2' },
      connections: { type: 'string', ...(env.BENCH_CONNECTIONS === undefined ? {} : { default: env.BENCH_CONNECTIONS }) },
      threads: { type: 'string', default: env.BENCH_THREADS ?? '1' },
      'server-core': { type: 'string', default: env.BENCH_SERVER_CORE ?? '0' },
      'load-core': { type: 'string', default: env.BENCH_LOAD_CORE ?? '1' },
      'keep-alive': { type: 'string', default: env.BENCH_KEEP_ALIVE ?? '1000' },
      'generator-limit': { type: 'string', default: env.BENCH_GENERATOR_LIMIT ?? String(GENERATOR_SATURATION_PERCENT) },
      'metrics-off': { type: 'boolean', default: env.BENCH_METRICS_OFF === '1' },
      report: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return null;
  }
  if (values.report !== undefined) return values.report;
  if (values.list) {
    for (const name of ALL) console.log(name);
    return null;
  }
  const unknown = positionals.filter((name) => !(ALL as readonly string[]).includes(name));
  if (unknown.length > 0) throw new RangeError(`unknown scenario ${unknown.join(', ')}; known: ${ALL.join(', ')}`);
  const selected = positionals.length === 0 ? [...ALL] : positionals;
  if (!['real', 'embedded', 'all'].includes(values.target)) throw new RangeError(`--target must be real, embedded or all (got ${values.target})`);
  const cores = CORES;
  const serverCore = bounded('server-core', values['server-core'], 0, cores - 1);
  const loadCore = bounded('load-core', values['load-core'], 0, cores - 1);
  if (serverCore === loadCore) throw new RangeError('--server-core and --load-core must differ: the load generator never shares the server\'s core');
  const duration = values.duration === undefined ? undefined : bounded('duration', values.duration, 1, 60);
  const connections = values.connections === undefined ? undefined : bounded('connections', values.connections, 1, 1000);
  return {
    matrix: {
      targets: values.target === 'all' ? ['real', 'embedded'] : [values.target as Target],
      scenarios: selected.filter((s): s is MatrixScenario | 'rss' => (MATRIX_SCENARIOS as readonly string[]).includes(s) || s === 'rss'),
      rounds: bounded('rounds', values.rounds, 1, 9),
      durationSeconds: duration ?? 8,
      warmupSeconds: bounded('warmup', values.warmup, 0, 30),
      connections: connections ?? 50,
      threads: bounded('threads', values.threads, 1, 8),
      serverCore,
      loadCore,
      keepAliveConnections: bounded('keep-alive', values['keep-alive'], 1, 5000),
      generatorLimitPercent: bounded('generator-limit', values['generator-limit'], 1, 100),
      databaseAdminUrl: env.RAMPART_BENCH_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      redisUrl: env.RAMPART_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
      metricsOff: values['metrics-off'],
    },
    procedures: selected.filter((s) => procedures.some((p) => p.name === s)),
    explicit: { ...(duration === undefined ? {} : { durationSeconds: duration }), ...(connections === undefined ? {} : { connections }) },
  };
}

// Read before this process pins itself to one core, which narrows what availableParallelism() sees.
const CORES = availableParallelism();

function loadLine(): string {
  const [oneMinute = 0] = loadavg();
  const busy = oneMinute > CORES ? ' (other processes compete for the cores: req/s is noisy, cpu µs/req much less so)' : '';
  return `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${CORES} CPUs${busy}`;
}

function requireTools(): void {
  for (const [tool, args] of [['wrk', ['-v']], ['taskset', ['-V']]] as const) {
    const result = spawnSync(tool, args, { stdio: 'ignore' });
    if (result.error !== undefined) throw new Error(`${tool} is not installed: apt-get install ${tool === 'wrk' ? 'wrk' : 'util-linux'}`);
  }
  if (CORES < 2) throw new Error('the bench needs 2 cores: one for the server, one for the load generator');
}

/** The login flood on PostgreSQL: a database of its own for the run, dropped afterwards. */
async function withFloodDatabase<T>(adminUrl: string, run: () => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  const name = `rampart_bench_${randomBytes(4).toString('hex')}_flood`;
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const previous = process.env.RAMPART_BENCH_DATABASE_URL;
  process.env.RAMPART_BENCH_DATABASE_URL = url.toString();
  try {
    return await run();
  } finally {
    if (previous === undefined) delete process.env.RAMPART_BENCH_DATABASE_URL;
    else process.env.RAMPART_BENCH_DATABASE_URL = previous;
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

async function main(): Promise<number> {
  let plan;
  try {
    plan = parse();
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (plan === null) return 0;
  if (typeof plan === 'string') {
    const run = JSON.parse(readFileSync(plan, 'utf8')) as { startedAt: string; machine: Record<string, unknown>; targets: TargetResult[] };
    console.log(`Measured ${run.startedAt} on ${JSON.stringify(run.machine)}:\n`);
    for (const line of markdownTable(run.targets)) console.log(line);
    return 0;
  }
  const { matrix } = plan;
  // The login flood's load processes read it (flood.ts).
  process.env.BENCH_LOAD_CORE = String(matrix.loadCore);
  const print = (line: string): void => {
    console.log(line);
  };
  let failed = false;
  const startedAt = new Date().toISOString();
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: CORES, node: process.version, loadAverageAtStart: loadavg().map((l) => Number(l.toFixed(2))) };
  console.log(`rampart bench: node ${process.version}, ${machine.cpu}; ${loadLine()}`);
  const targets: TargetResult[] = [];
  if (matrix.scenarios.length > 0) {
    try {
      requireTools();
    } catch (err) {
      console.error((err as Error).message);
      return 1;
    }
    const pinned = pinSelf(matrix.loadCore);
    console.log(`servers: each in its own process, pinned to core ${matrix.serverCore} (taskset); wrk -t${matrix.threads} -c${matrix.connections} pinned to core ${matrix.loadCore}; this process ${pinned ? `pinned to core ${matrix.loadCore} too` : 'NOT pinned (taskset -p failed)'}`);
    console.log(`rounds: ${matrix.rounds} × ${matrix.durationSeconds} s per server after a ${matrix.warmupSeconds} s warm-up each, the order rotating every round; medians, spread = ±half the range over the median`);
    console.log(`cpu µs/req: the server process's utime+stime (/proc/<pid>/stat, all threads) over the run / requests answered; wrk cpu: wrk's own user+sys over its wall time; a round above ${matrix.generatorLimitPercent}% of wrk's core is INVALID`);
    for (const target of matrix.targets) {
      console.log(`\n=== target ${target}: ${target === 'real' ? 'PostgreSQL + Redis' : 'embedded PGlite + in-memory store (the stack: MemoryStore and a local rate limit)'}`);
      try {
        const result = await runTarget(target, matrix, print);
        targets.push(result);
        if (result.scenarios.some((s) => !s.valid) || result.rss.some((r) => r.answered !== r.opened)) failed = true;
      } catch (err) {
        failed = true;
        const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
        console.error(`target ${target}: could not run: ${err instanceof Error ? err.message : String(err)}${cause}`);
      }
      console.log(`  ${loadLine()}`);
    }
    if (targets.length > 0) {
      console.log('\n=== summary');
      for (const t of targets) {
        for (const s of t.scenarios) {
          console.log(`\n  [${t.target}] ${s.scenario}: ${s.title}; baseline (bare) ${Math.round(s.summaries.bare?.requestsPerSecond.median ?? Number.NaN)} req/s absolute`);
          for (const line of scenarioTable(s)) console.log(line);
        }
      }
      const file = writeResults('bench/results', { startedAt, machine, options: matrix, targets });
      console.log(`\nREADME table (also: npm run bench -- --report ${file}):\n`);
      for (const line of markdownTable(targets)) console.log(line);
    }
  }
  // The procedures run their servers in this process, with every core, as they were designed.
  if (plan.procedures.length > 0 && matrix.scenarios.length > 0) pinSelf(`0-${CORES - 1}`);
  for (const name of plan.procedures) {
    const scenario = procedures.find((p) => p.name === name)!;
    const runs: readonly (Target | null)[] = name === 'login-flood' ? matrix.targets : [null];
    for (const target of runs) {
      console.log(`\n${scenario.name}${target === null ? '' : ` [${target === 'real' ? 'PostgreSQL' : 'PGlite'}]`}: ${scenario.description}`);
      try {
        const run = () => scenario.run({ warmupSeconds: matrix.warmupSeconds, ...plan.explicit }, print);
        const result = target === 'real' ? await withFloodDatabase(matrix.databaseAdminUrl, run) : await run();
        console.log(`  ${loadLine()}`);
        for (const failure of result.failures) console.log(`  FAILED: ${failure}`);
        console.log(result.verdictLine);
        if (result.failures.length > 0) failed = true;
      } catch (err) {
        failed = true;
        const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
        console.error(`${scenario.name}: could not run: ${err instanceof Error ? err.message : String(err)}${cause}`);
      }
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
