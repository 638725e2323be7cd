import type { ListQuery, StoredApiKey } from '../../adapter.js';
import { AT, COLUMNS, datetime, fromRow } from './rows.js';
import { rowsOf, type Run } from './pool.js';
import type { MysqlNames } from './schema.js';

/**
 * The whole record of `id` through `runIn` (the pool's prepared read, or a transaction's
 * connection), or null.
 */
export type Find = (runIn: Run, id: string) => Promise<StoredApiKey | null>;

/** The select of one record by primary key. */
export function finder(names: MysqlNames): Find {
  const sql = `SELECT ${COLUMNS} FROM ${names.table} WHERE id = ?`;
  return async (runIn, id) => {
    const rows = await rowsOf(runIn(sql, [id]));
    return rows[0] === undefined ? null : fromRow(rows[0]);
  };
}

/** The reads: one statement each, no lock. */
export function readMethods(run: Run, read: Run, names: MysqlNames, find: Find) {
  const table = names.table;
  const select = `SELECT ${COLUMNS} FROM ${table}`;
  return {
    findById(id: string): Promise<StoredApiKey | null> {
      return find(read, id);
    },

    async list({ scope, limit, after, activeAt, owner }: ListQuery): Promise<StoredApiKey[]> {
      const values: unknown[] = [scope];
      let where = 'scope = CAST(? AS BINARY)';
      if (owner !== undefined) {
        // The (scope, owner, name) index answers it, in name order.
        where += ' AND owner = CAST(? AS BINARY)';
        values.push(owner);
      }
      if (after !== undefined) {
        where += ' AND name > CAST(? AS BINARY)';
        values.push(after);
      }
      if (activeAt !== undefined) {
        where += ` AND (expires_at IS NULL OR expires_at > ${AT})`;
        values.push(datetime(activeAt));
      }
      values.push(limit);
      const rows = await rowsOf(run(`${select} WHERE ${where} ORDER BY name LIMIT ?`, values));
      return rows.map(fromRow);
    },

    async countLive(scope: string, at: Date): Promise<number> {
      const rows = await rowsOf(
        run(
          `SELECT COUNT(*) AS live FROM ${table}
            WHERE scope = CAST(? AS BINARY) AND revoked_at IS NULL
              AND (expires_at IS NULL OR expires_at > ${AT})`,
          [scope, datetime(at)],
        ),
      );
      return Number(rows[0]!.live);
    },
  };
}
