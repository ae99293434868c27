import type { CounterDelta, CounterState, StateStore } from '../platform/store.js';

export interface RequestBudgetOptions {
  /** The store shared by every instance; `null` for one process, where the local counts are exact. */
  readonly store: StateStore | null;
  /** Names the counters inside the store's prefix (`rl:global`). */
  readonly keyPrefix: string;
  /** Requests one key may make per window, across every instance. */
  readonly points: number;
  readonly windowSeconds: number;
  /**
   * Requests per key an instance may admit between two synchronisations with the store (the
   * batch, B). 0 makes every request a store round trip, which is exact.
   */
  readonly batch: number;
  /** How often the counts admitted locally are added to the shared counters. */
  readonly syncIntervalMs: number;
  /** Keys tracked locally at most; past it, a new key drops the oldest idle counter. Default 100 000. */
  readonly maxKeys?: number;
  /** The clock, injectable so tests can end a window without sleeping. Default `Date.now`. */
  readonly now?: () => number;
  /** Called once per outage when the store cannot be reached and the budget is enforced per process. */
  readonly onFallback?: (err: unknown) => void;
}

/** What one request got. */
export interface BudgetDecision {
  readonly allowed: boolean;
  /** Requests left in the window as far as this instance knows. */
  readonly remaining: number;
  readonly msBeforeNext: number;
  /** The first refusal this instance made for the key in this window (recorded once, not per request). */
  readonly firstRefusal: boolean;
}

interface Counter {
  /** The shared count at the last answered synchronisation (it includes what this instance sent). */
  known: number;
  /** An answer from the store has arrived for this counter: until then nothing is admitted locally. */
  synced: boolean;
  /** Admitted here and not sent yet. */
  pending: number;
  /** Sent in the key's one unanswered synchronisation (admitted requests and waiting ones). */
  inFlight: number;
  /** A synchronisation of this key is unanswered; the next one waits for it. */
  flight: boolean;
  /** Requests past the batch, sent with the key's next synchronisation and decided on the store's count. */
  waiters: ((decision: BudgetDecision) => void)[];
  resetAt: number;
  reported: boolean;
}

const DEFAULT_MAX_KEYS = 100_000;
// How many of the oldest counters a new key may look at to find one to drop: constant work per request.
const EVICTION_ATTEMPTS = 8;
const SYNC_CHUNK = 1024;

/** The batch for a budget: 1/50 of it (2 %), and 0 (exact) for budgets below 50. */
export function defaultBatch(points: number): number {
  return Math.floor(points / 50);
}

/**
 * A fixed-window request budget per key, shared by every instance through the store, counted
 * locally and synchronised in batches so that an admitted request costs no round trip.
 *
 * An instance admits a request locally only when (a) the shared count at its last *answered*
 * synchronisation plus what it admitted or sent since is below `points`, and (b) fewer than
 * `batch` requests of that key were admitted or sent since that answer (pending plus
 * unanswered). Past the batch, a request waits for the key's next synchronisation (at most one
 * per key is in flight) and is decided by its position in the store's atomic count: admitted
 * if at most `points`. A key this instance has never synchronised admits nothing locally: its
 * first request is decided by the store, so a counter used up on other instances is refused
 * here at once. A timer sends every key's pending count each `syncIntervalMs`, in one round trip.
 *
 * Overshoot bound: the store's count gives every request that reaches it a position, and a
 * request decided by the store is admitted only at a position up to `points`. A request
 * admitted past `points` was admitted locally on a stale count, before its instance received
 * an answer counted after the shared count reached `points`; until that answer, (b) holds what
 * the instance has unanswered to `batch` requests, and the one holding position `points`, if it
 * is this instance's, is among them. So with N instances a key is admitted at most
 * `points + N × batch − 1` times per window (batch ≥ 1), and exactly `points` times on a single
 * instance or with `batch` 0 (every request decided by the store). A counter dropped from the
 * map keeps the bound: only idle ones are dropped, and the key's next counter starts unsynced.
 * The bound holds while the store answers; during an outage each instance enforces `points`.
 *
 * Without a store (`store: null`, one process) the counts are local and exact. While the store
 * is unreachable the budget is enforced per process from the local counts (like
 * rate-limiter-flexible's insurance limiter) and what was admitted is sent on recovery.
 *
 * At most `maxKeys` counters are kept: a new key past it drops the oldest idle counter (its key
 * starts again from the store's count), looking at a constant number of counters; expired
 * counters are swept from the oldest by the timer, stopping at the first live one.
 */
