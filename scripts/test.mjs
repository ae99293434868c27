#!/usr/bin/env node
// Runs the test suite against the embedded twins (PGlite, in-memory store) and against real
// PostgreSQL and Redis. Each real run gets its own database, roles and Redis key prefix, and
// removes them afterwards. An unreachable PostgreSQL or Redis is a failure, never a skip.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Redis } from 'ioredis';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { target: { type: 'string', default: 'all' } },
});
if (!['all', 'embedded', 'real'].includes(values.target)) {
  console.error(`--target must be all, embedded or real (got ${values.target})`);
  process.exit(2);
}
const targets = values.target === 'all' ? ['embedded', 'real'] : [values.target];

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.ts')) out.push(relative(process.cwd(), path));
  }
  return out;
}
const files = positionals.length > 0 ? positionals : findTests('test');

// Test files run in their own processes, a few at a time: files of both targets share one
// queue, so the embedded target's CPU-bound work overlaps the real target's waits on
// PostgreSQL and Redis. Files already share the real target's database and Redis prefix
// safely (every test makes its own users, IPs and key prefixes), as they did under
// node --test's own concurrency.
const concurrency = Math.max(1, Number.parseInt(process.env.RAMPART_TEST_CONCURRENCY ?? '2', 10) || 2);

// Each file's CPU time counts its own threads and every process it spawned and waited for
// (the CLI and server children, chromium): GNU time reports the child's wait4() usage, which
// the kernel sums over reaped descendants. Node cannot see a grandchild's CPU itself
// (process.resourceUsage() is the runner's own). Without /usr/bin/time only wall time is shown.
const TIME = '/usr/bin/time';
const cpuMeasured = existsSync(TIME);
const timingDir = cpuMeasured ? await mkdtemp(join(tmpdir(), 'rampart-test-cpu-')) : undefined;
let timingSeq = 0;
const signalNames = Object.fromEntries(Object.entries(osConstants.signals).map(([name, number]) => [number, name]));

/** The CPU seconds (user + system) and the signal GNU time recorded for its child, if any. */
async function readTiming(file) {
  if (file === undefined) return { cpu: null, signal: null };
  const text = await readFile(file, 'utf8').catch(() => '');
  await rm(file, { force: true });
  const times = /^(\d+\.\d+) (\d+\.\d+)$/m.exec(text);
  const killed = /^Command terminated by signal (\d+)$/m.exec(text);
  return { cpu: times ? Number(times[1]) + Number(times[2]) : null, signal: killed ? (signalNames[Number(killed[1])] ?? `signal ${killed[1]}`) : null };
}

/** Runs one file on one target; its output is printed whole when it ends, so concurrent files never interleave. */
function runFile(file, target, env) {
  return new Promise((resolve) => {
    const started = performance.now();
    const timing = timingDir === undefined ? undefined : join(timingDir, `${(timingSeq += 1)}.txt`);
    const command = [process.execPath, '--import', 'tsx', '--test-reporter=spec', file];
    const [bin, ...args] = timing === undefined ? command : [TIME, '-f', '%U %S', '-o', timing, ...command];
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.stderr.on('data', (chunk) => chunks.push(chunk));
    child.on('close', async (code, childSignal) => {
      const seconds = (performance.now() - started) / 1000;
      const measured = await readTiming(timing);
      const signal = childSignal ?? measured.signal;
      const cpu = measured.cpu;
      const output = Buffer.concat(chunks).toString('utf8');
      const counts = { pass: 0, fail: 0, skipped: 0, todo: 0 };
      for (const line of output.split('\n')) {
        const m = /^ℹ (pass|fail|skipped|todo) (\d+)$/.exec(line.trim());
        if (m) counts[m[1]] = Number(m[2]);
      }
      const ok = code === 0 && counts.fail === 0;
      const cpuText = cpu === null ? '' : `, ${cpu.toFixed(1)} s CPU`;
      process.stdout.write(`\n── ${ok ? '✔' : '✖'} [${target}] ${file} (${seconds.toFixed(1)} s${cpuText})\n${output}`);
      // A file that crashed before reporting still fails the run.
      if (!ok && counts.fail === 0) counts.fail = 1;
      resolve({ file, target, seconds, cpu, ok, counts, signal });
    });
  });
}

