/**
 * Which backing services a test run uses. `scripts/test.mjs` sets these variables; the
 * embedded target is PGlite plus the in-memory store, the real one a fresh PostgreSQL
 * database and a private Redis key prefix. A real run with missing settings throws: it
 * never quietly falls back to the embedded twins.
 */
export type TestTarget =
  | { kind: 'embedded' }
  | {
      kind: 'real';
      runId: string;
      databaseUrl: string;
      adminDatabaseUrl: string;
      redisUrl: string;
      redisPrefix: string;
      /** The run's RAMPART_SECRET_KEY and RAMPART_ENCRYPTION_KEYS, shared by every app like instances of one deployment. */
      secretKey: string;
      encryptionKeys: string;
    };

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through \`npm test\`.`);
  return value;
}

export function testTarget(): TestTarget {
  const kind = process.env.RAMPART_TEST_TARGET ?? 'embedded';
  if (kind === 'embedded') return { kind: 'embedded' };
  if (kind !== 'real') throw new Error(`RAMPART_TEST_TARGET must be embedded or real, not ${kind}`);
  return {
    kind: 'real',
    runId: required('RAMPART_TEST_RUN_ID'),
    databaseUrl: required('RAMPART_TEST_DATABASE_URL'),
    adminDatabaseUrl: required('RAMPART_TEST_ADMIN_DATABASE_URL'),
    redisUrl: required('RAMPART_TEST_REDIS_URL'),
    redisPrefix: required('RAMPART_TEST_REDIS_PREFIX'),
    secretKey: required('RAMPART_TEST_SECRET_KEY'),
    encryptionKeys: required('RAMPART_TEST_ENCRYPTION_KEYS'),
  };
}

/** A key prefix unique to one test, inside the run's prefix, so tests never share counters. */
export function uniquePrefix(target: TestTarget, label: string): string {
  const suffix = `${label}:${crypto.randomUUID()}:`;
  return target.kind === 'real' ? `${target.redisPrefix}${suffix}` : `rampart-test:${suffix}`;
}
