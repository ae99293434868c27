import type { FastifyBaseLogger } from 'fastify';
import type { Mailer } from '../../platform/mailer.js';
import type { AlertFields, AlertsRepository } from './repository.js';
import { SIGNATURE_HEADER, signAlert } from './signature.js';

/** What a webhook receives (JSON), and what a mail describes. */
export interface AlertPayload extends AlertFields {
  readonly firedAt: string;
  readonly details: Readonly<Record<string, unknown>>;
  /** The dashboard listing it. */
  readonly dashboard: string;
}

export interface DeliveryOptions {
  readonly webhook: { readonly url: string; readonly secret: string } | null;
  readonly attempts: number;
  readonly retryBaseMs: number;
  /** The security contact's mail addresses (from its mailto: URIs); empty for none. */
  readonly mailTo: readonly string[];
  readonly mailer: Mailer;
  readonly repository: AlertsRepository;
  readonly logger: FastifyBaseLogger;
  readonly now: () => number;
  /** Where the payload points (`dashboard`), for alerts taken over from another instance. */
  readonly dashboardUrl: string;
  /** Per attempt; the receiver must answer within it (default 5 s). */
  readonly timeoutMs?: number;
}

export interface Delivery {
  /** The time an instance holds a delivery it is attempting, or whose retry it has scheduled. */
  readonly holdMs: number;
  /** Starts delivering a new alert (webhook, then its retries, and mail); returns at once. */
  deliver(payload: AlertPayload): void;
  /**
   * Takes over the webhook deliveries whose instance stopped holding them (it stopped, or lost
   * its database) and attempts them; runs every {@link SWEEP_INTERVAL_MS} and at boot.
   */
  sweep(): Promise<void>;
  /** Settles every delivery in progress, retries included (used by tests and at shutdown). */
  settled(): Promise<void>;
  /** Stops scheduling retries; a delivery still retrying falls due for another instance. */
  close(): Promise<void>;
}

/** How often each instance looks for deliveries that fell due. */
export const SWEEP_INTERVAL_MS = 30_000;
/** Deliveries taken over per sweep (the rest wait for the next). */
const SWEEP_BATCH = 20;
/** A longer back-off is left to the sweeps (a timer cannot wait past 2^31 - 1 ms, and need not). */
const LOCAL_RETRY_LIMIT_MS = 3_600_000;

/** The mail addresses of the mailto: URIs among the security contacts. */
export function contactAddresses(contacts: readonly string[]): string[] {
  return contacts.flatMap((contact) => {
    if (!contact.toLowerCase().startsWith('mailto:')) return [];
    const address = decodeURIComponent(contact.slice('mailto:'.length).split('?')[0] ?? '');
    return /^[^\s@,<>]{1,64}@[^\s@,<>]{1,255}$/.test(address) ? [address] : [];
  });
}

/**
 * Delivers alerts. The webhook URL comes only from configuration (no request can name one), so
 * it is no SSRF vector; each attempt has a timeout, and a redirect is a failure, never followed
 * (a redirect could point the signed payload at another host). Failures are retried with
 * exponential back-off; after the last attempt the alert is dead-lettered. Mail goes to the
 * security contact once per alert.
 *
 * Retries survive the instance: each attempt is claimed in the alert's row (its attempt count)
 * and held until `next_attempt_at`, which a scheduled retry pushes past its back-off. A retry
 * whose instance stopped falls due, and any instance's sweep takes it over. Delivery is at least
 * once: a receiver that remembers alert ids drops a repeat.
 */
