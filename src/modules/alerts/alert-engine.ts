import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { StateStore } from '../../platform/store.js';
import type { ObservedEvent } from '../../security/security-events.js';
import type { AlertPayload } from './delivery.js';
import type { AlertsRepository } from './repository.js';
import type { AlertRule } from './rules.js';

/** Retries of an addition whose alert row another instance has claimed but not yet inserted: 25, 50, … 400 ms. */
const ADD_RETRIES = 5;
const ADD_RETRY_MS = 25;

/** A rule window's count after one instance's addition. */
interface WindowCount {
  /** Events this addition brought. */
  readonly added: number;
  /** The window's total right after it, across every instance. */
  readonly total: number;
  /** When the window ends (ms since the epoch), which tells one window from the next. */
  readonly windowEnd: number;
  readonly windowMs: number;
}

/** The store's open-alert marker: the alert's id and the window total it fired with. */
function openMarker(id: string, count: WindowCount): string {
  return `${id}|${count.total}|${count.windowEnd}`;
}

function parseOpenMarker(marker: string): { id: string; total: number; windowEnd: number } | null {
  const [id, total, windowEnd] = marker.split('|');
  if (id === undefined || id === '') return null;
  return { id, total: Number(total ?? 0), windowEnd: Number(windowEnd ?? 0) };
}

export interface AlertEngineOptions {
  readonly rules: readonly AlertRule[];
  readonly store: StateStore;
  readonly repository: AlertsRepository;
  readonly deliver: (payload: AlertPayload) => void;
  /** One alert per rule and key within this window; later events add to its count. */
  readonly dedupMs: number;
  readonly dashboardUrl: string;
  readonly deliveryEnabled: boolean;
  /** Until when the firing instance holds a new alert's first webhook attempt (then another instance may take it). */
  readonly holdUntil: () => Date;
  readonly mailEnabled: boolean;
  readonly logger: FastifyBaseLogger;
  /** Pending (rule, key) groups held between two store round trips (default 10 000); past it events are counted as dropped. */
  readonly maxPending?: number;
}

export interface AlertEngine {
  /** The security-event observer: synchronous and cheap, it only adds to an in-memory batch. */
  observe(event: ObservedEvent): void;
  /** Counts every event observed so far and writes alert counts; resolves when done. */
  flush(): Promise<void>;
  stats(): { readonly dropped: number };
}

interface Pending {
  readonly rule: AlertRule;
  readonly key: string;
  events: number;
  readonly members: Set<string>;
  details: Readonly<Record<string, unknown>>;
}

// Keys are bounded in the store: a long key (an actor id is up to 256 characters) is hashed.
const storeKey = (value: string): string => (value.length <= 128 ? value : createHash('sha256').update(value).digest('base64url'));

/**
 * Counts events per rule and key in the shared store, so every instance adds to one count, and
 * fires an alert when a count reaches its rule's threshold. Observing is synchronous and only
 * batches in memory; one drain at a time turns the batch into a few store round trips
 * (`incrementMany`, `getMany`), so a flood costs round trips per batch, not per event.
 *
 * Deduplication: firing takes `alerts:open:<rule>:<key>` with `setIfAbsent` for the dedup
 * window, so of any number of instances exactly one fires; every later matching event in the
 * window adds to that alert's `count`. A flood is one alert whose count is the flood's size.
 */
