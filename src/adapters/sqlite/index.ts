/**
 * The SQLite adapter, over a [better-sqlite3](https://github.com/WiseLibs/better-sqlite3)
 * `Database` you open: keys in one file, for a server on one machine. Apply the schema once with
 * {@link migrate}; the adapter never creates tables.
 *
 * ```sh
 * npm install keymint better-sqlite3
 * ```
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { createKeymint } from 'keymint';
 * import { migrate, sqliteAdapter } from 'keymint/adapters/sqlite';
 *
 * const db = new Database('keymint.db');
 * db.pragma('journal_mode = WAL');
 * migrate(db);
 * const keymint = createKeymint({ adapter: sqliteAdapter(db) });
 * ```
 *
 * @module
 */
import type {
  InsertResult,
  KeyAdapter,
  InvalidationListener,
  KeyChanges,
  KeyPatch,
  LastUsedEntry,
  ListQuery,
  ModifyCondition,
  ModifyResult,
  StoredApiKey,
  SubscribeOptions,
  Subscription,
  UsageOutcome,
  UsageRequest,
} from '../../adapter.js';
import { usageOutcome, usageParams, usageStatement } from '../../internal/usage-sql.js';
import {
  adapterOptions,
  missingTable,
  outdatedTable,
  permissionsText,
  rowToRecord,
  type KeyRow,
} from '../../internal/sql.js';
import { attachTwin, FIND_BY_ID_SYNC } from '../../internal/sync-twin.js';
import { changeFeed, type ChangeFeed } from './change-feed.js';
import { failureMethods } from './failures.js';
import { rowReader } from './find.js';
import { modifier } from './modify.js';
import {
  checkDatabase,
  MODULE,
  OPTIONS,
  type SqliteDatabase,
  type SqliteStatement,
} from './database.js';
import { tableOption, type SqliteAdapterOptions } from './schema.js';

export type { SqliteDatabase, SqliteStatement } from './database.js';
export { migrate } from './migrate.js';
export {
  sqliteSchema,
  sqliteSteps,
  type SqliteAdapterOptions,
  type SqliteSchemaStep,
} from './schema.js';

type Database = SqliteDatabase;

const ms = (date: Date | null | undefined) => (date ? date.getTime() : null);

/** One feed per Database object and table, shared by every adapter over them. */
const feeds = new WeakMap<object, Map<string, ChangeFeed>>();

function feedOf(db: Database, table: string): ChangeFeed {
  let tables = feeds.get(db);
  if (!tables) feeds.set(db, (tables = new Map()));
  let feed = tables.get(table);
  if (!feed) tables.set(table, (feed = changeFeed(db, table)));
  return feed;
}

/**
 * Creates a {@link KeyAdapter} over a better-sqlite3 `Database` whose schema {@link migrate} has
 * applied. Every method is one SQL statement, so uniqueness holds across processes sharing the
 * file; `(scope, name)` and `id` are enforced by unique indexes. A busy or closed database throws,
 * which keymint reports as `STORE_FAILURE`.
 *
 * `subscribe` tells every process on the file of a revocation or deletion within about a second:
 * triggers (schema step 2, `0002-change-log.sql`) log each change in `<table>_changes` in the
 * same transaction as the change, whoever writes it (keymint, the `keymint` command, your own
 * SQL), and a subscribed adapter polls the log every 200 ms (`PRAGMA data_version` first, so an
 * idle poll reads nothing; on an unref'd timer that `close()` stops). Adapters over the same
 * `Database` object hear of its own writes at once. A poll on a locked file fails at once and
 * is retried; one that keeps failing for 600 ms resets the listeners (the verify cache empties),
 * so that no cache serves a key unchecked for much longer than a second.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { createKeymint } from 'keymint';
 * import { migrate, sqliteAdapter } from 'keymint/adapters/sqlite';
 *
 * const db = new Database('keymint.db');
 * migrate(db);
 * const keymint = createKeymint({ adapter: sqliteAdapter(db) });
 * ```
 */
