import type { InvalidationListener, Subscription } from '../../adapter.js';
import { callSafely } from '../../internal/keep-listening.js';
import { firstColumn, MODULE, type SqliteDatabase, type SqliteStatement } from './database.js';

/** How often a subscribed feed looks at the file: the cross-process bound is about this. */
export const POLL_MS = 200;
/**
 * A poll that has failed for this long (the file locked, the disk gone) resets the listeners on
 * every failed tick, so that no cache serves a key for much longer than a second unchecked.
 */
export const LOST_AFTER_MS = 600;
/** More pending changes than this: reset the listeners instead of reading them one by one. */
const MAX_BATCH = 1_000;

/**
 * Invalidations for every adapter over one Database object and table: its own writes at once
 * (`wrote`), other connections' and processes' from the change log the triggers write, polled.
 */
export interface ChangeFeed {
  /** After this connection changed `id`: delivers what the log holds now, or `id` if it cannot. */
  wrote(id: string): void;
  /** `wrote` for many ids changed by one statement: one read of the log for all of them. */
  wroteMany(ids: readonly string[]): void;
  subscribe(listener: InvalidationListener): Promise<Subscription>;
}

interface ChangeRow {
  seq: number | bigint;
  key_id: string;
}

export function changeFeed(db: SqliteDatabase, table: string): ChangeFeed {
  const log = `"${table}_changes"`;
  const sql = {
    // data_version moves when another connection commits; total_changes() when this one writes.
    mark: 'SELECT (SELECT data_version FROM pragma_data_version) AS v, total_changes() AS c',
    top: `SELECT max("seq") FROM ${log}`,
    // AUTOINCREMENT's counter: the seq of the last change ever logged, also once pruned away.
    start: `SELECT "seq" FROM sqlite_sequence WHERE "name" = '${table}_changes'`,
    read: `SELECT "seq", "key_id" FROM ${log} WHERE "seq" > ? ORDER BY "seq" LIMIT ${MAX_BATCH + 1}`,
    busy: 'PRAGMA busy_timeout',
    noWait: 'PRAGMA busy_timeout = 0',
  };
  const prepared = new Map<string, SqliteStatement>();
  const statement = (source: string) => {
    let found = prepared.get(source);
    if (!found) prepared.set(source, (found = db.prepare(source)));
    return found;
  };

  const listeners = new Set<InvalidationListener>();
  let timer: NodeJS.Timeout | undefined;
  let lastSeq = 0;
  let lastMark = '';
  let failingSince: number | undefined;

  const each = (fn: (listener: InvalidationListener) => void) => {
    for (const listener of listeners) callSafely(() => fn(listener));
  };

  /**
   * Runs `fn` with the connection's busy timeout at 0: a poll on a locked file fails at once and
   * is retried on the next tick, instead of blocking the event loop for the timeout.
   */
  function withoutWaiting<T>(fn: () => T): T {
    const timeout = Number(firstColumn(statement(sql.busy).get()));
    statement(sql.noWait).run();
    try {
      return fn();
    } finally {
      statement(`PRAGMA busy_timeout = ${Number.isSafeInteger(timeout) ? timeout : 0}`).run();
    }
  }

  /** Delivers the logged changes after lastSeq; returns their ids. */
  function drain(): string[] {
    const rows = statement(sql.read).all(lastSeq) as ChangeRow[];
    if (rows.length === 0) return [];
    const before = lastSeq;
    lastSeq = Number(rows[rows.length - 1]!.seq);
    // Rows pruned before this feed read them, or too many to read one by one: forget everything.
    if (rows.length > MAX_BATCH || Number(rows[0]!.seq) > before + 1) {
      lastSeq = Number(firstColumn(statement(sql.top).get()) ?? lastSeq);
      each((listener) => listener.reset());
      return [];
    }
    const ids = rows.map((row) => row.key_id);
    for (const id of ids) each((listener) => listener.invalidate(id));
    return ids;
  }

  function mark(): string {
    const row = statement(sql.mark).get() as { v: unknown; c: unknown };
    return `${String(row.v)}:${String(row.c)}`;
  }

  function tick(): void {
    try {
      withoutWaiting(() => {
        const now = mark();
        if (now === lastMark) return;
        drain();
        lastMark = now;
      });
      failingSince = undefined;
    } catch {
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= LOST_AFTER_MS) each((listener) => listener.reset());
    }
  }

  /** Where a new feed starts reading: after the newest logged change. */
  function prime(): void {
    let start: unknown;
    try {
      statement(sql.top).get();
      start = firstColumn(statement(sql.start).get());
    } catch (error) {
      if (error instanceof Error && /no such table/.test(error.message)) {
        throw Object.assign(
          new Error(
            `The table ${table}_changes does not exist: run migrate() from '${MODULE}' (or apply keymint/sql/sqlite/0002-change-log.sql) so that revocations reach other processes.`,
            { cause: error },
          ),
          { code: (error as { code?: unknown }).code },
        );
      }
      throw error;
    }
    lastSeq = Number(start ?? 0);
    lastMark = mark();
    failingSince = undefined;
  }

  return {
    wrote(id) {
      if (listeners.size === 0) return;
      let ids: string[] = [];
      try {
        ids = withoutWaiting(drain);
      } catch {
        // The next tick reads the log; this process's own listeners hear of it now.
      }
      if (!ids.includes(id)) each((listener) => listener.invalidate(id));
    },

    wroteMany(changed) {
      if (listeners.size === 0 || changed.length === 0) return;
      let ids: string[] = [];
      try {
        ids = withoutWaiting(drain);
      } catch {
        // As in wrote().
      }
      const delivered = new Set(ids);
      for (const id of changed) {
        if (!delivered.has(id)) each((listener) => listener.invalidate(id));
      }
    },

    async subscribe(listener) {
      if (listeners.size === 0) prime();
      // Wrapped, so that close() removes exactly this subscription even for a shared listener.
      const own: InvalidationListener = {
        invalidate: (id) => listener.invalidate(id),
        reset: () => listener.reset(),
      };
      listeners.add(own);
      if (!timer) {
        timer = setInterval(tick, POLL_MS);
        timer.unref();
      }
      return {
        async close() {
          listeners.delete(own);
          if (listeners.size === 0) {
            clearInterval(timer);
            timer = undefined;
          }
        },
      };
    },
  };
}
