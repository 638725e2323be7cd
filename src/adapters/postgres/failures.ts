import type { FailureReservation, KeyAdapter } from '../../adapter.js';
import { missingTable } from '../../internal/sql.js';
import type { PostgresQueryable } from './index.js';
import type { PostgresNames } from './schema.js';

/** Now as epoch ms on the database's clock (not the transaction's start: a statement's own). */
const NOW_MS = `(extract(epoch FROM clock_timestamp()) * 1000)::int8`;

const sqlState = (error: unknown): unknown =>
  typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;

/**
 * `reserveFailure` and `releaseFailure` over the table of schema step 5, and the sweep of ended
 * windows `deleteExpired` runs. Each is one statement.
 */
export function failureMethods(
  pool: PostgresQueryable,
  names: PostgresNames,
  module: string,
): Required<Pick<KeyAdapter, 'reserveFailure' | 'releaseFailure'>> & { sweep(): Promise<void> } {
  const f = names.failuresTable;
  async function query(text: string, values: unknown[]) {
    try {
      return await pool.query(text, values);
    } catch (error) {
      // 42P01 = undefined_table: step 5 not applied yet.
      if (sqlState(error) === '42P01') throw missingTable(names.failures, module, error);
      throw error;
    }
  }
  // A window is over at its end, when it starts in the future (a clock stepped back), or when
  // every place was given back: it then holds nothing, and the next reservation starts anew.
  const ended = `(EXCLUDED.window_start >= f.reset_at OR EXCLUDED.window_start < f.window_start OR f.failures <= 0)`;
  // One statement. The INSERT ... SELECT inserts only for an id that has a record; a racing
  // reservation of the same id waits for the row lock, then checks the WHERE against the row as
  // that one left it (ON CONFLICT DO UPDATE under READ COMMITTED), so the limit is exact. The
  // sub-selects read the statement's snapshot, from before the change: the time left and whether
  // the key exists, for the answers that reserved nothing.
  const reserve = `WITH now AS (SELECT ${NOW_MS} AS ms),
    counted AS (
      INSERT INTO ${f} AS f (id, window_start, reset_at, failures)
      SELECT k.id, now.ms, now.ms + $3::int8, 1 FROM ${names.table} AS k, now WHERE k.id = $1
      ON CONFLICT (id) DO UPDATE SET
        window_start = CASE WHEN ${ended} THEN EXCLUDED.window_start ELSE f.window_start END,
        reset_at = CASE WHEN ${ended} THEN EXCLUDED.reset_at ELSE f.reset_at END,
        failures = CASE WHEN ${ended} THEN 1 ELSE f.failures + 1 END
      WHERE ${ended} OR f.failures < $2::int4
      RETURNING f.window_start)
    SELECT (SELECT window_start FROM counted) AS "window",
           (SELECT greatest(1, g.reset_at - now.ms) FROM ${f} AS g WHERE g.id = $1) AS "wait",
           EXISTS (SELECT 1 FROM ${names.table} WHERE id = $1) AS "known"
      FROM now`;
  return {
    async reserveFailure(
      id: string,
      limit: number,
      windowMs: number,
    ): Promise<FailureReservation | null> {
      const { rows } = await query(reserve, [id, limit, windowMs]);
      const row = rows[0] as { window: string | null; wait: string | null; known: boolean };
      if (row.window !== null) return { ok: true, window: Number(row.window) };
      if (!row.known) return null;
      return { ok: false, retryAfterMs: row.wait === null ? windowMs : Number(row.wait) };
    },

    async releaseFailure(id: string, window: number): Promise<void> {
      await query(
        `UPDATE ${f} SET failures = failures - 1
          WHERE id = $1 AND window_start = $2::int8 AND failures > 0`,
        [id, window],
      );
    },

    async sweep(): Promise<void> {
      await query(`DELETE FROM ${f} WHERE reset_at <= ${NOW_MS}`, []);
    },
  };
}