export function sqliteAdapter(db: Database, options?: SqliteAdapterOptions): KeyAdapter {
  checkDatabase(db, 'sqliteAdapter');
  const table = tableOption(
    adapterOptions<SqliteAdapterOptions>(options, 'sqliteAdapter', OPTIONS),
  );
  const t = `"${table}"`;
  const sql = {
    insert: `INSERT INTO ${t} (id, scope, name, role, secret_hash, created_at, expires_at, last_used_at, revoked_at, metadata,
        ttl_seconds, previous_secret_hash, previous_secret_expires_at, rotated_at, owner, permissions, limits)
      VALUES (@id, @scope, @name, @role, @secretHash, @createdAt, @expiresAt, @lastUsedAt, @revokedAt, @metadata,
        @ttlSeconds, @previousSecretHash, @previousSecretExpiresAt, @rotatedAt, @owner, @permissions, @limits)`,
    consumeUsage: usageStatement(`"${table}_usage"`, (name) => `@${name}`),
    find: `SELECT * FROM ${t} WHERE id = ?`,
    list: `SELECT * FROM ${t} WHERE scope = @scope
      AND (@after IS NULL OR name > @after)
      AND (@activeAt IS NULL OR expires_at IS NULL OR expires_at > @activeAt)
      ORDER BY name LIMIT @limit`,
    // Its own statement, so that the planner takes the (scope, owner, name) index.
    listByOwner: `SELECT * FROM ${t} WHERE scope = @scope AND owner = @owner
      AND (@after IS NULL OR name > @after)
      AND (@activeAt IS NULL OR expires_at IS NULL OR expires_at > @activeAt)
      ORDER BY scope, owner, name LIMIT @limit`,
    // One statement: the change-log trigger logs every row it revokes, in its transaction.
    revokeByOwner: `UPDATE ${t} SET revoked_at = @at
      WHERE scope = @scope AND owner = @owner AND revoked_at IS NULL RETURNING id`,
    // Two-argument MAX() is NULL when either side is: the COALESCEs keep whichever is set.
    update: `UPDATE ${t} SET last_used_at = MAX(COALESCE(last_used_at, @lastUsedAt), COALESCE(@lastUsedAt, last_used_at)),
      revoked_at = COALESCE(revoked_at, @revokedAt), secret_hash = COALESCE(@secretHash, secret_hash)
      WHERE id = @id RETURNING *`,
    // One statement for a whole batch: the entries arrive as one JSON array.
    touchMany: `UPDATE ${t} SET last_used_at = MAX(COALESCE(last_used_at, batch.at), batch.at)
      FROM (SELECT value ->> '$[0]' AS id, MAX(value ->> '$[1]') AS at FROM json_each(?) GROUP BY 1) AS batch
      WHERE ${t}.id = batch.id`,
    delete: `DELETE FROM ${t} WHERE id = ?`,
    deleteExpired: `DELETE FROM ${t} WHERE expires_at <= ?`,
    countLive: `SELECT count(*) AS live FROM ${t} WHERE scope = ? AND revoked_at IS NULL
      AND (expires_at IS NULL OR expires_at > ?)`,
  };
  function prepare(source: string): SqliteStatement {
    try {
      return db.prepare(source);
    } catch (error) {
      if (error instanceof Error && /no such table/.test(error.message)) {
        throw missingTable(table, MODULE, error);
      }
      if (error instanceof Error && /no such column|has no column named/.test(error.message)) {
        throw outdatedTable(table, MODULE, error);
      }
      throw error;
    }
  }
  // Prepared on first use: the table may be created after the adapter.
  const prepared = new Map<keyof typeof sql, SqliteStatement>();
  function statement(name: keyof typeof sql): SqliteStatement {
    let found = prepared.get(name);
    if (!found) {
      found = prepare(sql[name]);
      prepared.set(name, found);
    }
    return found;
  }
  const modifyOnce = modifier({ prepare }, table);
  const read = (row: unknown) => (row ? rowToRecord(row as KeyRow) : null);
  const feed = feedOf(db, table);
  const failures = failureMethods(db, table);
  const find = rowReader(() => statement('find'));
  const findShared = rowReader(() => statement('find'), { shared: true });

  const adapter = {
    async insert(record: StoredApiKey): Promise<InsertResult> {
      try {
        statement('insert').run({
          id: record.id,
          scope: record.scope,
          name: record.name,
          role: record.role,
          secretHash: record.secretHash,
          createdAt: record.createdAt.getTime(),
          expiresAt: ms(record.expiresAt),
          lastUsedAt: ms(record.lastUsedAt),
          revokedAt: ms(record.revokedAt),
          metadata: record.metadata === null ? null : JSON.stringify(record.metadata),
          ttlSeconds: record.ttlSeconds ?? null,
          previousSecretHash: record.previousSecretHash ?? null,
          previousSecretExpiresAt: ms(record.previousSecretExpiresAt),
          rotatedAt: ms(record.rotatedAt),
          owner: record.owner ?? null,
          permissions: permissionsText(record.permissions),
          limits: record.limits ? JSON.stringify(record.limits) : null,
        });
        return { ok: true };
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return { ok: false, conflict: 'id' };
        if (code === 'SQLITE_CONSTRAINT_UNIQUE') return { ok: false, conflict: 'name' };
        throw error;
      }
    },

    async findById(id: string): Promise<StoredApiKey | null> {
      return find(id);
    },

    async list({ scope, limit, after, activeAt, owner }: ListQuery): Promise<StoredApiKey[]> {
      const params = { scope, limit, after: after ?? null, activeAt: ms(activeAt) };
      const rows =
        owner === undefined
          ? statement('list').all(params)
          : statement('listByOwner').all({ ...params, owner });
      return rows.map((row) => rowToRecord(row as KeyRow));
    },

    async revokeByOwner(scope: string, owner: string, at: Date): Promise<string[]> {
      const rows = statement('revokeByOwner').all({ scope, owner, at: at.getTime() });
      const ids = rows.map((row) => (row as { id: string }).id);
      feed.wroteMany(ids);
      return ids;
    },

    async update(id: string, patch: KeyPatch): Promise<StoredApiKey | null> {
      const updated = read(
        statement('update').get({
          id,
          lastUsedAt: ms(patch.lastUsedAt),
          revokedAt: ms(patch.revokedAt),
          secretHash: patch.secretHash ?? null,
        }),
      );
      if (updated && patch.revokedAt) feed.wrote(id);
      return updated;
    },

    async touchMany(entries: readonly LastUsedEntry[]): Promise<void> {
      if (entries.length === 0) return;
      const batch = entries.map((entry) => [entry.id, entry.lastUsedAt.getTime()]);
      statement('touchMany').run(JSON.stringify(batch));
    },

    async modify(
      id: string,
      changes: KeyChanges,
      condition?: ModifyCondition,
    ): Promise<ModifyResult> {
      const result = modifyOnce(id, changes, condition);
      if (result.ok) feed.wrote(id);
      return result;
    },

    async delete(id: string): Promise<boolean> {
      const deleted = Number(statement('delete').run(id).changes) > 0;
      if (deleted) feed.wrote(id);
      return deleted;
    },

    async subscribe(
      listener: InvalidationListener,
      options?: SubscribeOptions,
    ): Promise<Subscription> {
      options?.signal?.throwIfAborted();
      return feed.subscribe(listener);
    },

    async deleteExpired(before: Date): Promise<number> {
      const deleted = Number(statement('deleteExpired').run(before.getTime()).changes);
      // Wrong-secret windows that have ended: the counter table stays small.
      failures.sweep();
      return deleted;
    },

    reserveFailure: failures.reserveFailure,
    releaseFailure: failures.releaseFailure,
    async consumeUsage(id: string, request: UsageRequest): Promise<UsageOutcome> {
      return usageOutcome(statement('consumeUsage').get(usageParams(id, request)));
    },

    async countLive(scope: string, at: Date): Promise<number> {
      const row = statement('countLive').get(scope, at.getTime()) as { live: number | bigint };
      return Number(row.live);
    },
  } satisfies KeyAdapter;
  // better-sqlite3 answers synchronously: verification calls the lookup without a promise.
  return attachTwin(adapter, FIND_BY_ID_SYNC, 'findById', findShared);
}
