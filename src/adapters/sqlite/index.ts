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
  KeyPatch,
  LastUsedEntry,
  ListQuery,
  StoredApiKey,
  Subscription,
} from '../../adapter.js';
import { KeymintError } from '../../errors.js';
import { localChannel, type LocalChannel } from '../../internal/local-channel.js';
import { adapterOptions, missingTable, rowToRecord, type KeyRow } from '../../internal/sql.js';
import { sqliteSchema, tableOption, type SqliteAdapterOptions } from './schema.js';

export { sqliteSchema, type SqliteAdapterOptions } from './schema.js';

const MODULE = 'keymint/adapters/sqlite';
const OPTIONS = ['table'] as const;

/**
 * A prepared statement, as better-sqlite3 makes them.
 *
 * @example
 * ```ts
 * import type { SqliteStatement } from 'keymint/adapters/sqlite';
 * const count = (statement: SqliteStatement) => statement.get() as { n: number };
 * ```
 */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/**
 * What the adapter needs from a database: better-sqlite3's `prepare` and `exec`. A better-sqlite3
 * `Database` fits; the type is spelled out here so that keymint's types do not depend on
 * `@types/better-sqlite3`.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import type { SqliteDatabase } from 'keymint/adapters/sqlite';
 * const db: SqliteDatabase = new Database('keymint.db');
 * ```
 */
export interface SqliteDatabase {
  prepare(source: string): SqliteStatement;
  exec(source: string): unknown;
  /** better-sqlite3's flag; when true, {@link migrate} nests in a savepoint. */
  readonly inTransaction?: boolean;
}

type Database = SqliteDatabase;

function checkDatabase(db: unknown, fn: string): asserts db is Database {
  const candidate = db as Partial<Database> | null;
  if (typeof candidate?.prepare !== 'function' || typeof candidate.exec !== 'function') {
    throw new KeymintError(
      'CONFIG',
      `${fn}() needs a better-sqlite3 Database: new Database('keymint.db') from 'better-sqlite3'.`,
    );
  }
}

const ms = (date: Date | null | undefined) => (date ? date.getTime() : null);

/**
 * Applies keymint's schema ({@link sqliteSchema}) to the database, in one transaction (a savepoint
 * when called inside a transaction of yours). Idempotent:
 * run it at every start, or apply the SQL with your own migration tool instead.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { migrate } from 'keymint/adapters/sqlite';
 * migrate(new Database('keymint.db'));
 * ```
 */
export function migrate(db: Database, options?: SqliteAdapterOptions): void {
  checkDatabase(db, 'migrate');
  const sql = sqliteSchema(adapterOptions<SqliteAdapterOptions>(options, 'migrate', OPTIONS));
  // Inside a transaction of the caller's, a savepoint: BEGIN would fail there.
  const nested = db.inTransaction === true;
  db.exec(nested ? 'SAVEPOINT keymint_migrate' : 'BEGIN IMMEDIATE');
  try {
    db.exec(sql);
    db.exec(nested ? 'RELEASE keymint_migrate' : 'COMMIT');
  } catch (error) {
    try {
      // SQLite may have rolled back already (SQLITE_FULL, say): the first error is the one to see.
      if (db.inTransaction !== false) {
        db.exec(nested ? 'ROLLBACK TO keymint_migrate; RELEASE keymint_migrate' : 'ROLLBACK');
      }
    } catch {
      // Nothing left to roll back.
    }
    throw error;
  }
}

/** A channel per Database object and table: SQLite has no cross-process push. */
const channels = new WeakMap<object, Map<string, LocalChannel>>();

function channelOf(db: object, table: string): LocalChannel {
  let tables = channels.get(db);
  if (!tables) channels.set(db, (tables = new Map()));
  let channel = tables.get(table);
  if (!channel) tables.set(table, (channel = localChannel()));
  return channel;
}

/**
 * Creates a {@link KeyAdapter} over a better-sqlite3 `Database` whose schema {@link migrate} has
 * applied. Every method is one SQL statement, so uniqueness holds across processes sharing the
 * file; `(scope, name)` and `id` are enforced by unique indexes. A busy or closed database throws,
 * which keymint reports as `STORE_FAILURE`.
 *
 * `subscribe` reaches every adapter over the same `Database` object in this process; SQLite
 * cannot tell other processes, so there a revocation is seen within the `cache.ttl` bound.
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
    insert: `INSERT INTO ${t} (id, scope, name, role, secret_hash, created_at, expires_at, last_used_at, revoked_at, metadata)
      VALUES (@id, @scope, @name, @role, @secretHash, @createdAt, @expiresAt, @lastUsedAt, @revokedAt, @metadata)`,
    find: `SELECT * FROM ${t} WHERE id = ?`,
    list: `SELECT * FROM ${t} WHERE scope = @scope
      AND (@after IS NULL OR name > @after)
      AND (@activeAt IS NULL OR expires_at IS NULL OR expires_at > @activeAt)
      ORDER BY name LIMIT @limit`,
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
  // Prepared on first use: the table may be created after the adapter.
  const prepared = new Map<keyof typeof sql, SqliteStatement>();
  function statement(name: keyof typeof sql): SqliteStatement {
    let found = prepared.get(name);
    if (!found) {
      try {
        found = db.prepare(sql[name]);
      } catch (error) {
        if (error instanceof Error && /no such table/.test(error.message)) {
          throw missingTable(table, MODULE, error);
        }
        throw error;
      }
      prepared.set(name, found);
    }
    return found;
  }
  const read = (row: unknown) => (row ? rowToRecord(row as KeyRow) : null);
  const channel = channelOf(db, table);

  return {
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
      return read(statement('find').get(id));
    },

    async list({ scope, limit, after, activeAt }: ListQuery): Promise<StoredApiKey[]> {
      const rows = statement('list').all({
        scope,
        limit,
        after: after ?? null,
        activeAt: ms(activeAt),
      });
      return rows.map((row) => rowToRecord(row as KeyRow));
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
      if (updated && patch.revokedAt) channel.publish(id);
      return updated;
    },

    async touchMany(entries: readonly LastUsedEntry[]): Promise<void> {
      if (entries.length === 0) return;
      const batch = entries.map((entry) => [entry.id, entry.lastUsedAt.getTime()]);
      statement('touchMany').run(JSON.stringify(batch));
    },

    async delete(id: string): Promise<boolean> {
      const deleted = Number(statement('delete').run(id).changes) > 0;
      if (deleted) channel.publish(id);
      return deleted;
    },

    subscribe: (listener: InvalidationListener): Promise<Subscription> =>
      channel.subscribe(listener),

    async deleteExpired(before: Date): Promise<number> {
      return Number(statement('deleteExpired').run(before.getTime()).changes);
    },

    async countLive(scope: string, at: Date): Promise<number> {
      const row = statement('countLive').get(scope, at.getTime()) as { live: number | bigint };
      return Number(row.live);
    },
  } satisfies KeyAdapter;
}
