/**
 * The PostgreSQL adapter, over node-postgres (`pg` 8). Keys live in one table; every instance of
 * your server that shares the database sees the same keys. Pass the `Pool` your application
 * already has; keymint runs its queries there, and opens one connection of its own only to listen
 * for revocations when a verify cache subscribes (see {@link postgresAdapter}). Apply the schema
 * once with {@link migrate} (or run `keymint/sql/postgres.sql` with your migration tool): the
 * adapter itself never creates tables.
 *
 * ```sh
 * npm install keymint pg
 * ```
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { createKeymint } from 'keymint';
 * import { migrate, postgresAdapter } from 'keymint/adapters/postgres';
 *
 * // pg waits forever by default; with both timeouts a database that hangs makes calls fail with
 * // STORE_FAILURE within seconds instead of stalling every request that checks a key.
 * const pool = new pg.Pool({
 *   connectionString: process.env.DATABASE_URL,
 *   connectionTimeoutMillis: 5_000, // to connect, or to wait for a free pooled connection
 *   statement_timeout: 4_000, // the server cancels a stuck statement too
 *   query_timeout: 5_000, // the client stops waiting for an answer
 * });
 * pool.on('error', (error) => console.error('idle PostgreSQL connection failed', error));
 * await migrate(pool);
 *
 * const keymint = createKeymint({ adapter: postgresAdapter(pool) });
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
import { failureMethods } from './failures.js';
import { channelName, isClientFactory, listen } from './listen.js';
import { listByOwner, revokeByOwner } from './owners.js';
import {
  checkPool,
  isPgQueryable,
  MODULE,
  queryFunction,
  sqlState,
  type PostgresQueryable,
} from './pool.js';
import { preparedStatement } from './prepared.js';
import {
  CHANGE_COLUMNS,
  COLUMNS,
  fromRow,
  INSERT_COLUMNS,
  insertValues,
  timestamp,
} from './rows.js';
import { postgresNames, preparedOption, type PostgresAdapterOptions } from './schema.js';
import { usageMethods } from './usage.js';

export { migrate, postgresSchema, postgresSteps, type PostgresSchemaStep } from './migrate.js';
export type { PostgresQueryable } from './pool.js';
export type { PostgresAdapterOptions } from './schema.js';

/**
 * Creates a {@link KeyAdapter} over a `pg` pool. Bad options throw a `KeymintError` with code
 * `CONFIG`. Each method is one SQL statement: the primary key and the unique `(scope, name)`
 * constraint make `insert` atomic across processes, and `list` pages by name in code point order.
 *
 * `update({ lastUsedAt })` keeps the later of the stored and the given time (SQL `GREATEST`), so a
 * late background write from another process never moves it back. `touchMany` writes a batch of
 * last-used times the same way in one statement, and ignores ids that have no record.
 *
 * Revocations and deletes are pushed to every process. `update` with `revokedAt` and `delete`
 * send a PostgreSQL notification with the key's id in the same statement as the change, so it is
 * delivered when, and only when, the change commits (nothing when there was no record; last-used
 * and rehash updates send none). The channel is `keymint:` followed by the table as the options
 * name it (`keymint:keymint_api_keys`, `keymint:auth.api_keys`), or, past PostgreSQL's 63 bytes,
 * `keymint#` and 40 hex digits of the SHA-256 of that name; run `LISTEN "keymint:auth.api_keys"`
 * in psql to watch it. Every process that shares a table must therefore name it the same way:
 * `{ schema: 'public' }` in one and no `schema` in another are two channels.
 *
 * `subscribe` (which `createKeymint` calls for its verify cache, and `keymint.close()` ends) is
 * there only when `pool` is a pg `Pool`. It opens one dedicated connection with the pool's client
 * class and options (`pool.Client`, `pool.options`), outside the pool, so that it never takes a
 * pooled connection and `pool.end()` does not wait for it. It resolves once `LISTEN` ran, and
 * rejects with the driver's error when that first connection fails. Once listening, its socket
 * does not keep the process alive (with pg's JavaScript client; `pg-native` has none to release).
 * When the connection drops, the listener's `reset()` is called and the adapter reconnects in the
 * background (after 100 ms, doubling up to 5 s) until `close()`, calling `reset()` again once it
 * listens, since notifications may have been missed in between. Over a single `pg.Client` there
 * is no `subscribe`, and a verify cache relies on its TTL alone. PgBouncer in transaction pooling
 * mode does not support `LISTEN` (notifications get lost without an error): for revocations to be
 * pushed, point the pool at PostgreSQL or at a session-mode pool.
 *
 * When the table does not exist, methods throw an error that says to run {@link migrate}; the
 * core reports it (like any database failure) as `STORE_FAILURE`, with the driver's error as
 * `cause`.
 *
 * Give the pool timeouts: pg's defaults (`connectionTimeoutMillis: 0`, no `query_timeout`) wait
 * forever, so an unreachable or stuck database would hang `verifyKey()` instead of failing closed
 * with `STORE_FAILURE`. `query_timeout` only stops the client waiting: add PostgreSQL's
 * `statement_timeout`, a little shorter, so that the server cancels a statement that runs too
 * long, which makes it unlikely that a create the caller saw fail commits later. Behind PgBouncer,
 * which refuses `statement_timeout` as a start-up parameter, set it on the role instead
 * (`ALTER ROLE app SET statement_timeout = '4s'`). It also bounds `migrate`'s wait for its lock.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { createKeymint } from 'keymint';
 * import { postgresAdapter } from 'keymint/adapters/postgres';
 *
 * const pool = new pg.Pool({
 *   connectionString: process.env.DATABASE_URL,
 *   connectionTimeoutMillis: 5_000,
 *   statement_timeout: 4_000,
 *   query_timeout: 5_000,
 * });
 * const keymint = createKeymint({
 *   adapter: postgresAdapter(pool, { schema: 'auth', table: 'api_keys' }),
 * });
 * ```
 */
