import type { FailureReservation, KeyAdapter } from '../../adapter.js';
import type { MysqlNames } from './schema.js';

/** Runs one statement on the pool: rows for a SELECT, mysql2's result header otherwise. */
type Run = (sql: string, values?: unknown[]) => Promise<unknown>;

/**
 * Now as epoch milliseconds on the server's clock, in UTC whatever the time zones. MySQL fixes
 * UTC_TIMESTAMP() at the start of a statement, so every use in one statement reads one instant.
 */
export const NOW_MS = `(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(3)) DIV 1000)`;

/** Rounds of update, read, insert before a reservation that keeps racing gives up (refused). */
const ROUNDS = 8;

interface Header {
  affectedRows?: number;
  insertId?: number | string;
}
interface StateRow {
  now: number | string;
  window_start: number | string | null;
  reset_at: number | string | null;
  failures: number | string | null;
  known: number | string;
}

/**
 * `reserveFailure` and `releaseFailure` over the table of schema step 3, and the sweep of ended
 * windows `deleteExpired` runs. No transaction and no lock held between statements: each change
 * is one statement that InnoDB applies under the row's lock, checking the count against the limit
 * in its WHERE, so the limit is exact across processes. The window a statement counted in comes
 * back in the OK packet (`LAST_INSERT_ID(expr)`, the connection's own, as mysql2's `insertId`),
 * so no second read can see another process's change instead.
 *
 * MySQL applies an UPDATE's assignments left to right, each seeing the columns already assigned;
 * MariaDB with `SIMULTANEOUS_ASSIGNMENT` sees the old row in all of them. The assignments below
 * give the same row either way: `failures` comes first (it reads only the old row), `reset_at`
 * reads only itself and `window_start`, which no earlier assignment changed, and `window_start`
 * is reset when the window ended or when `reset_at` is `now + windowMs`, which after a restart it
 * is, and otherwise is only when the window started this same millisecond (a no-op). A window
 * whose places were all given back is marked ended by `releaseFailure` (`reset_at = 0`), so that
 * "ended" never needs the count.
 */
export function failureMethods(
  run: Run,
  names: MysqlNames,
): Required<Pick<KeyAdapter, 'reserveFailure' | 'releaseFailure'>> & { sweep(): Promise<void> } {
  const f = names.failures;
  const ended = `(${NOW_MS} >= reset_at OR ${NOW_MS} < window_start)`;
  const sql = {
    // Counts in the current window, or starts a new one when it ended: one statement.
    count: `UPDATE ${f}
        SET failures = IF(${ended} OR failures <= 0, 1, failures + 1),
            reset_at = IF(${ended}, ${NOW_MS} + ?, reset_at),
            window_start = LAST_INSERT_ID(IF(${ended} OR reset_at = ${NOW_MS} + ?, ${NOW_MS}, window_start))
      WHERE id = ? AND (${ended} OR failures < ?)`,
    // The first window of a key: only for an id that has a record; a racing insert wins once.
    start: `INSERT IGNORE INTO ${f} (id, window_start, reset_at, failures)
      SELECT id, LAST_INSERT_ID(${NOW_MS}), ${NOW_MS} + ?, 1 FROM ${names.table} WHERE id = ?`,
    // Why nothing was counted: the window is full, there is none yet, or the key is gone.
    state: `SELECT ${NOW_MS} AS now, f.window_start, f.reset_at, f.failures,
        EXISTS (SELECT 1 FROM ${names.table} WHERE id = ?) AS known
      FROM (SELECT 1 AS one) AS one LEFT JOIN ${f} AS f ON f.id = ?`,
    // reset_at first, from the old count: the last place given back ends the window.
    release: `UPDATE ${f} SET reset_at = IF(failures <= 1, 0, reset_at), failures = failures - 1
      WHERE id = ? AND window_start = ? AND failures > 0`,
    sweep: `DELETE FROM ${f} WHERE reset_at <= ${NOW_MS} ORDER BY reset_at LIMIT 10000`,
  };
  const counted = (header: unknown): FailureReservation | undefined => {
    const { affectedRows, insertId } = header as Header;
    return Number(affectedRows) === 1 ? { ok: true, window: Number(insertId) } : undefined;
  };

  return {
    async reserveFailure(
      id: string,
      limit: number,
      windowMs: number,
    ): Promise<FailureReservation | null> {
      for (let round = 1; ; round++) {
        const inWindow = counted(await run(sql.count, [windowMs, windowMs, id, limit]));
        if (inWindow) return inWindow;
        const [row] = (await run(sql.state, [id, id])) as StateRow[];
        if (Number(row!.known) !== 1) return null;
        const now = Number(row!.now);
        if (row!.failures === null) {
          const started = counted(await run(sql.start, [windowMs, id]));
          if (started) return started;
        } else {
          const resetAt = Number(row!.reset_at);
          const full =
            Number(row!.failures) >= limit && now < resetAt && now >= Number(row!.window_start);
          // Full, or still racing after ROUNDS: refused, for the time left (fail closed).
          if (full || round >= ROUNDS) {
            return { ok: false, retryAfterMs: Math.max(1, full ? resetAt - now : windowMs) };
          }
        }
        // The row changed between the statements (another process counted, released or
        // started a window): count again.
        if (round >= ROUNDS) return { ok: false, retryAfterMs: windowMs };
      }
    },

    async releaseFailure(id: string, window: number): Promise<void> {
      await run(sql.release, [id, window]);
    },

    async sweep(): Promise<void> {
      await run(sql.sweep);
    },
  };
}
