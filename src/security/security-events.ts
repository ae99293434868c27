import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Kysely } from 'kysely';
import { isDatabaseUnavailable } from '../platform/database.js';
import type { KernelSchema } from '../platform/database-schema.js';
import { lockChainTail, type ChainedFields, type ChainKeys } from './security-event-chain.js';

/**
 * Rampart's security event vocabulary, named after the OWASP Logging Vocabulary, with the
 * severity each is recorded at. Later capabilities add their events here, so that every
 * event name in the table and the logs comes from this one list.
 */
export const SECURITY_EVENTS = {
  authn_login_success: 'info',
  authn_login_fail: 'warn',
  authn_login_fail_max: 'critical',
  authn_login_lock: 'warn',
  authn_password_change: 'info',
  authn_password_change_fail: 'warn',
  authn_token_created: 'info',
  authn_token_revoked: 'info',
  authn_token_reuse: 'critical',
  authn_token_invalid: 'warn',
  authn_passkey_counter_regression: 'critical',
  authn_mfa_enrolled: 'info',
  authn_mfa_disabled: 'warn',
  authn_mfa_success: 'info',
  authn_mfa_fail: 'warn',
  authn_mfa_recovery_code_used: 'warn',
  authn_mfa_recovery_codes_renewed: 'info',
  authn_step_up_granted: 'info',
  authn_step_up_fail: 'warn',
  authn_step_up_required: 'info',
  authz_fail: 'warn',
  authz_admin: 'info',
  session_created: 'info',
  session_renewed: 'info',
  session_expired: 'info',
  session_use_after_expire: 'warn',
  session_token_invalid: 'warn',
  excess_rate_limit_exceeded: 'warn',
  input_validation_fail: 'warn',
  malicious_csrf: 'error',
  malicious_csp_violation: 'warn',
  malicious_host_header: 'warn',
  crypt_decrypt_fail: 'error',
  privilege_permissions_changed: 'warn',
  user_created: 'info',
  user_updated: 'info',
  user_deleted: 'warn',
  sys_startup: 'info',
  sys_shutdown: 'info',
  sys_crash: 'critical',
  sys_monitor_disabled: 'warn',
} as const satisfies Record<string, Severity>;

export type Severity = 'info' | 'warn' | 'error' | 'critical';
export type SecurityEventName = keyof typeof SECURITY_EVENTS;
export type DetailValue = string | number | boolean | null | readonly string[];

export interface SecurityEventInput {
  /** Who acted: a user id, or null for an anonymous client. Never an email, name or token. */
  readonly actor?: string | null;
  readonly clientIp?: string | null;
  readonly requestId?: string | null;
  readonly details?: Readonly<Record<string, DetailValue>>;
}

export interface SecurityEvents {
  /** Writes the event to the log at once and to the security_events table in the background. */
  record(event: SecurityEventName, input?: SecurityEventInput): void;
  /** The same, filling in the request's client IP, request id and (when known) actor. */
  recordFor(request: FastifyRequest, event: SecurityEventName, input?: Omit<SecurityEventInput, 'clientIp' | 'requestId'>): void;
  /**
   * Writes every row recorded so far, retrying at once any held back by a database outage;
   * resolves when they are written, or when the database still does not answer (the rows stay
   * buffered for the next retry).
   */
  flush(): Promise<void>;
  /** Rows waiting for the database, and rows given up on since start (buffer full, a row the database refused, or unwritten at shutdown). */
  stats(): { readonly buffered: number; readonly dropped: number };
  /**
   * Calls `listener` synchronously with every event recorded from now on, whatever its name and
   * whether or not its row is coalesced (alert rules count them). A listener must not block;
   * what it throws is logged. Returns the function that removes it.
   */
  observe(listener: (event: ObservedEvent) => void): () => void;
  /** Flushes once more, stops retrying, and counts and logs what is still unwritten. */
  close(): Promise<void>;
  /**
   * Calls `listener` with every `event` recorded from now on, after its log line: how a module
   * reacts to what the kernel records (a lock mails the account's owner) without the kernel
   * knowing the module. A listener must not block; what it throws is logged, never raised.
   */
  subscribe(event: SecurityEventName, listener: (entry: RecordedSecurityEvent) => void): void;
  /** The latest `limit` rows whose actor is `actor`, newest first (a user's data export). */
  about(actor: string, limit: number): Promise<RecordedSecurityEvent[]>;
}

/** An event as recorded. */
export interface RecordedSecurityEvent {
  readonly event: string;
  readonly severity: string;
  readonly actor: string | null;
  readonly clientIp: string | null;
  readonly requestId: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  /** Set on rows read back from the table. */
  readonly occurredAt?: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    securityEvents: SecurityEvents;
  }
  interface FastifyRequest {
    /** The authenticated user's id, once an authentication step has set it. */
    actorId: string | null;
  }
}

