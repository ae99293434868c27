#!/usr/bin/env node
// Runs the test suite against the embedded twins (PGlite, in-memory store) and against real
// PostgreSQL and Redis. Each real run gets its own database, roles and Redis key prefix, and
// removes them afterwards. An unreachable PostgreSQL or Redis is a failure, never a skip.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
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

function run(env) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const counts = { pass: 0, fail: 0, skipped: 0, todo: 0 };
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^ℹ (pass|fail|skipped|todo) (\d+)$/.exec(line.trim());
        if (m) counts[m[1]] = Number(m[2]);
      }
    });
    child.on('close', (code) => resolve({ code: code ?? 1, counts }));
  });
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
for (const target of targets) {
  console.log(`\n=== Rampart tests: ${target} (${target === 'real' ? 'PostgreSQL + Redis' : 'PGlite + in-memory store'}) on Node ${process.version}\n`);
  let real;
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
  const { code, counts } = await run(real ? real.env : { RAMPART_TEST_TARGET: 'embedded' });
  if (real) await real.cleanup();
  totals.pass += counts.pass;
  totals.fail += counts.fail;
  totals.skipped += counts.skipped + counts.todo;
  if (code !== 0) failed = true;
}
if (totals.skipped > 0) {
  console.error(`\n✖ ${totals.skipped} tests were skipped or marked todo; Rampart's suite runs everything.`);
  failed = true;
}
console.log(`\n${totals.pass} passed, ${totals.fail} failed`);
process.exit(failed ? 1 : 0);
