/**
 * The MySQL and MariaDB adapter, over a `mysql2/promise` pool (mysql2 3). Keys live in one InnoDB
 * table; every instance of your server that shares the database sees the same keys. Pass the pool
 * your application already has; keymint runs its statements there. Apply the schema once with
 * {@link migrate} (or run `keymint/sql/mysql.sql` with your migration tool): the adapter itself
 * never creates tables. MySQL has no LISTEN: revocations reach other processes through a change
 * log table that every subscribed instance reads five times a second (see {@link mysqlAdapter}).
 *
 * ```sh
 * npm install keymint mysql2
 * ```
 *
 * @example
 * ```ts
 * import mysql from 'mysql2/promise';
 * import { createKeymint } from 'keymint';
 * import { migrate, mysqlAdapter } from 'keymint/adapters/mysql';
 *
 * const pool = mysql.createPool({
 *   uri: process.env.DATABASE_URL, // mysql://user:password@host:3306/app
 *   connectTimeout: 5_000, // a server that does not answer fails calls within seconds
 * });
 * await migrate(pool);
 *
 * const keymint = createKeymint({ adapter: mysqlAdapter(pool) });
 * const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
 * ```
 *
 * @module
 */
import type {
  InsertResult,
  InvalidationListener,
  KeyAdapter,
  KeyChanges,
  KeyPatch,
  LastUsedEntry,
  ListQuery,
  ModifyCondition,
  ModifyResult,
  StoredApiKey,
  SubscribeOptions,
  Subscription,
} from '../../adapter.js';
import { KeymintError } from '../../errors.js';
import { missingTable, outdatedTable } from '../../internal/sql.js';
import {
  AT,
  CHANGE_COLUMNS,
  COLUMNS,
  datetime,
  fromRow,
  INSERT_COLUMNS,
  INSERT_PLACEHOLDERS,
  insertValues,
  text,
} from './rows.js';
import {
  MIGRATION_LOCK,
  migrationsTableSql,
  MYSQL_STEPS,
  mysqlNames,
  recordStepSql,
  schemaSql,
  stepFileName,
  stepText,
  type MysqlAdapterOptions,
  type MysqlNames,
} from './schema.js';
import { failureMethods } from './failures.js';
import { changeFeed } from './subscribe.js';

export type { MysqlAdapterOptions } from './schema.js';

/** The query options the adapter passes: mysql2's defaults, whatever the pool was given. */
interface QueryOptions {
  sql: string;
  values?: unknown[];
  rowsAsArray?: boolean;
  nestTables?: boolean;
  typeCast?: boolean;
}

/**
 * One connection taken from the pool, as mysql2's `PoolConnection` has it.
 *
 * @example
 * ```ts
 * import type { MysqlConnection } from 'keymint/adapters/mysql';
 * declare const connection: MysqlConnection;
 * connection.release();
 * ```
 */
export interface MysqlConnection {
  query(options: QueryOptions): Promise<[unknown, unknown]>;
  release(): void;
  destroy(): void;
}

/**
 * What the adapter needs from a pool: mysql2/promise's `query` and `getConnection` (transactions
 * take a connection of their own). A pool from `mysql.createPool()` of `mysql2/promise` is the
 * usual choice; a callback pool works through its `.promise()`.
 *
 * @example
 * ```ts
 * import mysql from 'mysql2/promise';
 * import type { MysqlPool } from 'keymint/adapters/mysql';
 *
 * const pool: MysqlPool = mysql.createPool({ uri: process.env.DATABASE_URL });
 * ```
 */
export interface MysqlPool {
  query(options: QueryOptions): Promise<[unknown, unknown]>;
  getConnection(): Promise<MysqlConnection>;
}

const MODULE = 'keymint/adapters/mysql';
/** Attempts of a statement or transaction that InnoDB chose as a deadlock victim. */
const DEADLOCK_ATTEMPTS = 5;
/** Every this many logged changes, the writer also prunes change-log rows older than KEEP_S. */
const PRUNE_EVERY = 64;
const KEEP_S = 300;

function checkPool(pool: unknown, fn: string): void {
  const candidate = pool as Partial<MysqlPool> & { promise?: unknown; pool?: unknown };
  if (typeof candidate?.query !== 'function' || typeof candidate.getConnection !== 'function') {
    throw new KeymintError(
      'CONFIG',
      `${fn}() needs a mysql2 pool: mysql.createPool({ uri }) from 'mysql2/promise'.`,
    );
  }
  // A callback pool (from 'mysql2', not 'mysql2/promise') answers with callbacks, not promises.
  if (typeof candidate.promise === 'function' && candidate.pool === undefined) {
    throw new KeymintError(
      'CONFIG',
      `${fn}() needs a promise pool: pass pool.promise(), or create it with 'mysql2/promise'.`,
    );
  }
}

