/**
 * What a server process (`bench/server-child.ts`) tells the bench when it is ready, as one
 * `READY <json>` line on stdout: where it listens and the exact requests each scenario sends.
 */

/** The scenarios of the request-path matrix, in the order they run. */
export const MATRIX_SCENARIOS = ['api-status', 'me-cookie', 'me-bearer', 'home', 'post-page', 'posts-list', 'post-create'] as const;
export type MatrixScenario = (typeof MATRIX_SCENARIOS)[number];

/** `nometrics`: Rampart with metrics collection off (`--metrics-off`), to price the metrics in the same run. */
export type ServerKind = 'bare' | 'stack' | 'rampart' | 'nometrics';

/** One request as plain data; with several header sets the load generator rotates through them, one per request. */
export interface RequestSpec {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** At least one; more than one is rotated (e.g. one session per writer, so no per-user limit trips). */
  readonly headers: readonly Readonly<Record<string, string>>[];
  readonly body?: string;
  /** The status every answer must have. */
  readonly status: number;
}

export interface ReadyMessage {
  readonly port: number;
  /** Scenarios this server serves; a missing one is reported n/a (e.g. the plugin stack has no bearer tokens). */
  readonly requests: Partial<Record<MatrixScenario, RequestSpec>>;
  /** What is on and how it is configured, printed once. */
  readonly notes: readonly string[];
}

/** The page bodies the baselines send, captured from Rampart, with its nonce replaced by this marker. */
export const NONCE_MARKER = '__BENCH_NONCE__';
export interface PageTemplates {
  readonly home: string;
  readonly post: string;
}

/** How a server process is set up; passed as JSON in `BENCH_SERVER_OPTIONS`. */
export interface ServerOptions {
  readonly kind: ServerKind;
  /** PostgreSQL to migrate and use; null for embedded PGlite in memory. */
  readonly databaseUrl: string | null;
  /** Redis; null for each server's in-memory twin (Rampart's memory store, the stack's MemoryStore and local rate limit). */
  readonly redisUrl: string | null;
  /** Every Redis key of this server starts with it; all are deleted on close. */
  readonly redisPrefix: string;
  /** Rampart: sessions for `POST /api/posts`, enough for the per-user write limit (120 per 10 min) over the whole run. */
  readonly writers: number;
  /** Baselines: the page bodies to send (captured from Rampart). */
  readonly pages: PageTemplates | null;
}
