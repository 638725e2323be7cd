import { KeymintError } from '../../errors.js';
import { missingTable, outdatedTable } from '../../internal/sql.js';
import type { MysqlNames } from './schema.js';

/** The query options the adapter passes: mysql2's defaults, whatever the pool was given. */
export interface QueryOptions {
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
  /**
   * mysql2's prepared statements (`pool.execute`). Optional: the lookup by id uses it when the
   * pool is a mysql2 pool with the default row options, and `query` otherwise.
   */
  execute?(sql: string, values: string[]): Promise<[unknown, unknown]>;
}

/** The parts of a mysql2 pool's connection options that change what a row looks like. */
interface RowConfig {
  rowsAsArray?: unknown;
  nestTables?: unknown;
  typeCast?: unknown;
}

/**
 * Whether `pool` is a mysql2 pool whose rows come as the adapter reads them (objects, not
 * nested, mysql2's own type casting): then statements need no per-query options, which cost
 * mysql2 an options merge on every call. Anything else (another pool, options that cannot be
 * read) gets the options on every statement.
 */
function plainRows(pool: MysqlPool): boolean {
  const config = (pool as { pool?: { config?: { connectionConfig?: RowConfig } } }).pool?.config
    ?.connectionConfig;
  return (
    typeof config === 'object' &&
    config !== null &&
    !config.rowsAsArray &&
    !config.nestTables &&
    config.typeCast === true
  );
}

/** mysql2's callback `execute`, as its core pool (under the promise pool) has it. */
type CoreExecute = (
  sql: string,
  values: unknown[],
  done: (error: unknown, rows: unknown, fields: unknown) => void,
) => void;

/**
 * The callback pool under a mysql2 promise pool (`pool.pool`), for the lookup by id: the promise
 * wrapper captures a stack trace on every call (its `trace` option, on by default), which
 * measured 8-13% of a cache-off verification's CPU (bench/probes/mysql-cold.mjs); keymint's
 * errors carry their own cause. Undefined for anything else.
 */
function coreExecute(
  pool: MysqlPool,
): ((sql: string, values: unknown[]) => Promise<[unknown, unknown]>) | undefined {
  const core = (pool as { pool?: { execute?: unknown } }).pool;
  if (typeof core?.execute !== 'function') return undefined;
  const execute = core.execute as CoreExecute;
  return (sql, values) =>
    new Promise((resolve, reject) => {
      execute.call(core, sql, values, (error, rows, fields) =>
        error ? reject(error) : resolve([rows, fields]),
      );
    });
}

export const MODULE = 'keymint/adapters/mysql';
/** Attempts of a statement or transaction that InnoDB chose as a deadlock victim. */
const DEADLOCK_ATTEMPTS = 5;

/** Throws CONFIG unless `pool` is a mysql2 promise pool. */
export function checkPool(pool: unknown, fn: string): void {
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

export const errorCode = (error: unknown): unknown =>
  typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;

const isDeadlock = (error: unknown) => errorCode(error) === 'ER_LOCK_DEADLOCK';
export const isDuplicate = (error: unknown) => errorCode(error) === 'ER_DUP_ENTRY';

/** `Duplicate entry '...' for key 'PRIMARY'` (MySQL 8: `'table.PRIMARY'`): the id was taken. */
export const duplicatesId = (error: unknown) =>
  /for key '(?:[^']*\.)?PRIMARY'$/.test(String((error as { sqlMessage?: unknown }).sqlMessage));

/** Runs one statement: rows for a SELECT, mysql2's result header otherwise. */
export type Run = (sql: string, values?: unknown[]) => Promise<unknown>;
export type Rows = Record<string, unknown>[];
export const rowsOf = async (pending: Promise<unknown>) => (await pending) as Rows;
export const affected = (result: unknown) =>
  Number((result as { affectedRows?: number }).affectedRows);

/** How the adapter's modules run statements on the pool. */
export interface Runner {
  /** One statement on the pool. */
  run: Run;
  /**
   * One read on the pool as a prepared statement (mysql2 prepares it once per connection, then
   * sends only the values, in the binary protocol), when the pool can; else as `run`.
   */
  read: Run;
  /** `fn`, run again when InnoDB picks it as a deadlock victim (up to 5 times in all). */
  retried<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Runs `fn` in a transaction on a connection of its own: committed when it returns
   * `{ commit: true }`, rolled back otherwise or when it throws. A connection whose rollback
   * fails is destroyed rather than put back in the pool. Retried as a whole on a deadlock.
   */
  transaction<T>(fn: (run: Run) => Promise<{ commit: boolean; value: T }>): Promise<T>;
  /** Runs `fn` on one connection of the pool (no transaction), then gives the connection back. */
  session<T>(fn: (run: Run) => Promise<T>): Promise<T>;
}

/** The statement runners over `pool`, with the driver's errors made actionable. */
export function runner(pool: MysqlPool, names: MysqlNames): Runner {
  const failure = (error: unknown): unknown => {
    if (errorCode(error) === 'ER_NO_SUCH_TABLE') {
      // The server names the table: the keys, or one that a later step added (the failures).
      const named = /^Table '([^']+)' doesn't exist/.exec(
        String((error as { sqlMessage?: unknown }).sqlMessage),
      );
      return missingTable(named?.[1] ?? names.display, MODULE, error);
    }
    if (errorCode(error) === 'ER_BAD_FIELD_ERROR') {
      return outdatedTable(names.display, MODULE, error);
    }
    return error;
  };
  const plain = plainRows(pool);
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

  async function retried<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (!isDeadlock(error) || attempt >= DEADLOCK_ATTEMPTS) throw error;
      }
    }
  }

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

  async function session<T>(fn: (run: Run) => Promise<T>): Promise<T> {
    const connection = await pool.getConnection();
    try {
      return await fn(on(connection));
    } finally {
      connection.release();
    }
  }

  type Call = (sql: string, values: unknown[]) => Promise<[unknown, unknown]>;
  const direct =
    (call: Call): Run =>
    async (sql, values = []) => {
      try {
        return (await call(sql, values))[0];
      } catch (error) {
        throw failure(error);
      }
    };
  if (!plain) {
    const run = on(pool);
    return { run, read: run, retried, transaction, session };
  }
  const query = pool.query as unknown as Call;
  const core = coreExecute(pool);
  return {
    run: direct((sql, values) => query.call(pool, sql, values)),
    read: core
      ? direct(core)
      : typeof pool.execute === 'function'
        ? direct((sql, values) => pool.execute!(sql, values as string[]))
        : direct((sql, values) => query.call(pool, sql, values)),
    retried,
    transaction,
    session,
  };
}