export function createAlertEngine(options: AlertEngineOptions): AlertEngine {
  const { rules, store, repository, deliver, dedupMs, logger, maxPending = 10_000 } = options;
  const byEvent = new Map<string, AlertRule[]>();
  for (const rule of rules) for (const event of rule.events) byEvent.set(event, [...(byEvent.get(event) ?? []), rule]);
  let pending = new Map<string, Pending>();
  let draining: Promise<void> | null = null;
  let dropped = 0;

  const observe = (event: ObservedEvent): void => {
    const matching = byEvent.get(event.event);
    if (matching === undefined) return;
    for (const rule of matching) {
      const key = rule.key(event);
      if (key === null || key === '') continue;
      const member = rule.distinct === undefined ? null : rule.distinct(event);
      if (rule.distinct !== undefined && member === null) continue;
      const id = `${rule.name}:${key}`;
      let group = pending.get(id);
      if (group === undefined) {
        if (pending.size >= maxPending) {
          dropped += 1;
          continue;
        }
        group = { rule, key, events: 0, members: new Set(), details: {} };
        pending.set(id, group);
      }
      group.events += 1;
      group.details = { event: event.event, ...(event.clientIp === null ? {} : { client_ip: event.clientIp }) };
      if (member !== null) group.members.add(storeKey(member));
    }
    if (draining === null && pending.size > 0) draining = drainSoon();
  };

  async function drainSoon(): Promise<void> {
    // The rest of this tick's events join the batch.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (pending.size > 0) {
        const batch = [...pending.values()];
        pending = new Map();
        await processBatch(batch);
      }
    } catch (err) {
      logger.error({ err }, 'alert rules could not count events (the store or database did not answer); those events fire no alert');
    } finally {
      draining = null;
      if (pending.size > 0) draining = drainSoon();
    }
  }

  /** Adds each group's events to its rule's window and returns the window counts. */
  async function countWindows(batch: readonly Pending[]): Promise<Map<Pending, WindowCount>> {
    const counts = new Map<Pending, WindowCount>();
    for (const rule of rules) {
      const groups = batch.filter((g) => g.rule === rule);
      if (groups.length === 0) continue;
      const ttlMs = rule.threshold.windowSeconds * 1000;
      const deltas: { group: Pending; by: number }[] = [];
      for (const group of groups) {
        if (rule.distinct === undefined) {
          deltas.push({ group, by: group.events });
          continue;
        }
        // Distinct values: a member counts once per window, on whichever instance sees it first.
        let fresh = 0;
        for (const member of group.members) {
          if (await store.setIfAbsent(`alerts:seen:${rule.name}:${storeKey(group.key)}:${member}`, '1', { ttlMs })) fresh += 1;
        }
        if (fresh > 0) deltas.push({ group, by: fresh });
      }
      if (deltas.length === 0) continue;
      const states = await store.incrementMany(deltas.map((d) => ({ key: `alerts:count:${rule.name}:${storeKey(d.group.key)}`, by: d.by })), { ttlMs });
      const at = Date.now();
      deltas.forEach((d, i) => counts.set(d.group, { added: d.by, total: states[i]?.count ?? d.by, windowEnd: at + (states[i]?.ttlMs ?? ttlMs), windowMs: ttlMs }));
    }
    return counts;
  }

  async function processBatch(batch: readonly Pending[]): Promise<void> {
    const counts = await countWindows(batch);
    if (counts.size === 0) return;
    const groups = [...counts.keys()];
    const openKeys = groups.map((g) => `alerts:open:${g.rule.name}:${storeKey(g.key)}`);
    const open = await store.getMany(openKeys);
    const additions = new Map<string, number>();
    const addTo = (marker: string, count: WindowCount): void => {
      const fired = parseOpenMarker(marker);
      if (fired === null) return;
      // Counter additions are atomic, so totals order them: a total at or below the one the alert
      // fired with (in the same window) was already part of that count.
      const sameWindow = Math.abs(fired.windowEnd - count.windowEnd) < count.windowMs / 2;
      if (sameWindow && count.total <= fired.total) return;
      additions.set(fired.id, (additions.get(fired.id) ?? 0) + count.added);
    };
    for (const [index, group] of groups.entries()) {
      const count = counts.get(group);
      if (count === undefined) continue;
      const marker = open[index] ?? null;
      if (marker !== null) {
        addTo(marker, count);
        continue;
      }
      if (count.total < group.rule.threshold.count) continue;
      const id = randomUUID();
      const openKey = openKeys[index] ?? '';
      if (await store.setIfAbsent(openKey, openMarker(id, count), { ttlMs: dedupMs })) {
        await fire(id, group, count.total);
        continue;
      }
      // Another instance fired it a moment ago: add what its count did not include.
      const winner = await store.get(openKey);
      if (winner !== null) addTo(winner, count);
    }
    if (additions.size > 0) await addCounts(additions);
  }

  /**
   * The winner of a claim inserts its alert row just after claiming it in the store: an addition
   * that finds no row yet waits for it (a few short retries) instead of being lost.
   */
  async function addCounts(additions: ReadonlyMap<string, number>): Promise<void> {
    let missing = await repository.addCounts(additions);
    for (let attempt = 0; missing.size > 0 && attempt < ADD_RETRIES; attempt += 1) {
      await sleep(ADD_RETRY_MS * 2 ** attempt);
      missing = await repository.addCounts(missing);
    }
    if (missing.size > 0) logger.error({ alerts: [...missing.keys()] }, 'events counted for an alert whose row never appeared were not added to its count');
  }

  async function fire(id: string, group: Pending, count: number): Promise<void> {
    const summary = group.rule.summary(group.key, count);
    const details = { ...group.details, threshold: group.rule.threshold.count, window_seconds: group.rule.threshold.windowSeconds };
    const firedAt = await repository.insert({
      id, rule: group.rule.name, key: group.key, severity: group.rule.severity, summary, details, count,
      deliveryState: options.deliveryEnabled ? 'pending' : 'disabled',
      mailState: options.mailEnabled ? 'pending' : 'none',
      nextAttemptAt: options.deliveryEnabled ? options.holdUntil() : null,
    });
    logger.warn({ alert: id, rule: group.rule.name, count }, `alert: ${summary}`);
    deliver({ id, rule: group.rule.name, key: group.key, severity: group.rule.severity, summary, count, firedAt: firedAt.toISOString(), details, dashboard: options.dashboardUrl });
  }

  return {
    observe,
    async flush() {
      while (draining !== null) await draining;
    },
    stats: () => ({ dropped }),
  };
}
