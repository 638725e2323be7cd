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
  InvalidationListener,
  KeyAdapter,
  SubscribeOptions,
  Subscription,
} from '../../adapter.js';
import { failureMethods } from './failures.js';
import { affected, checkPool, rowsOf, runner, type MysqlPool } from './pool.js';
import { finder, readMethods } from './queries.js';
import { AT, datetime } from './rows.js';
import { mysqlNames, type MysqlAdapterOptions } from './schema.js';
import { changeFeed } from './subscribe.js';
import { usageMethods } from './usage.js';
import { writeMethods } from './writes.js';

export { migrate, mysqlSchema, mysqlSteps, type MysqlSchemaStep } from './migrate.js';
export type { MysqlConnection, MysqlPool } from './pool.js';
export type { MysqlAdapterOptions } from './schema.js';

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
  const runs = runner(pool, names);
  const { run, retried } = runs;
  const table = names.table;
  const find = finder(names);
  const failures = failureMethods(run, names);
  const feed = changeFeed((sql, values) => rowsOf(run(sql, values)), names.changes);
  const writes = writeMethods(runs, names, find, feed);

  return {
    ...readMethods(run, runs.read, names, find),
    ...writes,
    ...usageMethods(runs, names),

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

    subscribe(listener: InvalidationListener, options?: SubscribeOptions): Promise<Subscription> {
      return feed.subscribe(listener, options?.signal);
    },
  } satisfies KeyAdapter;
}
