import { KeymintError } from '../../errors.js';

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

export const MODULE = 'keymint/adapters/sqlite';
export const OPTIONS = ['table'] as const;

export function checkDatabase(db: unknown, fn: string): asserts db is SqliteDatabase {
  const candidate = db as Partial<SqliteDatabase> | null;
  if (typeof candidate?.prepare !== 'function' || typeof candidate.exec !== 'function') {
    throw new KeymintError(
      'CONFIG',
      `${fn}() needs a better-sqlite3 Database: new Database('keymint.db') from 'better-sqlite3'.`,
    );
  }
}

/** The first column of a row (a PRAGMA's or an aggregate's), whatever the driver calls it. */
export const firstColumn = (row: unknown): unknown =>
  row && typeof row === 'object' ? Object.values(row)[0] : undefined;