// A detail key that looks like it holds a credential is dropped, whatever its caller meant.
const SECRET_KEY = /pass|token|secret|cookie|authori[sz]ation|session|credential|api[-_]?key|email/i;
const MAX_DETAILS = 20;
const MAX_STRING = 256;

function clean(details: Readonly<Record<string, DetailValue>> | undefined): Record<string, DetailValue> {
  const out: Record<string, DetailValue> = {};
  if (details === undefined) return out;
  for (const [key, value] of Object.entries(details).slice(0, MAX_DETAILS)) {
    if (SECRET_KEY.test(key) && !key.endsWith('_hash') && !key.endsWith('_index')) continue;
    if (typeof value === 'string') out[key] = value.slice(0, MAX_STRING);
    else if (Array.isArray(value)) out[key] = (value as readonly string[]).slice(0, MAX_DETAILS).map((v) => v.slice(0, MAX_STRING));
    else out[key] = value;
  }
  return out;
}

/** An event as observers see it, right after it is recorded. */
export interface ObservedEvent {
  readonly event: SecurityEventName;
  readonly severity: Severity;
  readonly actor: string | null;
  readonly clientIp: string | null;
  readonly details: Readonly<Record<string, DetailValue>>;
  /** Milliseconds since the epoch, on the recorder's clock. */
  readonly at: number;
}

/**
 * Identical events (same name, actor, client IP and details) within one window are written as
 * the first `rowsPerWindow` rows, then counted: when the window closes (or at the next flush)
 * one more row, a summary with `coalesced: true` and the `count` it stands for, is appended.
 * Rows are never updated, so a flood costs a bounded number of rows and the total stays exact.
 */
export interface CoalescingOptions {
  readonly windowMs: number;
  readonly rowsPerWindow: number;
  /** Distinct events tracked at once (default 10 000); past it, new kinds are written without coalescing. */
  readonly maxTracked?: number;
}

export interface SecurityEventsOptions {
  readonly db: Kysely<KernelSchema>;
  /** The audit chain's MAC keys (`createChainKeys(keyring)`): every row is linked to the one before it. */
  readonly chain: ChainKeys;
  readonly logger: FastifyBaseLogger;
  /** Coalescing of repeated identical events; off when absent. */
  readonly coalescing?: CoalescingOptions;
  /** The clock windows are measured on (default `Date.now`). */
  readonly now?: () => number;
  /** Rows held while the database is unreachable (default 10 000); past it new rows are dropped and counted. */
  readonly bufferLimit?: number;
  /** First wait before retrying a held-back write (default 1 s); it doubles up to 30 s. */
  readonly retryDelayMs?: number;
  /** Told of every event recorded (metrics count them by name and severity). */
  readonly onRecord?: (event: SecurityEventName, severity: Severity) => void;
}

/** A row waiting for the database: the fields its chain MAC covers, and the client IP it does not. */
interface QueuedEvent {
  readonly fields: ChainedFields;
  readonly clientIp: string | null;
}

interface CoalescingWindow {
  readonly event: string;
  readonly severity: string;
  readonly actor: string | null;
  readonly clientIp: string | null;
  readonly details: Readonly<Record<string, unknown>>;
  readonly start: number;
  written: number;
  suppressed: number;
}

const BATCH = 100;
const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Creates the recorder. Rows go to the table in order through one writer, in batches. A
 * transient database error (a restart, a failover, a lost connection) holds them in a
 * bounded buffer and retries with back-off, so a blip loses no event; a full buffer drops the
 * newest rows and counts them. The log line, written first, always holds every event.
 */