export function postgresAdapter(
  pool: PostgresQueryable,
  options?: PostgresAdapterOptions,
): KeyAdapter {
  checkPool(pool, 'postgresAdapter');
  const names = postgresNames(options, 'postgresAdapter');
  const table = names.table;
  const channel = channelName(names.display);
  const subscribable = isClientFactory(pool) ? pool : undefined;

  const query = queryFunction(pool, names);
  const failures = failureMethods(pool, names, MODULE);
  // Named statements go to a pg Pool or Client only: other queryables take the text alone.
  const named = preparedOption(options) && isPgQueryable(pool);
  // Verification's one query, prepared once per connection.
  const find = preparedStatement(query, `SELECT ${COLUMNS} FROM ${table} WHERE id = $1`, named);
  const usage = usageMethods(query, names, named);

  return {
    async insert(record: StoredApiKey): Promise<InsertResult> {
      try {
        await query(
          `INSERT INTO ${table} (${INSERT_COLUMNS})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::int8, $12, $13, $14, $15, $16::jsonb, $17::jsonb)`,
          insertValues(record),
        );
        return { ok: true };
      } catch (error) {
        // 23505 = unique_violation: the primary key (id) or the (scope, name) constraint.
        if (sqlState(error) !== '23505') throw error;
        const constraint = (error as { constraint?: unknown }).constraint;
        return { ok: false, conflict: constraint === names.primaryKey ? 'id' : 'name' };
      }
    },

    async findById(id: string): Promise<StoredApiKey | null> {
      const { rows } = await find([id]);
      return rows[0] === undefined ? null : fromRow(rows[0]);
    },

    async list({ scope, limit, after, activeAt, owner }: ListQuery): Promise<StoredApiKey[]> {
      if (owner !== undefined)
        return listByOwner(query, table, { scope, limit, after, activeAt, owner });
      const { rows } = await query(
        `SELECT ${COLUMNS} FROM ${table}
          WHERE scope = $1
            AND ($2::text IS NULL OR name > $2::text COLLATE "C")
            AND ($3::timestamptz IS NULL OR expires_at IS NULL OR expires_at > $3::timestamptz)
          ORDER BY name COLLATE "C"
          LIMIT $4`,
        [scope, after ?? null, timestamp(activeAt), limit],
      );
      return rows.map(fromRow);
    },

    async update(id: string, patch: KeyPatch): Promise<StoredApiKey | null> {
      // One statement, so concurrent patches cannot lose each other; the first revocation wins,
      // and lastUsedAt only moves forward. GREATEST ignores NULLs: a NULL stored value takes the
      // given one, and a patch without lastUsedAt ($2 NULL) keeps the stored one.
      const change = `UPDATE ${table}
            SET last_used_at = GREATEST(last_used_at, $2::timestamptz),
                revoked_at = COALESCE(revoked_at, $3::timestamptz),
                secret_hash = COALESCE($4::text, secret_hash)
          WHERE id = $1
         RETURNING ${COLUMNS}`;
      const values = [
        id,
        timestamp(patch.lastUsedAt),
        timestamp(patch.revokedAt),
        patch.secretHash ?? null,
      ];
      // A revocation notifies in the same statement: PostgreSQL delivers the notification when,
      // and only when, the change commits; no row, no notification.
      const { rows } =
        patch.revokedAt === undefined
          ? await query(change, values)
          : await query(
              `WITH changed AS (${change})
               SELECT changed.*, pg_notify($5::text, changed.id) AS notified FROM changed`,
              [...values, channel],
            );
      return rows[0] === undefined ? null : fromRow(rows[0]);
    },

    async modify(
      id: string,
      changes: KeyChanges,
      condition?: ModifyCondition,
    ): Promise<ModifyResult> {
      const values: unknown[] = [id, channel];
      const sets: string[] = [];
      for (const [field, [column, cast, send]] of Object.entries(CHANGE_COLUMNS)) {
        const value = changes[field as keyof KeyChanges];
        if (value === undefined) continue;
        values.push(send(value));
        sets.push(`${column} = $${values.length}::${cast}`);
      }
      let where = 'id = $1 AND revoked_at IS NULL';
      if (condition?.secretHash !== undefined) {
        values.push(condition.secretHash);
        where += ` AND secret_hash = $${values.length}::text`;
      }
      // One statement: the conditions, the change and the notification commit together (or not
      // at all). Under READ COMMITTED a racing change locks the row first; this one then checks
      // its WHERE against the row as that change left it, so a condition never holds twice.
      try {
        const { rows } = await query(
          `WITH changed AS (
             UPDATE ${table} SET ${sets.length > 0 ? sets.join(', ') : 'id = id'}
              WHERE ${where}
             RETURNING ${COLUMNS})
           SELECT changed.*, pg_notify($2::text, changed.id) AS notified FROM changed`,
          values,
        );
        if (rows[0] !== undefined) return { ok: true, record: fromRow(rows[0]) };
      } catch (error) {
        // 23505 = unique_violation: only (scope, name) can be violated by a change.
        if (sqlState(error) === '23505') return { ok: false, reason: 'name' };
        throw error;
      }
      // Nothing changed: say why, from the row as it is now.
      const { rows } = await query(
        `SELECT revoked_at IS NOT NULL AS revoked, secret_hash FROM ${table} WHERE id = $1`,
        [id],
      );
      const row = rows[0] as { revoked: boolean; secret_hash: string } | undefined;
      if (row === undefined) return { ok: false, reason: 'not_found' };
      if (row.revoked) return { ok: false, reason: 'revoked' };
      // Without a condition, only a row that was not there yet when the change ran is left.
      return { ok: false, reason: condition?.secretHash === undefined ? 'not_found' : 'secret' };
    },

    revokeByOwner: (scope: string, owner: string, at: Date): Promise<string[]> =>
      revokeByOwner(query, table, channel, scope, owner, at),

    async delete(id: string): Promise<boolean> {
      // The key's wrong-secret window and usage counters go with it, in the same statement.
      const { rowCount } = await query(
        `WITH gone AS (DELETE FROM ${table} WHERE id = $1 RETURNING id),
              dropped AS (DELETE FROM ${names.failuresTable} WHERE id IN (SELECT id FROM gone)),
              unused AS (DELETE FROM ${names.usageTable} WHERE id IN (SELECT id FROM gone))
         SELECT pg_notify($2::text, gone.id) FROM gone`,
        [id, channel],
      );
      return (rowCount ?? 0) > 0;
    },

    async countLive(scope: string, at: Date): Promise<number> {
      const { rows } = await query(
        `SELECT count(*)::int AS live FROM ${table}
          WHERE scope = $1 AND revoked_at IS NULL
            AND (expires_at IS NULL OR expires_at > $2::timestamptz)`,
        [scope, timestamp(at)],
      );
      return Number((rows[0] as { live: number }).live);
    },

    async deleteExpired(before: Date): Promise<number> {
      // The usage counters of the keys deleted go in the same statement.
      const { rows } = await query(
        `WITH gone AS (DELETE FROM ${table} WHERE expires_at <= $1::timestamptz RETURNING id),
              unused AS (DELETE FROM ${names.usageTable} WHERE id IN (SELECT id FROM gone))
         SELECT count(*)::int AS deleted FROM gone`,
        [timestamp(before)],
      );
      // Wrong-secret windows that have ended: the counter table stays small.
      await failures.sweep();
      return Number((rows[0] as { deleted: number }).deleted);
    },

    reserveFailure: failures.reserveFailure,
    releaseFailure: failures.releaseFailure,

    consumeUsage: usage.consumeUsage,

    async touchMany(entries: readonly LastUsedEntry[]): Promise<void> {
      if (entries.length === 0) return;
      // One statement for the batch. A key listed twice keeps its latest time (UPDATE ... FROM
      // would apply an arbitrary one). Rows are locked in id order first, so that two processes
      // writing overlapping batches wait for each other instead of deadlocking.
      await query(
        `WITH given AS (
           SELECT u.id COLLATE "C" AS id, max(u.at) AS at
             FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
            GROUP BY 1
         ), locked AS (
           SELECT k.id, given.at FROM ${table} AS k JOIN given ON k.id = given.id
            ORDER BY k.id
              FOR UPDATE OF k
         )
         UPDATE ${table} AS k
            SET last_used_at = GREATEST(k.last_used_at, locked.at)
           FROM locked
          WHERE k.id = locked.id`,
        [entries.map((entry) => entry.id), entries.map((entry) => timestamp(entry.lastUsedAt))],
      );
    },

    ...(subscribable && {
      subscribe(listener: InvalidationListener, options?: SubscribeOptions): Promise<Subscription> {
        return listen(subscribable, channel, listener, options?.signal);
      },
    }),
  } satisfies KeyAdapter;
}
