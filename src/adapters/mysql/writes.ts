import type {
  InsertResult,
  KeyChanges,
  KeyPatch,
  LastUsedEntry,
  ModifyCondition,
  ModifyResult,
  StoredApiKey,
} from '../../adapter.js';
import {
  AT,
  CHANGE_COLUMNS,
  datetime,
  INSERT_COLUMNS,
  INSERT_PLACEHOLDERS,
  insertValues,
  text,
} from './rows.js';
import { affected, duplicatesId, isDuplicate, rowsOf, type Run, type Runner } from './pool.js';
import type { Find } from './queries.js';
import type { MysqlNames } from './schema.js';
import type { ChangeFeed } from './subscribe.js';

/** Every this many logged changes, the writer also prunes change-log rows older than KEEP_S. */
const PRUNE_EVERY = 64;
const KEEP_S = 300;

/**
 * The writes. A change that other instances must see (revoke, delete, modify) is logged to the
 * change log in its own transaction, and told to this process's listeners once it committed.
 */
export function writeMethods(
  { run, retried, transaction }: Runner,
  names: MysqlNames,
  find: Find,
  feed: ChangeFeed,
) {
  const table = names.table;
  let logged = 0;

  /** Logs a change of `id` in the caller's transaction (and now and then prunes old rows). */
  async function logChange(runIn: Run, id: string): Promise<void> {
    await runIn(`INSERT INTO ${names.changes} (key_id, changed_at) VALUES (?, UTC_TIMESTAMP(3))`, [
      id,
    ]);
    if (++logged % PRUNE_EVERY === 0) {
      await runIn(
        `DELETE FROM ${names.changes} WHERE changed_at < UTC_TIMESTAMP(3) - INTERVAL ${KEEP_S} SECOND
          ORDER BY seq LIMIT 1000`,
      );
    }
  }

  return {
    async insert(record: StoredApiKey): Promise<InsertResult> {
      const values = insertValues(record);
      try {
        await retried(() =>
          run(`INSERT INTO ${table} (${INSERT_COLUMNS}) VALUES (${INSERT_PLACEHOLDERS})`, values),
        );
        return { ok: true };
      } catch (error) {
        if (!isDuplicate(error)) throw error;
        return { ok: false, conflict: duplicatesId(error) ? 'id' : 'name' };
      }
    },

    async update(id: string, patch: KeyPatch): Promise<StoredApiKey | null> {
      const sets: string[] = [];
      const values: unknown[] = [];
      if (patch.lastUsedAt !== undefined) {
        // Only forward: a late write from another process never moves it back.
        sets.push(
          `last_used_at = IF(last_used_at IS NULL OR last_used_at < ${AT}, ${AT}, last_used_at)`,
        );
        const at = datetime(patch.lastUsedAt);
        values.push(at, at);
      }
      if (patch.revokedAt !== undefined) {
        // The first revocation wins.
        sets.push(`revoked_at = COALESCE(revoked_at, ${AT})`);
        values.push(datetime(patch.revokedAt));
      }
      if (patch.secretHash !== undefined) {
        sets.push('secret_hash = ?');
        values.push(patch.secretHash);
      }
      const change = async (runIn: Run) => {
        if (sets.length > 0) {
          await runIn(`UPDATE ${table} SET ${sets.join(', ')} WHERE id = ?`, [...values, id]);
        }
        return find(runIn, id);
      };
      if (patch.revokedAt === undefined) return retried(() => change(run));
      const record = await transaction(async (runIn) => {
        const found = await change(runIn);
        if (found) await logChange(runIn, id);
        return { commit: true, value: found };
      });
      if (record) feed.wrote(id);
      return record;
    },

    async modify(
      id: string,
      changes: KeyChanges,
      condition?: ModifyCondition,
    ): Promise<ModifyResult> {
      const sets: string[] = [];
      const values: unknown[] = [];
      for (const [field, [column, placeholder, send]] of Object.entries(CHANGE_COLUMNS)) {
        const value = changes[field as keyof KeyChanges];
        if (value === undefined) continue;
        sets.push(`${column} = ${placeholder}`);
        values.push(send(value));
      }
      const result = await transaction<ModifyResult>(async (runIn) => {
        // The row lock first: the checks and the change see the row as no one else can change it.
        const rows = await rowsOf(
          runIn(
            `SELECT revoked_at IS NOT NULL AS revoked, secret_hash FROM ${table} WHERE id = ? FOR UPDATE`,
            [id],
          ),
        );
        const row = rows[0];
        const refuse = (reason: 'not_found' | 'revoked' | 'secret' | 'name') => ({
          commit: false,
          value: { ok: false as const, reason },
        });
        if (row === undefined) return refuse('not_found');
        if (Number(row.revoked) === 1) return refuse('revoked');
        if (condition?.secretHash !== undefined && text(row.secret_hash) !== condition.secretHash) {
          return refuse('secret');
        }
        if (sets.length > 0) {
          try {
            await runIn(`UPDATE ${table} SET ${sets.join(', ')} WHERE id = ?`, [...values, id]);
          } catch (error) {
            // Only the unique (scope, name) index can refuse a change.
            if (isDuplicate(error)) return refuse('name');
            throw error;
          }
        }
        await logChange(runIn, id);
        const record = await find(runIn, id);
        return { commit: true, value: { ok: true, record: record! } };
      });
      if (result.ok) feed.wrote(id);
      return result;
    },

    async delete(id: string): Promise<boolean> {
      const deleted = await transaction(async (runIn) => {
        const gone = affected(await runIn(`DELETE FROM ${table} WHERE id = ?`, [id])) > 0;
        if (gone) {
          // The key's wrong-secret window and usage counters go with it.
          await runIn(`DELETE FROM ${names.failures} WHERE id = ?`, [id]);
          await runIn(`DELETE FROM ${names.usage} WHERE id = ?`, [id]);
          await logChange(runIn, id);
        }
        return { commit: true, value: gone };
      });
      if (deleted) feed.wrote(id);
      return deleted;
    },

    async touchMany(entries: readonly LastUsedEntry[]): Promise<void> {
      // A key listed twice keeps its latest time; ids in a fixed order, batches of 500.
      const latest = new Map<string, number>();
      for (const { id, lastUsedAt } of entries) {
        const at = lastUsedAt.getTime();
        if (!(latest.get(id)! >= at)) latest.set(id, at);
      }
      const sorted = [...latest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (let i = 0; i < sorted.length; i += 500) {
        const batch = sorted.slice(i, i + 500);
        const given = batch
          .map((_, n) => (n === 0 ? `SELECT CAST(? AS BINARY) AS id, ${AT} AS at` : 'SELECT ?, ?'))
          .join(' UNION ALL ');
        const values = batch.flatMap(([id, at]) => [id, datetime(new Date(at))]);
        await retried(() =>
          run(
            `UPDATE ${table} AS k JOIN (${given}) AS g ON k.id = g.id
                SET k.last_used_at = IF(k.last_used_at IS NULL OR k.last_used_at < g.at, g.at, k.last_used_at)`,
            values,
          ),
        );
      }
    },

    async revokeByOwner(scope: string, owner: string, at: Date): Promise<string[]> {
      const when = datetime(at);
      const ids = await transaction(async (runIn) => {
        // Lock the owner's live rows, then revoke exactly those and log each.
        const rows = await rowsOf(
          runIn(
            `SELECT id FROM ${table}
              WHERE scope = CAST(? AS BINARY) AND owner = CAST(? AS BINARY) AND revoked_at IS NULL
              ORDER BY id FOR UPDATE`,
            [scope, owner],
          ),
        );
        const found = rows.map((row) => text(row.id));
        for (let i = 0; i < found.length; i += 500) {
          const batch = found.slice(i, i + 500);
          const marks = batch.map(() => '?').join(', ');
          await runIn(
            `UPDATE ${table} SET revoked_at = ${AT} WHERE id IN (${marks}) AND revoked_at IS NULL`,
            [when, ...batch],
          );
          await runIn(
            `INSERT INTO ${names.changes} (key_id, changed_at) VALUES ${batch.map(() => '(?, UTC_TIMESTAMP(3))').join(', ')}`,
            batch,
          );
        }
        return { commit: true, value: found };
      });
      for (const id of ids) feed.wrote(id);
      return ids;
    },
  };
}
