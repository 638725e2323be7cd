import type { InvalidationListener, Subscription } from '../../adapter.js';
import { callSafely } from '../../internal/keep-listening.js';
import { text } from './rows.js';

/** How often a subscribed feed reads the change log: the cross-process bound is about this. */
export const POLL_MS = 200;
/**
 * A poll that has failed for this long (the server down, the pool exhausted) resets the listeners
 * on every failed tick, so that no cache serves a key for much longer than a second unchecked.
 */
export const LOST_AFTER_MS = 600;
/**
 * How long a hole in the sequence is waited for. AUTO_INCREMENT numbers are taken when a row is
 * inserted, not when it commits: a change logged by a transaction that commits after a later one
 * appears behind it. Holes also come from rollbacks and `auto_increment_increment` (Galera), and
 * those never fill: after this long the feed stops looking for them.
 */
export const HOLE_WAIT_MS = 5_000;
/** More new rows than this in one poll, or more open holes: reset instead of reading them. */
const MAX_BATCH = 1_000;
const MAX_HOLES = 10_000;

/** Runs one read on the pool. */
export type ReadQuery = (sql: string, values: unknown[]) => Promise<unknown[]>;

/**
 * Invalidations for every subscriber of one adapter: its own committed changes at once (`wrote`),
 * and everyone's from the change log `<table>_changes`, polled every POLL_MS with one primary-key
 * range read that returns nothing when nothing changed.
 */
export interface ChangeFeed {
  /** After this adapter committed a change of `id`: tells this process's listeners at once. */
  wrote(id: string): void;
  subscribe(listener: InvalidationListener, signal?: AbortSignal): Promise<Subscription>;
}

export function changeFeed(read: ReadQuery, changes: string): ChangeFeed {
  const sql = {
    top: `SELECT COALESCE(MAX(seq), 0) AS top FROM ${changes}`,
    after: `SELECT seq, key_id FROM ${changes} WHERE seq > ? ORDER BY seq LIMIT ${MAX_BATCH + 1}`,
  };
  const listeners = new Set<InvalidationListener>();
  let timer: NodeJS.Timeout | undefined;
  /** Whether the poll loop runs (a poll pending or in flight). */
  let active = false;
  let polling: Promise<void> | undefined;
  /** The highest sequence number delivered (or skipped by a reset). */
  let high = 0;
  /** Numbers below `high` not seen yet, with when the hole was first noticed. */
  const holes = new Map<number, number>();
  let failingSince: number | undefined;
  let primed: Promise<void> | undefined;

  const each = (fn: (listener: InvalidationListener) => void) => {
    for (const listener of listeners) callSafely(() => fn(listener));
  };

  /** Everything cached may be stale: forget it, and read on from the newest change. */
  async function resetFrom(): Promise<void> {
    const rows = (await read(sql.top, [])) as { top: unknown }[];
    high = Number(rows[0]?.top ?? 0);
    holes.clear();
    each((listener) => listener.reset());
  }

  async function poll(): Promise<void> {
    const now = Date.now();
    for (const [seq, since] of holes) if (now - since >= HOLE_WAIT_MS) holes.delete(seq);
    let floor = high;
    for (const seq of holes.keys()) floor = Math.min(floor, seq - 1);
    const rows = (await read(sql.after, [floor])) as { seq: unknown; key_id: unknown }[];
    const fresh: { seq: number; id: string }[] = [];
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq > high || holes.delete(seq)) fresh.push({ seq, id: text(row.key_id) });
    }
    if (fresh.length > MAX_BATCH || rows.length > MAX_BATCH) {
      await resetFrom();
      return;
    }
    for (const { seq, id } of fresh) {
      if (seq > high) {
        for (let missing = high + 1; missing < seq; missing++) holes.set(missing, now);
        high = seq;
      }
      each((listener) => listener.invalidate(id));
    }
    if (holes.size > MAX_HOLES) await resetFrom();
  }

  async function tick(): Promise<void> {
    try {
      await poll();
      if (failingSince !== undefined && Date.now() - failingSince >= LOST_AFTER_MS) {
        // Back after a long outage: what was logged meanwhile may be pruned by now.
        each((listener) => listener.reset());
      }
      failingSince = undefined;
    } catch {
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= LOST_AFTER_MS) each((listener) => listener.reset());
    }
  }

  function schedule(): void {
    timer = setTimeout(() => {
      timer = undefined;
      polling = tick().finally(() => {
        polling = undefined;
        if (listeners.size > 0) schedule();
        else active = false;
      });
    }, POLL_MS);
    timer.unref();
  }

  /** Where a new feed starts reading: after the newest logged change. */
  function prime(): Promise<void> {
    primed ??= (async () => {
      const rows = (await read(sql.top, [])) as { top: unknown }[];
      high = Number(rows[0]?.top ?? 0);
      holes.clear();
      failingSince = undefined;
    })().finally(() => {
      primed = undefined;
    });
    return primed;
  }

  return {
    wrote(id) {
      each((listener) => listener.invalidate(id));
    },

    async subscribe(listener, signal) {
      signal?.throwIfAborted();
      if (listeners.size === 0) {
        const aborted = new Promise<never>((_, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
        aborted.catch(() => {});
        await (signal ? Promise.race([prime(), aborted]) : prime());
      }
      signal?.throwIfAborted();
      // Wrapped, so that close() removes exactly this subscription even for a shared listener.
      const own: InvalidationListener = {
        invalidate: (id) => listener.invalidate(id),
        reset: () => listener.reset(),
      };
      listeners.add(own);
      if (!active) {
        active = true;
        schedule();
      }
      let closed = false;
      return {
        async close() {
          if (closed) return;
          closed = true;
          listeners.delete(own);
          if (listeners.size === 0) {
            if (timer !== undefined) {
              clearTimeout(timer);
              timer = undefined;
              active = false;
            }
            await polling;
          }
        },
      };
    },
  };
}
