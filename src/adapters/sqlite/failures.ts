import type { FailureReservation, KeyAdapter } from '../../adapter.js';
import { missingTable } from '../../internal/sql.js';
import { MODULE, type SqliteDatabase, type SqliteStatement } from './database.js';
import { NOW_MS } from './steps.js';

/**
 * `reserveFailure` and `releaseFailure` over the table of schema step 6, and the sweep of ended
 * windows `deleteExpired` runs. The count is one statement, so it holds across every process on
 * the file (SQLite runs one writer at a time); the clock is the machine's, read by SQLite.
 */
export function failureMethods(
  db: SqliteDatabase,
  table: string,
): Required<Pick<KeyAdapter, 'reserveFailure' | 'releaseFailure'>> & { sweep(): void } {
  const f = `"${table}_failures"`;
  // Over at its end, when it starts in the future (a clock stepped back), or when every place was
  // given back: it then holds nothing, and the next reservation starts anew.
  const ended = `(excluded.window_start >= ${f}.reset_at OR excluded.window_start < ${f}.window_start OR ${f}.failures <= 0)`;
  const sql = {
    // Inserts only for an id that has a record; the WHERE of the SELECT also keeps the upsert
    // unambiguous to SQLite's parser.
    reserve: `INSERT INTO ${f} (id, window_start, reset_at, failures)
      SELECT id, ${NOW_MS}, ${NOW_MS} + @windowMs, 1 FROM "${table}" WHERE id = @id
      ON CONFLICT (id) DO UPDATE SET
        window_start = CASE WHEN ${ended} THEN excluded.window_start ELSE window_start END,
        reset_at = CASE WHEN ${ended} THEN excluded.reset_at ELSE reset_at END,
        failures = CASE WHEN ${ended} THEN 1 ELSE failures + 1 END
      WHERE ${ended} OR failures < @limit
      RETURNING window_start`,
    full: `SELECT (SELECT max(1, reset_at - ${NOW_MS}) FROM ${f} WHERE id = @id) AS wait,
      EXISTS (SELECT 1 FROM "${table}" WHERE id = @id) AS known`,
    release: `UPDATE ${f} SET failures = failures - 1
      WHERE id = ? AND window_start = ? AND failures > 0`,
    sweep: `DELETE FROM ${f} WHERE reset_at <= ${NOW_MS}`,
  };
  const prepare = (source: string) => {
    try {
      return db.prepare(source);
    } catch (error) {
      // Step 6 not applied yet.
      if (error instanceof Error && /no such table/.test(error.message)) {
        throw missingTable(`${table}_failures`, MODULE, error);
      }
      throw error;
    }
  };
  const prepared = new Map<keyof typeof sql, SqliteStatement>();
  const statement = (name: keyof typeof sql) => {
    let found = prepared.get(name);
    if (!found) prepared.set(name, (found = prepare(sql[name])));
    return found;
  };
  return {
    async reserveFailure(
      id: string,
      limit: number,
      windowMs: number,
    ): Promise<FailureReservation | null> {
      const counted = statement('reserve').get({ id, limit, windowMs }) as
        { window_start: number | bigint } | undefined;
      if (counted) return { ok: true, window: Number(counted.window_start) };
      // Nothing reserved: the window is full, or the key is gone. Read apart: only the answer's
      // detail, the count itself was atomic.
      const row = statement('full').get({ id }) as { wait: number | null; known: number };
      if (!row.known) return null;
      return { ok: false, retryAfterMs: row.wait === null ? windowMs : Number(row.wait) };
    },

    async releaseFailure(id: string, window: number): Promise<void> {
      statement('release').run(id, window);
    },

    sweep(): void {
      statement('sweep').run();
    },
  };
}