async function runQueue(jobs) {
  const results = [];
  let next = 0;
  async function worker() {
    while (next < jobs.length) {
      const job = jobs[next];
      next += 1;
      results.push(await runFile(job.file, job.target, job.env));
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  return results;
}

async function prepareReal() {
  const runId = randomBytes(5).toString('hex');
  const adminUrl = process.env.RAMPART_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.RAMPART_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is unreachable at ${redact(adminUrl)} (${err.message}). Start it, or set RAMPART_TEST_DATABASE_URL.`);
  }
  const database = `rampart_test_${runId}`;
  await admin.query(`CREATE DATABASE ${database}`);
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    await admin.query(`DROP DATABASE ${database}`);
    await admin.end();
    throw new Error(`Redis is unreachable at ${redact(redisUrl)} (${err.message}). Start it, or set RAMPART_TEST_REDIS_URL.`);
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const prefix = `rampart-test:${runId}:`;
  return {
    env: {
      RAMPART_TEST_TARGET: 'real',
      RAMPART_TEST_RUN_ID: runId,
      RAMPART_TEST_DATABASE_URL: url.toString(),
      RAMPART_TEST_ADMIN_DATABASE_URL: adminUrl,
      RAMPART_TEST_REDIS_URL: redisUrl,
      RAMPART_TEST_REDIS_PREFIX: prefix,
      // One deployment's secrets for the whole run: every app shares the database, and rows
      // that belong to the deployment (the encrypted token-signing keys) must open in each.
      RAMPART_TEST_SECRET_KEY: randomBytes(32).toString('base64url'),
      RAMPART_TEST_ENCRYPTION_KEYS: `test-run:${randomBytes(32).toString('base64url')}`,
    },
    async cleanup() {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      // Tests' private databases are named rampart_<run id>_db_…; one still in use at its test's end is dropped here.
      const privates = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`rampart_${runId}_db_%`]);
      for (const { datname } of privates.rows) await admin.query(`DROP DATABASE IF EXISTS "${datname.replaceAll('"', '""')}" WITH (FORCE)`);
      // Tests name the roles they create rampart_<run id>_…; they are cluster-wide.
      const roles = await admin.query(`SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, [`rampart_${runId}_%`]);
      for (const { rolname } of roles.rows) await admin.query(`DROP ROLE IF EXISTS "${rolname.replaceAll('"', '""')}"`);
      await admin.end();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
      redis.disconnect();
    },
  };
}

function redact(u) {
  try {
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}

let failed = false;
const totals = { pass: 0, fail: 0, skipped: 0 };
const started = performance.now();
const jobs = [];
let real;
// One migrated PGlite for the whole run: every embedded app starts from a copy of its dump,
// and CLI and server children of both targets (they use the embedded database) from a copy of
// it as a data directory.
const templateName = `rampart-pglite-template-${process.pid}-${randomBytes(4).toString('hex')}`;
const templateFile = join(tmpdir(), `${templateName}.tar`);
const templateDataDir = join(tmpdir(), templateName, 'pglite');
{
  const made = await new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/pglite-template.ts', templateFile, templateDataDir], { stdio: 'inherit' });
    child.on('close', (code) => resolve(code === 0));
  });
  if (!made) {
    console.error('\n✖ could not build the migrated PGlite template (scripts/pglite-template.ts)');
    process.exit(1);
  }
}
const templateEnv = { RAMPART_TEST_PGLITE_TEMPLATE: templateFile, RAMPART_TEST_PGLITE_DATA_DIR: templateDataDir };
for (const target of targets) {
  if (target === 'real') {
    try {
      real = await prepareReal();
    } catch (err) {
      console.error(`\n✖ ${err.message}`);
      failed = true;
      totals.fail += 1;
      continue;
    }
  }
  const env = { ...templateEnv, ...(target === 'real' ? real.env : { RAMPART_TEST_TARGET: 'embedded' }) };
  jobs.push(files.map((file) => ({ file, target, env })));
}
// Alternate the targets, so an embedded file (CPU-bound PGlite) mostly runs beside a real one
// (waiting on PostgreSQL and Redis) rather than beside another embedded one.
const alternating = [];
for (let i = 0; i < files.length; i += 1) for (const list of jobs) if (list[i]) alternating.push(list[i]);
// Then the longest files first, by their wall time in earlier runs on this checkout: a long
// file started last would run alone at the end, leaving the other slot idle. A file with no
// recorded time (new, or the first run) goes first, as it may be long. The sort is stable,
// so without history the alternating order stands. The times stay in the checkout (ignored by
// git), where `npm ci` keeps them.
const TIMINGS = join('test-results', 'timings.json');
const jobKey = (job) => `${job.target} ${job.file}`;
const history = await readFile(TIMINGS, 'utf8').then((text) => JSON.parse(text), () => ({}));
const expected = (job) => (typeof history[jobKey(job)] === 'number' ? history[jobKey(job)] : Number.POSITIVE_INFINITY);
const queue = alternating.map((job, order) => ({ job, order })).sort((a, b) => expected(b.job) - expected(a.job) || a.order - b.order).map(({ job }) => job);
console.log(`\n=== Rampart tests on Node ${process.version}: ${files.length} files × ${targets.join(' + ')} (embedded: PGlite + in-memory store; real: PostgreSQL + Redis), ${concurrency} at a time\n`);
let results = [];
try {
  results = await runQueue(queue);
} finally {
  if (real) await real.cleanup();
  await rm(templateFile, { force: true });
  await rm(join(tmpdir(), templateName), { recursive: true, force: true });
  if (timingDir) await rm(timingDir, { recursive: true, force: true });
}
try {
  for (const r of results) history[jobKey(r)] = Math.round(r.seconds * 10) / 10;
  await mkdir(join(TIMINGS, '..'), { recursive: true });
  await writeFile(TIMINGS, `${JSON.stringify(history, null, 1)}\n`);
} catch (err) {
  console.error(`(could not record the files' times in ${TIMINGS}: ${err.message})`);
}
for (const { ok, counts } of results) {
  totals.pass += counts.pass;
  totals.fail += counts.fail;
  totals.skipped += counts.skipped + counts.todo;
  if (!ok) failed = true;
}
const wall = (performance.now() - started) / 1000;
console.log('\n=== The 10 slowest files');
for (const r of [...results].sort((a, b) => b.seconds - a.seconds).slice(0, 10)) {
  console.log(`${r.seconds.toFixed(1).padStart(7)} s  [${r.target}] ${r.file}${r.cpu === null ? '' : ` (${r.cpu.toFixed(1)} s CPU)`}`);
}
if (cpuMeasured) {
  // The suite is CPU-bound on a small machine: these files are where its time goes.
  console.log('\n=== The 10 largest CPU users (user + system, with every process the file spawned)');
  for (const r of results.filter((x) => x.cpu !== null).sort((a, b) => b.cpu - a.cpu).slice(0, 10)) {
    console.log(`${r.cpu.toFixed(1).padStart(7)} s  [${r.target}] ${r.file} (${r.seconds.toFixed(1)} s wall)`);
  }
}
for (const target of targets) {
  const mine = results.filter((r) => r.target === target);
  const sum = mine.reduce((acc, r) => acc + r.seconds, 0);
  const cpu = mine.reduce((acc, r) => acc + (r.cpu ?? 0), 0);
  console.log(`${target}: ${mine.length} files, ${sum.toFixed(0)} s of file time${cpuMeasured ? `, ${cpu.toFixed(0)} s CPU` : ''}`);
}
const failedFiles = results.filter((r) => !r.ok);
if (failedFiles.length > 0) {
  console.error('\n✖ failing files:');
  for (const r of failedFiles) console.error(`  [${r.target}] ${r.file}${r.signal ? ` (killed by ${r.signal})` : ''}`);
}
if (totals.skipped > 0) {
  console.error(`\n✖ ${totals.skipped} tests were skipped or marked todo; Rampart's suite runs everything.`);
  failed = true;
}
console.log(`\n${totals.pass} passed, ${totals.fail} failed in ${wall.toFixed(0)} s`);
process.exit(failed ? 1 : 0);
