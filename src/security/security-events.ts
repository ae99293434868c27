import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../platform/database-schema.js';

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
  /** Resolves when every write started so far has finished. */
  flush(): Promise<void>;
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

export interface SecurityEventsOptions {
  readonly db: Kysely<DatabaseSchema>;
  readonly logger: FastifyBaseLogger;
}

/** Creates the recorder. Writes are tracked so shutdown can wait for them. */
export function createSecurityEvents({ db, logger }: SecurityEventsOptions): SecurityEvents {
  const pending = new Set<Promise<void>>();
  const record = (event: SecurityEventName, input: SecurityEventInput = {}): void => {
    const severity = SECURITY_EVENTS[event];
    const details = clean(input.details);
    const entry = { event, severity, actor: input.actor ?? null, clientIp: input.clientIp ?? null, requestId: input.requestId ?? null, details };
    const level = severity === 'info' ? 'info' : severity === 'warn' ? 'warn' : 'error';
    logger[level]({ securityEvent: entry }, `security event ${event}`);
    const write = db
      .insertInto('security_events')
      .values({ event, severity, actor: entry.actor, client_ip: entry.clientIp, request_id: entry.requestId, details: JSON.stringify(details) })
      .execute()
      .then(
        () => undefined,
        (err: unknown) => {
          // The log line above already holds the event; losing the row must not fail the request.
          logger.error({ err, event }, 'could not write a security event row');
        },
      );
    pending.add(write);
    void write.finally(() => pending.delete(write));
  };
  return {
    record,
    recordFor(request, event, input = {}) {
      record(event, { ...input, actor: input.actor !== undefined ? input.actor : request.actorId, clientIp: request.ip, requestId: request.id });
    },
    async flush() {
      await Promise.all([...pending]);
    },
  };
}

/** Decorates the instance with `securityEvents` and every request with `actorId`. The app flushes it before closing the database. */
export const securityEventsPlugin = fp<{ db: Kysely<DatabaseSchema> }>(
  (app: FastifyInstance, { db }, done) => {
    const events = createSecurityEvents({ db, logger: app.log });
    app.decorate('securityEvents', events);
    app.decorateRequest('actorId', null);
    done();
  },
  { name: 'rampart-security-events' },
);
