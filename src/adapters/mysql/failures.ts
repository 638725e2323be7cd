import type { FailureReservation, KeyAdapter } from '../../adapter.js';
import type { MysqlNames } from './schema.js';

import type { Run } from './pool.js';

/**
 * Now as epoch milliseconds on the server's clock, in UTC whatever the time zones. MySQL fixes
 * UTC_TIMESTAMP() at the start of a statement, so every use in one statement reads one instant.
 */
export const NOW_MS = `(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(3)) DIV 1000)`;

interface Header {
  insertId?: number | string;
}

/**
 * `reserveFailure` and `releaseFailure` over the table of schema step 3, and the sweep of ended
 * windows `deleteExpired` runs. A reservation is one statement: `INSERT ... SELECT` from the keys
 * (so only an id that has a record gets a row) `ON DUPLICATE KEY UPDATE`, which InnoDB applies
 * under the row's lock, so the limit is exact across processes. What it did comes back in the OK
 * packet, through `LAST_INSERT_ID(expr)` (the connection's own, mysql2's `insertId`), so that no
 * second read can see another process's change instead: the window's start when it counted, 1
 * when the window was full, 0 when no record has the id (nothing was inserted or evaluated). A
 * refusal then reads the time left, which only informs the caller.
 *
 * MySQL applies the assignments of an update left to right, each seeing the columns already
 * assigned; MariaDB with `SIMULTANEOUS_ASSIGNMENT` shows the old row to all of them. These give
 * the same row either way: `failures` comes first (it reads the old row, and sets the answer),
 * `reset_at` reads only itself and `window_start`, which nothing assigned before it, and
 * `window_start` is reset when the window ended or when `reset_at` is `now + windowMs`, which
 * after a restart it is, and otherwise only when the window started this very millisecond (then
 * it is `now` already). A window whose places were all given back is marked ended by
 * `releaseFailure` (`reset_at = 0`), so that "ended" never needs the count.
 */
export function failureMethods(
  run: Run,
  names: MysqlNames,
): Required<Pick<KeyAdapter, 'reserveFailure' | 'releaseFailure'>> & { sweep(): Promise<void> } {
  const f = names.failures;
  const now = NOW_MS;
  // Over at its end, or when the clock stepped back by more than a window. Not at the first
  // sign of "now < start": MySQL fixes now when a statement starts, so a statement that waited
  // for the row's lock reads a now from before the start of a window that a statement behind it
  // began; restarting then would count past the limit. Its window lasts at most twice as long.
  const ended = `(${now} >= reset_at OR ${now} < 2 * window_start - reset_at)`;
  const sql = {
    reserve: `INSERT INTO ${f} (id, window_start, reset_at, failures)
      SELECT id, LAST_INSERT_ID(${now}), ${now} + ?, 1 FROM ${names.table} WHERE id = ?
      ON DUPLICATE KEY UPDATE
        failures = IF(LAST_INSERT_ID(IF(${ended}, ${now}, IF(failures < ?, window_start, 1))) = 1,
          failures, IF(${ended}, 1, failures + 1)),
        reset_at = IF(${ended}, ${now} + ?, reset_at),
        window_start = IF(${ended} OR reset_at = ${now} + ?, ${now}, window_start)`,
    // Only for the answer of a refusal: the count itself was decided above.
    wait: `SELECT GREATEST(1, reset_at - ${now}) AS wait FROM ${f} WHERE id = ?`,
    // reset_at first, from the old count: the last place given back ends the window.
    release: `UPDATE ${f} SET reset_at = IF(failures <= 1, 0, reset_at), failures = failures - 1
      WHERE id = ? AND window_start = ? AND failures > 0`,
    sweep: `DELETE FROM ${f} WHERE reset_at <= ${now} ORDER BY reset_at LIMIT 10000`,
  };

  return {
    async reserveFailure(
      id: string,
      limit: number,
      windowMs: number,
    ): Promise<FailureReservation | null> {
      const header = (await run(sql.reserve, [windowMs, id, limit, windowMs, windowMs])) as Header;
      const answer = Number(header.insertId);
      if (answer > 1) return { ok: true, window: answer };
      if (answer !== 1) return null;
      const [row] = (await run(sql.wait, [id])) as { wait: number | string }[];
      return { ok: false, retryAfterMs: row === undefined ? windowMs : Number(row.wait) };
    },

    async releaseFailure(id: string, window: number): Promise<void> {
      await run(sql.release, [id, window]);
    },

    async sweep(): Promise<void> {
      await run(sql.sweep);
    },
  };
}