const errorCode = (error: unknown): unknown =>
  typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;

const isDeadlock = (error: unknown) => errorCode(error) === 'ER_LOCK_DEADLOCK';
const isDuplicate = (error: unknown) => errorCode(error) === 'ER_DUP_ENTRY';

/** `Duplicate entry '...' for key 'PRIMARY'` (MySQL 8: `'table.PRIMARY'`): the id was taken. */
const duplicatesId = (error: unknown) =>
  /for key '(?:[^']*\.)?PRIMARY'$/.test(String((error as { sqlMessage?: unknown }).sqlMessage));

type Sql = { sqlMessage?: unknown };
type Run = (sql: string, values?: unknown[]) => Promise<unknown>;
type Rows = Record<string, unknown>[];
const rowsOf = async (pending: Promise<unknown>) => (await pending) as Rows;
const affected = (result: unknown) => Number((result as { affectedRows?: number }).affectedRows);

/**
 * Creates a {@link KeyAdapter} over a `mysql2/promise` pool. Bad options throw a `KeymintError`
 * with code `CONFIG`. The primary key and the unique `(scope, name)` index make `insert` and
 * renames atomic across processes; names, scopes and ids are VARBINARY, so that they compare and
 * sort by code point (as UTF-8 bytes), with no padding or case folding; `list` pages by name.
 * Timestamps are DATETIME(3) in UTC, written as text: neither the server's nor the session's time
 * zone nor the pool's `timezone` option changes what is stored or read.
 *
 * `update({ lastUsedAt })` and `touchMany` keep the later of the stored and the given time, so a
 * late background write from another process never moves it back; `touchMany` writes a batch in
 * one statement and ignores ids that have no record. A statement or transaction that InnoDB
 * picks as a deadlock victim is retried (up to 5 times); any other error is thrown, and the core
 * reports it as `STORE_FAILURE` with the driver's error as `cause`.
 *
 * Revocations, deletes and every `modify` that changed a record are written to the change log
 * `<table>_changes` in the same transaction as the change, so they are logged when, and only
 * when, the change commits. `subscribe` (which `createKeymint` calls for its verify cache, and
 * `keymint.close()` ends) reads the log every 200 ms through the pool: one primary-key range read
 * (`WHERE seq > ?`) that finds nothing when nothing changed. Another process's revocation thus
 * reaches this one's cache in about 200 ms (tested below 1 s); this process's own changes reach
 * its listeners at once. When the poll fails for 600 ms (the server is down, the pool exhausted),
 * the listener's `reset()` is called on every failed poll, so that no cache answers from memory
 * alone. Writers prune log rows older than 5 minutes; a process that could not read the log for
 * that long has reset its cache anyway.
 *
 * When the table does not exist, methods throw an error that says to run {@link migrate}.
 *
 * Give the pool a `connectTimeout` (mysql2's default is 10 s); mysql2 has no query timeout of
 * its own, so bound slow statements on the server: `innodb_lock_wait_timeout` (50 s by default)
 * for row locks, and `max_statement_time` (MariaDB, seconds) or `max_execution_time` (MySQL,
 * milliseconds, SELECT only) per session or globally. keymint's `storeTimeout` bounds every call
 * anyway, and `verifyKey` fails closed.
 *
 * @example
 * ```ts
 * import mysql from 'mysql2/promise';
 * import { createKeymint } from 'keymint';
 * import { mysqlAdapter } from 'keymint/adapters/mysql';
 *
 * const pool = mysql.createPool({ uri: process.env.DATABASE_URL, connectTimeout: 5_000 });
 * const keymint = createKeymint({
 *   adapter: mysqlAdapter(pool, { database: 'auth', table: 'api_keys' }),
 * });
 * ```
 */
