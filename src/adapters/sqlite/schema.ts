import { DEFAULT_TABLE, identifierOption } from '../../internal/sql.js';

/**
 * Options of {@link sqliteAdapter}, {@link migrate} and {@link sqliteSchema}.
 *
 * @example
 * ```ts
 * import type { SqliteAdapterOptions } from 'keymint/adapters/sqlite';
 * const options: SqliteAdapterOptions = { table: 'api_keys' };
 * ```
 */
export interface SqliteAdapterOptions {
  /** The table's name: letters, digits and underscores, at most 40. Default `keymint_api_keys`. */
  table?: string;
}

export const tableOption = (options: SqliteAdapterOptions | undefined) =>
  identifierOption(options?.table, 'table option', DEFAULT_TABLE);

/**
 * The schema {@link migrate} applies, as SQL text: for a migration tool of your own. The package
 * also ships it for the default table as `keymint/sql/sqlite.sql`. Times are epoch milliseconds
 * (`INTEGER`); names compare as UTF-8 bytes (`BINARY`), which is code point order.
 *
 * @example
 * ```ts
 * import { sqliteSchema } from 'keymint/adapters/sqlite';
 * console.log(sqliteSchema({ table: 'api_keys' }));
 * ```
 */
export function sqliteSchema(options?: SqliteAdapterOptions): string {
  const table = tableOption(options);
  return `-- keymint schema, version 1, for SQLite 3.37+ (STRICT tables).
-- Times are epoch milliseconds; names sort as UTF-8 bytes, which is code point order.
CREATE TABLE IF NOT EXISTS "${table}" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "scope" TEXT NOT NULL,
  "name" TEXT NOT NULL,
  "role" TEXT NOT NULL,
  "secret_hash" TEXT NOT NULL,
  "created_at" INTEGER NOT NULL,
  "expires_at" INTEGER,
  "last_used_at" INTEGER,
  "revoked_at" INTEGER,
  "metadata" TEXT
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS "${table}_scope_name" ON "${table}" ("scope", "name");
CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON "${table}" ("expires_at")
  WHERE "expires_at" IS NOT NULL;
`;
}