export class RequestBudget {
  readonly #store: StateStore | null;
  readonly #prefix: string;
  readonly #points: number;
  readonly #windowMs: number;
  readonly #batch: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #onFallback: (err: unknown) => void;
  // Insertion order is creation order: the oldest counters, first to expire, are at the head.
  readonly #counters = new Map<string, Counter>();
  /** The counters with a pending count, so the timer sends them without walking every counter. */
  #dirty = new Map<string, Counter>();
  readonly #timer: ReturnType<typeof setInterval>;
  #degraded = false;
  #syncing: Promise<void> | null = null;
  #examined = 0;

  constructor(options: RequestBudgetOptions) {
    const { points, windowSeconds, batch, syncIntervalMs } = options;
    if (!Number.isSafeInteger(points) || points < 1) throw new TypeError('request budget: points must be a positive integer');
    if (!Number.isSafeInteger(windowSeconds) || windowSeconds < 1) throw new TypeError('request budget: windowSeconds must be a positive integer');
    if (!Number.isSafeInteger(batch) || batch < 0 || batch > points) throw new TypeError('request budget: batch must be an integer from 0 to points');
    if (!Number.isSafeInteger(syncIntervalMs) || syncIntervalMs < 1 || syncIntervalMs > windowSeconds * 1000) throw new TypeError('request budget: syncIntervalMs must be a positive integer no longer than the window');
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new TypeError('request budget: maxKeys must be a positive integer');
    this.#store = options.store;
    this.#prefix = options.keyPrefix;
    this.#points = points;
    this.#windowMs = windowSeconds * 1000;
    this.#batch = batch;
    this.#maxKeys = maxKeys;
    this.#now = options.now ?? Date.now;
    this.#onFallback = options.onFallback ?? (() => undefined);
    this.#timer = setInterval(() => {
      void this.sync();
    }, syncIntervalMs);
    this.#timer.unref();
  }

  /**
   * Counters looked at by sweeps and evictions since creation: the work the map costs, which
   * stays constant per request however many keys are tracked (read by tests and metrics).
   */
  get examined(): number {
    return this.#examined;
  }

  /** Decides one request for `key`: synchronously when the local counts suffice, else after the key's next round trip. */
  consume(key: string): BudgetDecision | Promise<BudgetDecision> {
    const now = this.#now();
    let counter = this.#counters.get(key);
    if (counter !== undefined && counter.resetAt <= now && isIdle(counter, true)) {
      this.#counters.delete(key);
      counter = undefined;
    }
    if (counter === undefined) {
      if (this.#counters.size >= this.#maxKeys && !this.#evictOldest()) return this.#countInStore(key, now);
      counter = { known: 0, synced: this.#store === null, pending: 0, inFlight: 0, flight: false, waiters: [], resetAt: now + this.#windowMs, reported: false };
      this.#counters.set(key, counter);
    }
    const used = counter.known + counter.pending + counter.inFlight;
    // A waiting request's position is past everything counted before it: past the budget, it is refused here.
    if (used + counter.waiters.length >= this.#points) return this.#refuse(counter, now);
    if (this.#store === null || this.#degraded || (counter.synced && counter.pending + counter.inFlight < this.#batch)) {
      this.#addPending(key, counter, 1);
      return { allowed: true, remaining: this.#points - used - 1, msBeforeNext: counter.resetAt - now, firstRefusal: false };
    }
    const waiting = counter;
    return new Promise((resolve) => {
      waiting.waiters.push(resolve);
      if (!waiting.flight) this.#flush(key, waiting);
    });
  }

  /** Sends every key's pending count in one round trip and sweeps expired counters. Resolves (never rejects) when done. */
  sync(): Promise<void> {
    this.#syncing ??= this.#syncAll().finally(() => {
      this.#syncing = null;
    });
    return this.#syncing;
  }

  /** Stops the timer and sends what is pending. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.sync();
  }

  #refuse(counter: Counter, now: number): BudgetDecision {
    const firstRefusal = !counter.reported;
    counter.reported = true;
    return { allowed: false, remaining: 0, msBeforeNext: Math.max(0, counter.resetAt - now), firstRefusal };
  }

  /** Sends the key's pending count and its waiting requests: the key's one synchronisation in flight. */
  #flush(key: string, counter: Counter): void {
    const store = this.#store;
    if (store === null) return;
    const now = this.#now();
    const used = counter.known + counter.pending + counter.inFlight;
    const queued = counter.waiters;
    counter.waiters = [];
    // Waiters whose position cannot be within the budget are refused without a round trip.
    const room = Math.max(0, this.#points - used);
    const waiters = queued.slice(0, room);
    for (const resolve of queued.slice(room)) resolve(this.#refuse(counter, now));
    const by = counter.pending + waiters.length;
    if (by === 0) return;
    counter.pending = 0;
    counter.inFlight += by;
    counter.flight = true;
    store.incrementMany([{ key: this.#prefix + key, by }], { ttlMs: this.#windowMs }).then(
      ([state]) => {
        this.#answered(key, counter, by, state);
        const at = this.#now();
        const count = state?.count ?? Number.MAX_SAFE_INTEGER;
        // The waiters were added last, in order: the first of them holds position count − n + 1.
        waiters.forEach((resolve, i) => {
          const position = count - waiters.length + 1 + i;
          resolve(position <= this.#points ? { allowed: true, remaining: this.#points - position, msBeforeNext: counter.resetAt - at, firstRefusal: false } : this.#refuse(counter, at));
        });
      },
      (err: unknown) => {
        this.#failed(key, counter, by - waiters.length, err);
        counter.inFlight -= waiters.length;
        for (const resolve of waiters) resolve(this.#decideLocally(key, counter));
      },
    );
  }

  /** The store answered a synchronisation of `counter`: record the count, then send what waited for it. */
  #answered(key: string, counter: Counter, by: number, state: CounterState | undefined): void {
    this.#recovered();
    counter.flight = false;
    counter.inFlight -= by;
    counter.synced = true;
    this.#apply(counter, state?.count ?? Number.MAX_SAFE_INTEGER, state?.ttlMs ?? this.#windowMs, this.#now());
    if (counter.waiters.length > 0) this.#flush(key, counter);
  }

  /** The store failed: what was admitted goes back to pending, and waiting requests are decided per process. */
  #failed(key: string, counter: Counter, admitted: number, err: unknown): void {
    this.#fellBack(err);
    counter.flight = false;
    counter.inFlight -= admitted;
    this.#addPending(key, counter, admitted);
    const queued = counter.waiters;
    counter.waiters = [];
    for (const resolve of queued) resolve(this.#decideLocally(key, counter));
  }

  #addPending(key: string, counter: Counter, by: number): void {
    if (by === 0) return;
    if (counter.pending === 0 && this.#store !== null) this.#dirty.set(key, counter);
    counter.pending += by;
  }

  /** The insurance decision while the store is unreachable: the local counts alone. */
  #decideLocally(key: string, counter: Counter): BudgetDecision {
    const now = this.#now();
    const used = counter.known + counter.pending + counter.inFlight;
    if (used >= this.#points) return this.#refuse(counter, now);
    this.#addPending(key, counter, 1);
    return { allowed: true, remaining: this.#points - used - 1, msBeforeNext: counter.resetAt - now, firstRefusal: false };
  }

  /**
   * Makes room for a new counter by dropping one of the oldest: expired ones, idle ones (nothing
   * pending, nothing unanswered: the store holds all they counted), or any one when counts are
   * local or the store is down. A busy one is moved to the back. `false` when none could go.
   */
  #evictOldest(): boolean {
    const now = this.#now();
    const anyCounter = this.#store === null || this.#degraded;
    for (let attempt = 0; attempt < EVICTION_ATTEMPTS; attempt += 1) {
      const oldest = this.#counters.entries().next();
      if (oldest.done === true) return true;
      const [key, counter] = oldest.value;
      this.#examined += 1;
      this.#counters.delete(key);
      if (anyCounter || isIdle(counter, counter.resetAt <= now)) return true;
      this.#counters.set(key, counter);
    }
    return false;
  }

  /** Drops expired counters from the oldest, stopping at the first one still in use. */
  #sweep(now: number): void {
    for (const [key, counter] of this.#counters) {
      this.#examined += 1;
      if (counter.resetAt > now || !isIdle(counter, true)) return;
      this.#counters.delete(key);
    }
  }

  /** No room for another local counter: this request is counted in the store directly (exact, one round trip). */
  async #countInStore(key: string, now: number): Promise<BudgetDecision> {
    if (this.#store === null) return { allowed: false, remaining: 0, msBeforeNext: this.#windowMs, firstRefusal: false };
    try {
      const [state] = await this.#store.incrementMany([{ key: this.#prefix + key, by: 1 }], { ttlMs: this.#windowMs });
      this.#recovered();
      const count = state?.count ?? Number.MAX_SAFE_INTEGER;
      const msBeforeNext = state?.ttlMs ?? this.#windowMs;
      return count > this.#points
        ? { allowed: false, remaining: 0, msBeforeNext, firstRefusal: count === this.#points + 1 }
        : { allowed: true, remaining: this.#points - count, msBeforeNext, firstRefusal: false };
    } catch (err) {
      // Every local counter is busy and the store is down: refuse rather than admit uncounted.
      this.#fellBack(err);
      return { allowed: false, remaining: 0, msBeforeNext: this.#windowMs - (this.#now() - now), firstRefusal: false };
    }
  }

  async #syncAll(): Promise<void> {
    this.#sweep(this.#now());
    const store = this.#store;
    if (store === null) return;
    const sent: { key: string; counter: Counter; by: number }[] = [];
    const dirty = this.#dirty;
    this.#dirty = new Map();
    for (const [key, counter] of dirty) {
      // A dropped counter's window is over: its pending count belongs to no live window.
      if (counter.pending === 0 || this.#counters.get(key) !== counter) continue;
      // A key with a synchronisation in flight sends its pending count with the next tick.
      if (counter.flight) {
        this.#dirty.set(key, counter);
        continue;
      }
      sent.push({ key, counter, by: counter.pending });
      counter.inFlight += counter.pending;
      counter.pending = 0;
      counter.flight = true;
    }
    for (let start = 0; start < sent.length; start += SYNC_CHUNK) {
      const chunk = sent.slice(start, start + SYNC_CHUNK);
      const deltas: CounterDelta[] = chunk.map(({ key, by }) => ({ key: this.#prefix + key, by }));
      try {
        const states = await store.incrementMany(deltas, { ttlMs: this.#windowMs });
        chunk.forEach(({ key, counter, by }, i) => {
          this.#answered(key, counter, by, states[i]);
        });
      } catch (err) {
        for (const { key, counter, by } of chunk) this.#failed(key, counter, by, err);
      }
    }
  }

  #apply(counter: Counter, count: number, ttlMs: number, now: number): void {
    const resetAt = now + ttlMs;
    // A counter the store started afresh (its window ended) replaces the old window's count.
    if (resetAt > counter.resetAt + 1000 || count >= counter.known) counter.known = count;
    counter.resetAt = resetAt;
  }

  #fellBack(err: unknown): void {
    if (this.#degraded) return;
    this.#degraded = true;
    this.#onFallback(err);
  }

  #recovered(): void {
    this.#degraded = false;
  }
}

/** Nothing waits on the counter and the store holds everything it admitted (pending is ignored once its window is over). */
function isIdle(counter: Counter, expired: boolean): boolean {
  return !counter.flight && counter.waiters.length === 0 && (expired || counter.pending === 0);
}