export function mysqlAdapter(pool: MysqlPool, options?: MysqlAdapterOptions): KeyAdapter {
  checkPool(pool, 'mysqlAdapter');
  const names = mysqlNames(options, 'mysqlAdapter');
  const table = names.table;
  let logged = 0;

  const failure = (error: unknown): unknown => {
    if (errorCode(error) === 'ER_NO_SUCH_TABLE') {
      // The server names the table: the keys, or one that a later step added (the failures).
      const named = /^Table '([^']+)' doesn't exist/.exec(String((error as Sql).sqlMessage));
      return missingTable(named?.[1] ?? names.display, MODULE, error);
    }
    if (errorCode(error) === 'ER_BAD_FIELD_ERROR')
      return outdatedTable(names.display, MODULE, error);
    return error;
  };
  const on =
    (target: { query(options: QueryOptions): Promise<[unknown, unknown]> }): Run =>
    async (sql, values = []) => {
      try {
        // Row objects and mysql2's own type casting, whatever the pool's options say.
        const [result] = await target.query({
          sql,
          values,
          rowsAsArray: false,
          nestTables: false,
          typeCast: true,
        });
        return result;
      } catch (error) {
        throw failure(error);
      }
    };
  const run = on(pool);

  /** One statement, retried when InnoDB picks it as a deadlock victim. */
  async function retried<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (!isDeadlock(error) || attempt >= DEADLOCK_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Runs `fn` in a transaction on a connection of its own: committed when it returns
   * `{ commit: true }`, rolled back otherwise or when it throws. A connection whose rollback
   * fails is destroyed rather than put back in the pool.
   */
  function transaction<T>(fn: (run: Run) => Promise<{ commit: boolean; value: T }>): Promise<T> {
    return retried(async () => {
      const connection = await pool.getConnection();
      const runOn = on(connection);
      let broken = false;
      try {
        await runOn('START TRANSACTION');
        const { commit, value } = await fn(runOn);
        await runOn(commit ? 'COMMIT' : 'ROLLBACK');
        return value;
      } catch (error) {
        await runOn('ROLLBACK').catch(() => (broken = true));
        throw error;
      } finally {
        if (broken) connection.destroy();
        else connection.release();
      }
    });
  }

  const failures = failureMethods(run, names);
  const feed = changeFeed((sql, values) => rowsOf(run(sql, values)), names.changes);

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

  const select = `SELECT ${COLUMNS} FROM ${table}`;
  const find = async (runIn: Run, id: string, lock = '') => {
    const rows = await rowsOf(runIn(`${select} WHERE id = ?${lock}`, [id]));
    return rows[0] === undefined ? null : fromRow(rows[0]);
  };

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

    findById(id: string): Promise<StoredApiKey | null> {
      return find(run, id);
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
          // The key's wrong-secret window goes with it.
          await runIn(`DELETE FROM ${names.failures} WHERE id = ?`, [id]);
          await logChange(runIn, id);
        }
        return { commit: true, value: gone };
      });
      if (deleted) feed.wrote(id);
      return deleted;
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

    async deleteExpired(before: Date): Promise<number> {
      const at = datetime(before);
      const deleted = affected(
        await retried(() => run(`DELETE FROM ${table} WHERE expires_at <= ${AT}`, [at])),
      );
      // Wrong-secret windows that have ended: the counter table stays small.
      await retried(() => failures.sweep());
      return deleted;
    },

    reserveFailure: (id: string, limit: number, windowMs: number) =>
      retried(() => failures.reserveFailure(id, limit, windowMs)),
    releaseFailure: (id: string, window: number) =>
      retried(() => failures.releaseFailure(id, window)),

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

    subscribe(listener: InvalidationListener, options?: SubscribeOptions): Promise<Subscription> {
      return feed.subscribe(listener, options?.signal);
    },
  } satisfies KeyAdapter;
}

/**
 * Upgrades the database to the current schema in place, with its data: applies each step of
 * {@link mysqlSteps} that `<table>_migrations` does not list yet, in order, and records it. Safe
 * to call at every start, also from several processes at once: it runs on one connection that
 * first takes the server-wide lock `GET_LOCK('keymint:migrate')` (waiting up to 60 s), so a second
 * caller waits and then finds the steps applied. MySQL commits DDL at once, so a step is not one
 * transaction: each statement is idempotent, and a step cut short (a crash) runs again in full
 * next time. Creates the database (when the `database` option is given) if needed. Takes the same
 * options as {@link mysqlAdapter}; bad options reject with `CONFIG`.
 *
 * @example
 * ```ts
 * import mysql from 'mysql2/promise';
 * import { migrate } from 'keymint/adapters/mysql';
 *
 * const pool = mysql.createPool({ uri: process.env.DATABASE_URL });
 * await migrate(pool, { database: 'auth' });
 * ```
 */
