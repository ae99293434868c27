import { RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { STORE_ERR_FULL, STORE_ERR_UNAVAILABLE, STORE_ERR_WRONG_TYPE } from './errors.js';
import {
  MAX_TTL_MS,
  checkDeltas,
  checkKey,
  checkKeys,
  checkMember,
  checkRateLimiterSpec,
  checkTtl,
  checkValue,
  isPositiveInteger,
  type CounterDelta,
  type CounterState,
  type RateLimiterSpec,
  type StateStore,
  type StoreLogger,
  type TtlOption,
} from './store.js';

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Hard cap on what the store holds, counted in units: a value or counter is one unit, a set
   * is one unit per member. Default 100 000.
   */
  readonly maxEntries?: number;
  /** Longest TTL a write may ask for. Default 31 days. */
  readonly maxTtlMs?: number;
  /** The clock, injectable so tests let time pass without sleeping. Default `Date.now`. */
  readonly now?: () => number;
  /** Receives the eviction warnings. */
  readonly logger?: StoreLogger;
  /**
   * Which keys may be evicted to make room. Default: every key. Security state (brute-force
   * counters, blocks, sessions, revocations) must not be evictable, or whoever can create
   * entries cheaply could push a block out by filling the store; when only such keys are left,
   * a write rejects with `STORE_ERR_FULL` instead (fail closed).
   */
  readonly evictable?: (key: string) => boolean;
}

const DEFAULT_MAX_ENTRIES = 100_000;
const SWEEP_INTERVAL_MS = 30_000;
// A store that stays full would otherwise warn on every write.
const EVICTION_WARNING_INTERVAL_MS = 60_000;
// The integers Redis INCR accepts, restricted to what a JS number holds exactly.
const INTEGER = /^(?:0|-?[1-9]\d{0,15})$/;

type Entry =
  | { readonly kind: 'string'; value: string; expiresAt: number }
  | { readonly kind: 'set'; readonly members: Set<string>; expiresAt: number };

interface ExpiryNode {
  readonly key: string;
  readonly entry: Entry;
  readonly expiresAt: number;
}

const noopLogger: StoreLogger = { warn() {}, error() {}, info() {} };

