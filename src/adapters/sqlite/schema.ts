import { DEFAULT_TABLE, identifierOption } from '../../internal/sql.js';
import {
  migrationsTableSql,
  recordStepSql,
  SQLITE_STEPS,
  stepFile,
  type SqliteStep,
} from './steps.js';

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

/** The schema's version: the number of the last step. */
export const SQLITE_SCHEMA_VERSION = SQLITE_STEPS[SQLITE_STEPS.length - 1]!.version;

/**
 * The whole current schema {@link migrate} arrives at, as SQL text: for a migration tool of your
 * own on a new database. It creates the keys table, the change log that carries revocations to
 * other processes (with its triggers), and the `<table>_migrations` table with a row for each
 * step, so that `migrate()` later finds every step applied. The package also ships it for the
 * default table as `keymint/sql/sqlite.sql`, and each step on its own as
 * `keymint/sql/sqlite/NNNN-name.sql` (to upgrade a database step by step, see {@link sqliteSteps}).
 * Times are epoch milliseconds (`INTEGER`); names compare as UTF-8 bytes (`BINARY`), which is code
 * point order.
 *
 * @example
 * ```ts
 * import { sqliteSchema } from 'keymint/adapters/sqlite';
 * console.log(sqliteSchema({ table: 'api_keys' }));
 * ```
 */
export function sqliteSchema(options?: SqliteAdapterOptions): string {
  const table = tableOption(options);
  return [
    `-- keymint schema, version ${SQLITE_SCHEMA_VERSION}, for SQLite 3.37+ (STRICT tables).
-- Times are epoch milliseconds; names sort as UTF-8 bytes, which is code point order.
`,
    ...SQLITE_STEPS.map((step) => step.sql(table)),
    migrationsTableSql(table),
    ...SQLITE_STEPS.map((step) => recordStepSql(table, step)),
  ].join('');
}

/**
 * One step of the SQLite schema, as {@link sqliteSteps} lists them.
 *
 * @example
 * ```ts
 * import { sqliteSteps, type SqliteSchemaStep } from 'keymint/adapters/sqlite';
 * const last: SqliteSchemaStep = sqliteSteps().at(-1)!;
 * ```
 */
export interface SqliteSchemaStep {
  /** 1, 2, ...: apply in this order. `migrate()` records it in `<table>_migrations`. */
  version: number;
  /** As in the shipped file's name: `sql/sqlite/0002-change-log.sql` is version 2, `change-log`. */
  name: string;
  /** The file the package ships it as, under `keymint/sql/sqlite/` (for the default table). */
  file: string;
  /** The step's SQL for the table of `options`. */
  sql: string;
}

/**
 * The numbered steps {@link migrate} applies, for your own migration tool: step 1 is the 0.1.0
 * schema, and each later one upgrades a table of the previous version in place, with its data.
 * The text is that of the files `keymint/sql/sqlite/NNNN-name.sql`, for the table of `options`.
 *
 * @example
 * ```ts
 * import { sqliteSteps } from 'keymint/adapters/sqlite';
 * for (const step of sqliteSteps({ table: 'api_keys' })) console.log(step.file, step.sql);
 * ```
 */
export function sqliteSteps(options?: SqliteAdapterOptions): SqliteSchemaStep[] {
  const table = tableOption(options);
  return SQLITE_STEPS.map((step) => ({
    version: step.version,
    name: step.name,
    file: stepFile(step),
    sql: stepText(step, table),
  }));
}

/** A step's text as shipped: a header, then its SQL. */
export const stepText = (step: SqliteStep, table: string) =>
  `-- keymint SQLite schema, step ${step.version} (${step.name}). Apply the steps in order.
${step.sql(table)}`;