export function createSecurityEvents({ db, chain, logger, bufferLimit = 10_000, retryDelayMs = 1_000, coalescing, now = Date.now, onRecord }: SecurityEventsOptions): SecurityEvents {
  if (!Number.isInteger(bufferLimit) || bufferLimit < 1) throw new TypeError('bufferLimit must be a positive integer');
  if (!Number.isInteger(retryDelayMs) || retryDelayMs < 1) throw new TypeError('retryDelayMs must be a positive integer');
  if (coalescing !== undefined && (!Number.isInteger(coalescing.windowMs) || coalescing.windowMs < 1 || !Number.isInteger(coalescing.rowsPerWindow) || coalescing.rowsPerWindow < 1)) {
    throw new TypeError('coalescing.windowMs and coalescing.rowsPerWindow must be positive integers');
  }
  const observers = new Set<(event: ObservedEvent) => void>();
  const windows = new Map<string, CoalescingWindow>();
  const maxTracked = coalescing?.maxTracked ?? 10_000;
  let sweepTimer: NodeJS.Timeout | null = null;
  const queue: QueuedEvent[] = [];
  let dropped = 0;
  let writing: Promise<void> | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let delay = retryDelayMs;
  let closed = false;
  const listeners = new Map<string, ((entry: RecordedSecurityEvent) => void)[]>();

  const drop = (count: number, reason: string, event?: string): void => {
    dropped += count;
    logger.error({ event, count, dropped }, `security event rows dropped (${reason}); their log lines still hold the events`);
  };

  const scheduleRetry = (err: unknown): void => {
    logger.warn({ err, buffered: queue.length, retryInMs: delay }, 'the database is unavailable: security event rows are held until it answers');
    retryTimer = setTimeout(() => {
      retryTimer = null;
      void startWriting();
    }, delay);
    // A pending retry must not keep a finished process alive; close() counts what is left.
    retryTimer.unref();
    delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
  };

  // One transaction per batch, not per event: the chain lock serializes every instance's writers
  // around "read the tail MAC, insert the rows linked after it", so the chain stays one line.
  const insert = (batch: readonly QueuedEvent[]) => db.transaction().execute(async (trx) => {
    let prev = await lockChainTail(trx);
    const rows = batch.map(({ fields, clientIp }) => {
      const mac = chain.mac(prev, fields);
      const row = {
        occurred_at: fields.occurredAt, event: fields.event, severity: fields.severity, actor: fields.actor, client_ip: clientIp,
        request_id: fields.requestId, details: JSON.stringify(fields.details), chain_prev: prev, chain_mac: mac,
      };
      prev = mac;
      return row;
    });
    await trx.insertInto('security_events').values(rows).execute();
  });

  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue.slice(0, BATCH);
      try {
        await insert(batch);
        queue.splice(0, batch.length);
        delay = retryDelayMs;
      } catch (err) {
        if (isDatabaseUnavailable(err)) {
          if (!closed) scheduleRetry(err);
          return;
        }
        // A refused batch: write its rows one by one so one bad row costs only itself.
        queue.splice(0, batch.length);
        for (const row of batch) {
          try {
            await insert([row]);
          } catch (rowErr) {
            logger.error({ err: rowErr, event: row.fields.event }, 'could not write a security event row');
            drop(1, 'the database refused the row', row.fields.event);
          }
        }
      }
    }
  };

  function startWriting(): Promise<void> {
    writing ??= drain().finally(() => {
      writing = null;
      // A row recorded while the last batch was finishing must not wait for the next event.
      if (queue.length > 0 && retryTimer === null && !closed) void startWriting();
    });
    return writing;
  }

  const enqueue = (row: QueuedEvent): void => {
    if (queue.length >= bufferLimit) {
      drop(1, `the buffer of ${bufferLimit} rows waiting for the database is full`, row.fields.event);
      return;
    }
    queue.push(row);
    // While a retry is pending, the row waits behind the held ones, keeping the table in order.
    if (retryTimer === null) void startWriting();
  };

  // The summary row of a window that held back rows: same event, actor and IP, with the count.
  const closeWindow = (key: string, window: CoalescingWindow): void => {
    windows.delete(key);
    if (window.suppressed === 0) return;
    const details = { ...window.details, coalesced: true, count: window.suppressed, window_start: new Date(window.start).toISOString(), window_end: new Date(now()).toISOString() };
    enqueue({ fields: { occurredAt: new Date(), event: window.event, severity: window.severity, actor: window.actor, requestId: null, details }, clientIp: window.clientIp });
  };

  const closeWindows = (all: boolean): void => {
    const at = now();
    for (const [key, window] of windows) if (all || at - window.start >= (coalescing?.windowMs ?? 0)) closeWindow(key, window);
    if (windows.size === 0 && sweepTimer !== null) {
      clearInterval(sweepTimer);
      sweepTimer = null;
    }
  };

  /** Whether the row is held back (counted in its window) rather than written. */
  const coalesced = ({ fields, clientIp }: QueuedEvent): boolean => {
    if (coalescing === undefined) return false;
    const key = JSON.stringify([fields.event, fields.actor, clientIp, fields.details]);
    const at = now();
    let window = windows.get(key);
    if (window !== undefined && at - window.start >= coalescing.windowMs) {
      closeWindow(key, window);
      window = undefined;
    }
    if (window === undefined) {
      // Bounded: past the cap a new kind of event is simply written, never held in memory.
      if (windows.size >= maxTracked) return false;
      windows.set(key, { event: fields.event, severity: fields.severity, actor: fields.actor, clientIp, details: fields.details, start: at, written: 1, suppressed: 0 });
      if (sweepTimer === null && !closed) {
        sweepTimer = setInterval(() => { closeWindows(false); }, coalescing.windowMs);
        // Closing windows must not keep a finished process alive; flush and close write what is left.
        sweepTimer.unref();
      }
      return false;
    }
    if (window.written < coalescing.rowsPerWindow) {
      window.written += 1;
      return false;
    }
    window.suppressed += 1;
    return true;
  };

  const record = (event: SecurityEventName, input: SecurityEventInput = {}): void => {
    const severity = SECURITY_EVENTS[event];
    const details = clean(input.details);
    const entry = { event, severity, actor: input.actor ?? null, clientIp: input.clientIp ?? null, requestId: input.requestId ?? null, details };
    const level = severity === 'info' ? 'info' : severity === 'warn' ? 'warn' : 'error';
    logger[level]({ securityEvent: entry }, `security event ${event}`);
    onRecord?.(event, severity);
    for (const listener of listeners.get(event) ?? []) {
      try {
        listener(Object.freeze({ ...entry, details: Object.freeze({ ...details }) }));
      } catch (err) {
        logger.error({ err, event }, 'a security event listener failed');
      }
    }
    if (observers.size > 0) {
      const observed: ObservedEvent = { event, severity, actor: entry.actor, clientIp: entry.clientIp, details, at: now() };
      for (const observer of observers) {
        try {
          observer(observed);
        } catch (err) {
          logger.error({ err, event }, 'a security event observer failed');
        }
      }
    }
    // The time is taken here, not by the database: the chain MAC covers it.
    const row: QueuedEvent = { fields: { occurredAt: new Date(), event, severity, actor: entry.actor, requestId: entry.requestId, details }, clientIp: entry.clientIp };
    if (coalesced(row)) return;
    enqueue(row);
  };

  const flush = async (): Promise<void> => {
    // Open windows write their summary rows now, so a flush leaves no event uncounted.
    closeWindows(true);
    // An attempt begun before this call may fail on a connection that has since come back:
    // wait for it, then try once more from here.
    if (writing !== null) await writing;
    if (retryTimer !== null) {
      clearTimeout(retryTimer);
      retryTimer = null;
    }
    // A failed attempt sets a new retry timer, which ends the loop (read through a function: the writer changes it).
    const retryPending = () => retryTimer !== null;
    while (writing !== null || (queue.length > 0 && !retryPending())) await startWriting();
  };

  return {
    record,
    recordFor(request, event, input = {}) {
      record(event, { ...input, actor: input.actor !== undefined ? input.actor : request.actorId, clientIp: request.ip, requestId: request.id });
    },
    flush,
    stats: () => ({ buffered: queue.length, dropped }),
    observe(listener) {
      observers.add(listener);
      return () => observers.delete(listener);
    },
    subscribe(event, listener) {
      if (!Object.hasOwn(SECURITY_EVENTS, event)) throw new TypeError(`unknown security event "${event}"`);
      listeners.set(event, [...(listeners.get(event) ?? []), listener]);
    },
    async about(actor, limit) {
      await flush();
      const rows = await db.selectFrom('security_events').select(['event', 'severity', 'actor', 'client_ip', 'request_id', 'details', 'occurred_at'])
        .where('actor', '=', actor).orderBy('id', 'desc').limit(limit).execute();
      return rows.map((row) => ({
        event: row.event, severity: row.severity, actor: row.actor, clientIp: row.client_ip, requestId: row.request_id,
        details: (typeof row.details === 'string' ? JSON.parse(row.details) : row.details) as Record<string, unknown>, occurredAt: row.occurred_at.toISOString(),
      }));
    },
    async close() {
      closed = true;
      if (sweepTimer !== null) clearInterval(sweepTimer);
      sweepTimer = null;
      // Closed, a failed attempt schedules no retry: what flush could not write is counted here.
      await flush();
      if (queue.length > 0) {
        const unwritten = queue.length;
        queue.length = 0;
        drop(unwritten, 'the database did not answer before shutdown');
      }
    },
  };
}

/** Decorates the instance with `securityEvents` and every request with `actorId`. The app flushes it before closing the database. */
export const securityEventsPlugin = fp<{ db: Kysely<KernelSchema>; chain: ChainKeys; coalescing?: CoalescingOptions; now?: () => number }>(
  (app: FastifyInstance, { db, chain, coalescing, now }, done) => {
    const metrics = app.hasDecorator('metrics') ? app.metrics : null;
    const events = createSecurityEvents({
      db, chain, logger: app.log,
      ...(coalescing === undefined ? {} : { coalescing }),
      ...(now === undefined ? {} : { now }),
      ...(metrics === null ? {} : { onRecord: (event, severity) => { metrics.observeSecurityEvent(event, severity); } }),
    });
    app.decorate('securityEvents', events);
    app.decorateRequest('actorId', null);
    done();
  },
  { name: 'rampart-security-events' },
);
