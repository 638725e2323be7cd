// What the PostgreSQL adapter needs from a pg client, the check of it, and the adapter's query
// function, which turns a missing or outdated table into an error that says to run migrate().
import { KeymintError } from '../../errors.js';
import { missingTable, outdatedTable } from '../../internal/sql.js';
import { isClientFactory } from './listen.js';
import type { PostgresNames } from './schema.js';

/**
 * What the adapter needs from a client: pg's `query(text, values)`. A `pg.Pool` is the usual
 * choice; a connected `pg.Client` works too, for one caller at a time. Wrappers with the same
 * `query` method (for example a pool that adds tracing) work as well.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import type { PostgresQueryable } from 'keymint/adapters/postgres';
 *
 * const pool: PostgresQueryable = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * ```
 */
export interface PostgresQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** The adapter's query: pg's, with a missing or outdated table made readable. */
export type Query = (
  text: string | { name: string; text: string; values: unknown[] },
  values?: unknown[],
) => ReturnType<PostgresQueryable['query']>;

export const MODULE = 'keymint/adapters/postgres';

export function checkPool(pool: unknown, fn: string): void {
  if (typeof (pool as Partial<PostgresQueryable> | null)?.query !== 'function') {
    throw new KeymintError(
      'CONFIG',
      `${fn}() needs a pg Pool (or Client): new pg.Pool({ connectionString }) from 'pg'.`,
    );
  }
}

/**
 * A pg `Pool` or `Client` (whose `query` takes pg's `{ name, text, values }` config), as opposed
 * to a wrapper that may take the text alone.
 */
export function isPgQueryable(pool: unknown): boolean {
  if (isClientFactory(pool)) return true;
  const client = pool as { connectionParameters?: unknown; connection?: unknown } | null;
  return typeof client?.connectionParameters === 'object' && typeof client.connection === 'object';
}

export const sqlState = (error: unknown): unknown =>
  typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;

/** `pool.query`, throwing an error that says to run migrate() when the table is missing or old. */
export function queryFunction(pool: PostgresQueryable, names: PostgresNames): Query {
  return async function query(text, values) {
    try {
      // A named query is sent only to a pg Pool or Client, which take pg's query config object.
      return await (
        pool.query as (q: unknown, v?: unknown[]) => ReturnType<PostgresQueryable['query']>
      )(text, values);
    } catch (error) {
      // 42P01 = undefined_table.
      if (sqlState(error) === '42P01') throw missingTable(names.display, MODULE, error);
      // 42703 = undefined_column: a table of an older version that migrate() has not upgraded.
      if (sqlState(error) === '42703') throw outdatedTable(names.display, MODULE, error);
      throw error;
    }
  };
}