export function createDelivery(options: DeliveryOptions): Delivery {
  const { webhook, attempts, retryBaseMs, mailTo, mailer, repository, logger, now, dashboardUrl, timeoutMs = 5_000 } = options;
  // Longer than an attempt can take, so a live instance is never overtaken mid-attempt.
  const holdMs = Math.max(60_000, timeoutMs * 4);
  const inFlight = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  // Read through a call where an await may have passed since the last check.
  const isClosed = (): boolean => closed;

  const track = (work: Promise<void>): void => {
    const tracked = work.catch((err: unknown) => { logger.error({ err }, 'alert delivery failed unexpectedly'); }).finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };
  const after = (ms: number): Date => new Date(now() + ms);

  /** Claims the attempt after `made`, then makes it; another instance that claimed it first makes it instead. */
  async function claimed(payload: AlertPayload, body: string, made: number): Promise<void> {
    if (await repository.claimAttempt(payload.id, made, after(holdMs))) await attempt(payload, body, made + 1);
  }

  async function attempt(payload: AlertPayload, body: string, number: number): Promise<void> {
    if (webhook === null) return;
    let error: string | null = null;
    try {
      const timestamp = Math.floor(now() / 1000);
      const response = await fetch(webhook.url, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'user-agent': 'Rampart-Alerts', [SIGNATURE_HEADER]: signAlert(webhook.secret, body, timestamp) },
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel();
      if (response.status >= 300 && response.status < 400) error = `redirect refused (HTTP ${response.status})`;
      else if (!response.ok) error = `HTTP ${response.status}`;
    } catch (err) {
      // The name and code only: a message could quote the URL, which may carry a token.
      const cause = (err as { cause?: { code?: unknown } }).cause;
      error = err instanceof Error ? `${err.name}${typeof cause?.code === 'string' ? ` (${cause.code})` : ''}` : 'request failed';
    }
    if (error === null) {
      if (!(await repository.markDelivery(payload.id, { state: 'delivered', attempts: number, lastError: null, delivered: true, nextAttemptAt: null }))) {
        logger.warn({ alert: payload.id, attempt: number }, 'alert webhook delivered after another instance took the delivery over');
      }
      return;
    }
    logger.warn({ alert: payload.id, attempt: number, error }, 'alert webhook delivery failed');
    if (number >= attempts) {
      if (await repository.deadLetter(payload.id, number, error, body)) logger.error({ alert: payload.id, attempts: number }, 'alert webhook gave up: the alert is dead-lettered');
      return;
    }
    const backoff = retryBaseMs * 2 ** (number - 1);
    // Not ours any more (taken over meanwhile): the instance holding it retries.
    if (!(await repository.markDelivery(payload.id, { state: 'retrying', attempts: number, lastError: error, delivered: false, nextAttemptAt: after(backoff + holdMs) }))) return;
    if (closed || backoff > LOCAL_RETRY_LIMIT_MS) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      track(claimed(payload, body, number));
    }, backoff);
    // A retry must not keep a finished process alive.
    timer.unref();
    timers.add(timer);
  }

  async function mail(payload: AlertPayload): Promise<void> {
    if (mailTo.length === 0) return;
    let failed = false;
    for (const to of mailTo) {
      try {
        await mailer.send({
          to,
          subject: `[Rampart alert] ${payload.summary}`.replace(/[\p{Cc}]/gu, ' ').slice(0, 200),
          text: [
            payload.summary,
            '',
            `Rule: ${payload.rule}`,
            `Key: ${payload.key}`,
            `Severity: ${payload.severity}`,
            `Events so far: ${payload.count}`,
            `Fired at: ${payload.firedAt}`,
            '',
            `Dashboard: ${payload.dashboard}`,
          ].join('\n'),
        });
      } catch (err) {
        failed = true;
        logger.error({ err, alert: payload.id }, 'could not mail an alert to the security contact');
      }
    }
    await repository.markMail(payload.id, failed ? 'failed' : 'sent');
  }

  async function sweep(): Promise<void> {
    if (webhook === null || closed) return;
    const due = await repository.claimDue(new Date(now()), after(holdMs), SWEEP_BATCH);
    // Closing meanwhile: the claimed rows fall due again after the hold, for another instance.
    if (isClosed()) return;
    for (const alert of due) {
      const payload: AlertPayload = {
        id: alert.id, rule: alert.rule, key: alert.key, severity: alert.severity, summary: alert.summary,
        count: alert.count, firedAt: alert.firedAt.toISOString(), details: alert.details, dashboard: dashboardUrl,
      };
      logger.warn({ alert: alert.id, attempt: alert.attempt }, 'alert webhook delivery taken over: its instance stopped holding it');
      track(attempt(payload, JSON.stringify(payload), alert.attempt));
    }
  }

  return {
    holdMs,
    deliver(payload) {
      const body = JSON.stringify(payload);
      track(claimed(payload, body, 0));
      track(mail(payload));
    },
    sweep() {
      const work = sweep().catch((err: unknown) => { logger.warn({ err }, 'the alert delivery sweep failed; it runs again at the next interval'); });
      track(work);
      return work;
    },
    async settled() {
      // Retries start new work from timers: wait until nothing is in flight or scheduled.
      while (inFlight.size > 0 || timers.size > 0) {
        if (inFlight.size > 0) await Promise.all([...inFlight]);
        else await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all([...inFlight]);
    },
  };
}
