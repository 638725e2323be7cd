import type { Rows } from './pool.js';
import { checkPool, errorCode, type MysqlPool } from './pool.js';
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