export async function migrate(pool: MysqlPool, options?: MysqlAdapterOptions): Promise<void> {
  checkPool(pool, 'migrate');
  const names = mysqlNames(options, 'migrate');
  const connection = await pool.getConnection();
  const run = async (sql: string) =>
    (await connection.query({ sql, rowsAsArray: false, nestTables: false, typeCast: true }))[0];
  let locked = false;
  try {
    const [row] = (await run(`SELECT GET_LOCK('${MIGRATION_LOCK}', 60) AS locked`)) as Rows;
    if (Number(row?.locked) !== 1) {
      throw new Error(
        `migrate() waited 60 s for the lock '${MIGRATION_LOCK}': another migration holds it.`,
      );
    }
    locked = true;
    await applySteps(run, names);
  } finally {
    if (locked) await run(`SELECT RELEASE_LOCK('${MIGRATION_LOCK}')`).catch(() => {});
    connection.release();
  }
}

async function applySteps(run: (sql: string) => Promise<unknown>, names: MysqlNames) {
  if (names.database !== undefined) {
    await run(`CREATE DATABASE IF NOT EXISTS ${names.database} CHARACTER SET utf8mb4`);
  }
  await run(migrationsTableSql(names));
  const applied = new Set(
    ((await run(`SELECT version FROM ${names.migrations}`)) as Rows).map((r) => Number(r.version)),
  );
  for (const step of MYSQL_STEPS) {
    if (applied.has(step.version)) continue;
    for (const statement of step.statements(names)) {
      try {
        await run(statement);
      } catch (error) {
        // A step's ALTER that applied before a crash cut the step short: already done.
        const code = errorCode(error);
        if (code !== 'ER_DUP_FIELDNAME' && code !== 'ER_DUP_KEYNAME') throw error;
      }
    }
    await run(recordStepSql(names, step));
  }
}

/**
 * The whole current schema as SQL text, for your own migration tool on a new database: every
 * step of {@link mysqlSteps} in order, then `<table>_migrations` with a row for each, so that
 * {@link migrate} later finds them applied. For the default options it is the file
 * `keymint/sql/mysql.sql` shipped in the package. Run it once, on a new database: a second run
 * stops at the ALTER of step 2, whose columns exist ({@link migrate} is the idempotent way).
 * Several statements: run it with the `mysql` client, or on a connection with
 * `multipleStatements: true`.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * import { mysqlSchema } from 'keymint/adapters/mysql';
 *
 * writeFileSync('migrations/0007_api_keys.sql', mysqlSchema({ database: 'auth' }));
 * ```
 */
export function mysqlSchema(options?: MysqlAdapterOptions): string {
  return schemaSql(mysqlNames(options, 'mysqlSchema'));
}

/**
 * One step of the MySQL schema, as {@link mysqlSteps} lists them.
 *
 * @example
 * ```ts
 * import { mysqlSteps, type MysqlSchemaStep } from 'keymint/adapters/mysql';
 * const last: MysqlSchemaStep = mysqlSteps().at(-1)!;
 * ```
 */
export interface MysqlSchemaStep {
  /** 1, 2, ...: apply in this order. `migrate()` records it in `<table>_migrations`. */
  version: number;
  /** As in the shipped file's name: `sql/mysql/0001-initial.sql` is version 1, `initial`. */
  name: string;
  /** The file the package ships it as, under `keymint/sql/mysql/` (for the default names). */
  file: string;
  /** The step's SQL for the names of `options`: statements ending in `;`. */
  sql: string;
}

/**
 * The numbered steps {@link migrate} applies, for your own migration tool. The text is that of
 * the files `keymint/sql/mysql/NNNN-name.sql`, for the names of `options`. Record each in
 * `<table>_migrations` (`version`, `name`, `applied_at`) if you want `migrate()` to skip it later.
 *
 * @example
 * ```ts
 * import { mysqlSteps } from 'keymint/adapters/mysql';
 * for (const step of mysqlSteps({ database: 'auth' })) console.log(step.file, step.sql);
 * ```
 */
export function mysqlSteps(options?: MysqlAdapterOptions): MysqlSchemaStep[] {
  const names = mysqlNames(options, 'mysqlSteps');
  return MYSQL_STEPS.map((step) => ({
    version: step.version,
    name: step.name,
    file: stepFileName(step),
    sql: stepText(step, names),
  }));
}