/**
 * The bounded in-process twin of the Redis store, for **one process only**: two instances of
 * the application each holding one of these share nothing (sessions, brute-force counters and
 * revocations stay local), which is why production refuses it unless told there is a single
 * instance.
 *
 * Bound: at most `maxEntries` units (values and counters count one, sets one per member). When
 * a write would pass the cap, expired entries are dropped first, then the live evictable
 * entries closest to expiry are evicted and a warning is logged with the count; the store never
 * grows past the cap. A write that still does not fit (a set larger than the cap, or a store
 * holding only entries that may not be evicted) rejects with `STORE_ERR_FULL`. Expired
 * entries are also swept when touched and by an unref'd timer that `close()` clears.
 *
 * Rate limiters are rate-limiter-flexible's `RateLimiterMemory`: they keep their own counters
 * (one timer per key, each gone after the window) on the real clock, outside the cap above.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): StateStore {
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const maxTtlMs = options.maxTtlMs ?? MAX_TTL_MS;
  if (!isPositiveInteger(maxEntries)) throw new TypeError('maxEntries must be a positive integer');
  if (!isPositiveInteger(maxTtlMs)) throw new TypeError('maxTtlMs must be a positive integer');
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('now must be a function');
  if (options.evictable !== undefined && typeof options.evictable !== 'function') throw new TypeError('evictable must be a function');
  return new MemoryStore(maxEntries, maxTtlMs, options.now ?? Date.now, options.logger ?? noopLogger, options.evictable ?? (() => true));
}

class MemoryStore implements StateStore {
  readonly kind = 'memory';
  readonly #entries = new Map<string, Entry>();
  readonly #expiries = new ExpiryQueue();
  /** The evictable entries only, closest to expiry first. */
  readonly #evictionOrder = new ExpiryQueue();
  readonly #evictable: (key: string) => boolean;
  readonly #maxEntries: number;
  readonly #maxTtlMs: number;
  readonly #now: () => number;
  readonly #logger: StoreLogger;
  readonly #sweepTimer: ReturnType<typeof setInterval>;
  #units = 0;
  #closed = false;
  #evictedTotal = 0;
  #evictedSinceWarning = 0;
  #lastWarningAt: number | undefined;

  constructor(maxEntries: number, maxTtlMs: number, now: () => number, logger: StoreLogger, evictable: (key: string) => boolean) {
    this.#maxEntries = maxEntries;
    this.#evictable = evictable;
    this.#maxTtlMs = maxTtlMs;
    this.#now = now;
    this.#logger = logger;
    // Lazy expiry alone would keep keys nobody reads again until the cap forced them out.
    this.#sweepTimer = setInterval(() => {
      this.#sweep();
    }, SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
  }

  get(key: string): Promise<string | null> {
    return settle(() => {
      checkKey(key);
      return this.#typed(key, 'string', this.#openNow())?.value ?? null;
    });
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return settle(() => {
      checkKeys(keys);
      const now = this.#openNow();
      return keys.map((key) => this.#typed(key, 'string', now)?.value ?? null);
    });
  }

  set(key: string, value: string, options: TtlOption): Promise<void> {
    return settle(() => {
      checkKey(key);
      checkValue(value);
      const ttl = checkTtl(options, this.#maxTtlMs);
      const now = this.#openNow();
      this.#write(key, { kind: 'string', value, expiresAt: now + ttl }, now);
    });
  }

  setIfAbsent(key: string, value: string, options: TtlOption): Promise<boolean> {
    return settle(() => {
      checkKey(key);
      checkValue(value);
      const ttl = checkTtl(options, this.#maxTtlMs);
      const now = this.#openNow();
      if (this.#live(key, now) !== undefined) return false;
      this.#write(key, { kind: 'string', value, expiresAt: now + ttl }, now);
      return true;
    });
  }

  take(key: string): Promise<string | null> {
    return settle(() => {
      checkKey(key);
      const entry = this.#typed(key, 'string', this.#openNow());
      if (entry === undefined) return null;
      this.#remove(key, entry);
      return entry.value;
    });
  }

  delete(key: string): Promise<boolean> {
    return settle(() => {
      checkKey(key);
      const entry = this.#live(key, this.#openNow());
      if (entry === undefined) return false;
      this.#remove(key, entry);
      return true;
    });
  }

  increment(key: string, options: TtlOption): Promise<number> {
    return settle(() => {
      checkKey(key);
      const ttl = checkTtl(options, this.#maxTtlMs);
      const now = this.#openNow();
      const entry = this.#typed(key, 'string', now);
      if (entry === undefined) {
        this.#write(key, { kind: 'string', value: '1', expiresAt: now + ttl }, now);
        return 1;
      }
      const next = INTEGER.test(entry.value) ? Number(entry.value) + 1 : Number.NaN;
      if (!Number.isSafeInteger(next)) throw new STORE_ERR_WRONG_TYPE();
      entry.value = String(next);
      return next;
    });
  }

  incrementMany(entries: readonly CounterDelta[], options: TtlOption): Promise<CounterState[]> {
    return settle(() => {
      checkDeltas(entries);
      const ttl = checkTtl(options, this.#maxTtlMs);
      const now = this.#openNow();
      return entries.map(({ key, by }) => {
        const entry = this.#typed(key, 'string', now);
        if (entry === undefined) {
          this.#write(key, { kind: 'string', value: String(by), expiresAt: now + ttl }, now);
          return { count: by, ttlMs: ttl };
        }
        const next = INTEGER.test(entry.value) ? Number(entry.value) + by : Number.NaN;
        if (!Number.isSafeInteger(next)) throw new STORE_ERR_WRONG_TYPE();
        entry.value = String(next);
        return { count: next, ttlMs: entry.expiresAt - now };
      });
    });
  }

  expire(key: string, options: TtlOption): Promise<boolean> {
    return settle(() => {
      checkKey(key);
      const ttl = checkTtl(options, this.#maxTtlMs);
      const now = this.#openNow();
      const entry = this.#live(key, now);
      if (entry === undefined) return false;
      entry.expiresAt = now + ttl;
      this.#track(key, entry);
      return true;
    });
  }

  ttlMs(key: string): Promise<number | null> {
    return settle(() => {
      checkKey(key);
      const now = this.#openNow();
      const entry = this.#live(key, now);
      return entry === undefined ? null : entry.expiresAt - now;
    });
  }

  setAdd(key: string, member: string, options: TtlOption): Promise<void> {
    return settle(() => {
      checkKey(key);
      checkMember(member);
      const ttl = checkTtl(options, this.#maxTtlMs);
      const now = this.#openNow();
      const entry = this.#typed(key, 'set', now);
      if (entry === undefined) {
        this.#write(key, { kind: 'set', members: new Set([member]), expiresAt: now + ttl }, now);
        return;
      }
      if (!entry.members.has(member)) {
        this.#reserve(1, key, entry.members.size + 1, now);
        entry.members.add(member);
        this.#units += 1;
      }
      entry.expiresAt = now + ttl;
      this.#track(key, entry);
    });
  }

  setRemove(key: string, member: string): Promise<void> {
    return settle(() => {
      checkKey(key);
      checkMember(member);
      const entry = this.#typed(key, 'set', this.#openNow());
      if (entry === undefined || !entry.members.delete(member)) return;
      this.#units -= 1;
      // Redis deletes a set with its last member; the twin does the same.
      if (entry.members.size === 0) this.#entries.delete(key);
    });
  }

  setMembers(key: string): Promise<string[]> {
    return settle(() => {
      checkKey(key);
      return [...(this.#typed(key, 'set', this.#openNow())?.members ?? [])];
    });
  }

  createRateLimiter(spec: RateLimiterSpec): RateLimiterAbstract {
    checkRateLimiterSpec(spec);
    this.#openNow();
    return new RateLimiterMemory({
      keyPrefix: spec.keyPrefix,
      points: spec.points,
      duration: spec.durationSeconds,
      blockDuration: spec.blockDurationSeconds ?? 0,
    });
  }

  ping(): Promise<void> {
    return settle(() => {
      this.#openNow();
    });
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    this.#entries.clear();
    this.#expiries.clear();
    this.#evictionOrder.clear();
    this.#units = 0;
    return Promise.resolve();
  }

  /**
   * Checks the store is open and reads the clock once: each operation sees one instant, so an
   * entry it found alive cannot expire under it halfway through.
   */
  #openNow(): number {
    if (this.#closed) throw new STORE_ERR_UNAVAILABLE();
    return this.#now();
  }

  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry;
    this.#remove(key, entry);
    return undefined;
  }

  /** The live entry at `key` if it is of `kind`; an entry of the other kind is the caller's mistake. */
  #typed<K extends Entry['kind']>(key: string, kind: K, now: number): Extract<Entry, { kind: K }> | undefined {
    const entry = this.#live(key, now);
    if (entry === undefined) return undefined;
    if (entry.kind !== kind) throw new STORE_ERR_WRONG_TYPE();
    return entry as Extract<Entry, { kind: K }>;
  }

  /** Puts `entry` at `key`, replacing what was there, after making room for it. */
  #write(key: string, entry: Entry, now: number): void {
    const previous = this.#live(key, now);
    const needed = unitsOf(entry);
    this.#reserve(needed - (previous === undefined ? 0 : unitsOf(previous)), key, needed, now);
    if (previous !== undefined) this.#remove(key, previous);
    this.#entries.set(key, entry);
    this.#units += needed;
    this.#track(key, entry);
  }

  /**
   * Makes room for `extra` more units, evicting the entries closest to expiry other than
   * `key` (the one being written, which will hold `unitsAfter` units).
   */
  #reserve(extra: number, key: string, unitsAfter: number, now: number): void {
    if (this.#units + extra <= this.#maxEntries) return;
    // Checked before evicting anything: a write that cannot fit must not empty the store first.
    if (unitsAfter > this.#maxEntries) throw new STORE_ERR_FULL();
    this.#sweepExpired(now);
    const parked: ExpiryNode[] = [];
    let evicted = 0;
    while (this.#units + extra > this.#maxEntries) {
      const node = this.#evictionOrder.pop();
      if (node === undefined) break;
      if (!this.#isCurrent(node)) continue;
      if (node.key === key) {
        parked.push(node);
        continue;
      }
      this.#remove(node.key, node.entry);
      evicted += 1;
    }
    for (const node of parked) this.#evictionOrder.push(node);
    if (evicted > 0) this.#noteEvictions(evicted, now);
    // Only entries that may not be evicted are left: refusing the write beats evicting them.
    if (this.#units + extra > this.#maxEntries) throw new STORE_ERR_FULL();
  }

  #remove(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#units -= unitsOf(entry);
  }

  /** Records the entry's current expiry; nodes left behind by earlier expiries go stale. */
  #track(key: string, entry: Entry): void {
    const node = { key, entry, expiresAt: entry.expiresAt };
    this.#expiries.push(node);
    if (this.#evictable(key)) this.#evictionOrder.push(node);
    // Stale nodes pile up when TTLs are refreshed; rebuilding at twice the live size keeps
    // the queues bounded at O(1) amortized cost.
    if (this.#expiries.length > 2 * this.#entries.size + 1024 || this.#evictionOrder.length > 2 * this.#entries.size + 1024) {
      const nodes = [...this.#entries].map(([k, e]) => ({ key: k, entry: e, expiresAt: e.expiresAt }));
      this.#expiries.rebuild(nodes);
      this.#evictionOrder.rebuild(nodes.filter((n) => this.#evictable(n.key)));
    }
  }

  #isCurrent(node: ExpiryNode): boolean {
    return this.#entries.get(node.key) === node.entry && node.entry.expiresAt === node.expiresAt;
  }

  #sweepExpired(now: number): void {
    for (let node = this.#expiries.peek(); node !== undefined && node.expiresAt <= now; node = this.#expiries.peek()) {
      this.#expiries.pop();
      if (this.#isCurrent(node)) this.#remove(node.key, node.entry);
    }
  }

  #sweep(): void {
    if (this.#closed) return;
    const now = this.#now();
    this.#sweepExpired(now);
    this.#warnIfDue(now);
  }

  #noteEvictions(count: number, now: number): void {
    this.#evictedTotal += count;
    this.#evictedSinceWarning += count;
    this.#warnIfDue(now);
  }

  #warnIfDue(now: number): void {
    if (this.#evictedSinceWarning === 0) return;
    if (this.#lastWarningAt !== undefined && now - this.#lastWarningAt < EVICTION_WARNING_INTERVAL_MS) return;
    this.#logger.warn(
      { evicted: this.#evictedSinceWarning, evictedTotal: this.#evictedTotal, maxEntries: this.#maxEntries },
      'memory store full: evicted the evictable entries closest to expiry',
    );
    this.#lastWarningAt = now;
    this.#evictedSinceWarning = 0;
  }
}

function unitsOf(entry: Entry): number {
  return entry.kind === 'set' ? entry.members.size : 1;
}

/** Runs `fn` and reports its result or exception through a promise: one failure channel. */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise((resolve) => {
    resolve(fn());
  });
}

/** A binary min-heap of expiry times: eviction and sweeping cost O(log n), never a full scan. */
class ExpiryQueue {
  #nodes: ExpiryNode[] = [];

  get length(): number {
    return this.#nodes.length;
  }

  peek(): ExpiryNode | undefined {
    return this.#nodes[0];
  }

  push(node: ExpiryNode): void {
    const nodes = this.#nodes;
    let i = nodes.push(node) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = nodes[parent] as ExpiryNode;
      if (above.expiresAt <= node.expiresAt) break;
      nodes[i] = above;
      i = parent;
    }
    nodes[i] = node;
  }

  pop(): ExpiryNode | undefined {
    const top = this.#nodes[0];
    const last = this.#nodes.pop();
    if (last !== undefined && this.#nodes.length > 0) this.#sink(0, last);
    return top;
  }

  rebuild(nodes: ExpiryNode[]): void {
    this.#nodes = nodes;
    for (let i = (nodes.length >> 1) - 1; i >= 0; i -= 1) this.#sink(i, nodes[i] as ExpiryNode);
  }

  clear(): void {
    this.#nodes = [];
  }

  /** Puts `node` at `index` or below it, moving earlier-expiring children up. */
  #sink(index: number, node: ExpiryNode): void {
    const nodes = this.#nodes;
    let i = index;
    for (;;) {
      const left = nodes[2 * i + 1];
      const right = nodes[2 * i + 2];
      const [child, at] = right !== undefined && left !== undefined && right.expiresAt < left.expiresAt ? [right, 2 * i + 2] : [left, 2 * i + 1];
      if (child === undefined || child.expiresAt >= node.expiresAt) break;
      nodes[i] = child;
      i = at;
    }
    nodes[i] = node;
  }
}
