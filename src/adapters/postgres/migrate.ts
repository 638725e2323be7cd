// The PostgreSQL schema for users and their migration tools: migrate() applies the numbered
// steps in place, postgresSchema() is the whole schema as text, postgresSteps() lists the steps.
import { checkPool, type PostgresQueryable } from './pool.js';
import {
  migrationSql,
  postgresNames,
  SCHEMA_STEPS,
  schemaSql,
  stepFileName,
  stepText,
  type PostgresAdapterOptions,
} from './schema.js';

/**
 * Upgrades the database to the current schema in place, with its data: applies each step of
 * {@link postgresSteps} that `<table>_migrations` does not list yet, in order, and records it. A
 * table of 0.1.0 (which had no such table) counts as version 1. Safe to call at every start, also
 * from several processes at once: everything runs in one transaction that first takes an advisory
 * lock, so a second caller waits and then finds the steps applied; a step that fails rolls the
 * whole upgrade back. Creates the schema (when the `schema` option is given) if needed. Takes the
 * same options as {@link postgresAdapter}; bad options reject with `CONFIG`.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { migrate } from 'keymint/adapters/postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool, { schema: 'auth' });
 * ```
 */
export async function migrate(
  pool: PostgresQueryable,
  options?: PostgresAdapterOptions,
): Promise<void> {
  checkPool(pool, 'migrate');
  const names = postgresNames(options, 'migrate');
  // No parameters: pg sends one simple-protocol query, which PostgreSQL runs as one transaction.
  await pool.query(migrationSql(names));
}

/**
 * The whole current schema as SQL text, for your own migration tool on a new database: every
 * step of {@link postgresSteps} in order, then `<table>_migrations` with a row for each, so that
 * {@link migrate} later finds them applied. For the default options it is the file
 * `keymint/sql/postgres.sql` shipped in the package. Idempotent (`IF NOT EXISTS`), but two
 * sessions running it at the same moment can still collide on `CREATE TABLE`: when several
 * processes apply it at start-up, use {@link migrate}, which takes a lock first.
 *
 * @example
 * ```ts
 * import { writeFileSync } from 'node:fs';
 * import { postgresSchema } from 'keymint/adapters/postgres';
 *
 * writeFileSync('migrations/0007_api_keys.sql', postgresSchema({ schema: 'auth' }));
 * ```
 */
export function postgresSchema(options?: PostgresAdapterOptions): string {
  return schemaSql(postgresNames(options, 'postgresSchema'));
}

/**
 * One step of the PostgreSQL schema, as {@link postgresSteps} lists them.
 *
 * @example
 * ```ts
 * import { postgresSteps, type PostgresSchemaStep } from 'keymint/adapters/postgres';
 * const last: PostgresSchemaStep = postgresSteps().at(-1)!;
 * ```
 */
export interface PostgresSchemaStep {
  /** 1, 2, ...: apply in this order. `migrate()` records it in `<table>_migrations`. */
  version: number;
  /** As in the shipped file's name: `sql/postgres/0002-rotation.sql` is version 2, `rotation`. */
  name: string;
  /** The file the package ships it as, under `keymint/sql/postgres/` (for the default names). */
  file: string;
  /** The step's SQL for the names of `options`. Every PostgreSQL step is idempotent. */
  sql: string;
}

/**
 * The numbered steps {@link migrate} applies, for your own migration tool: step 1 is the 0.1.0
 * schema, and each later one upgrades a table of the previous version in place, with its data.
 * The text is that of the files `keymint/sql/postgres/NNNN-name.sql`, for the names of `options`.
 * Record each in `<table>_migrations` (`version`, `name`) if you want `migrate()` to skip it later;
 * it would only find it applied anyway.
 *
 * @example
 * ```ts
 * import { postgresSteps } from 'keymint/adapters/postgres';
 * for (const step of postgresSteps({ schema: 'auth' })) console.log(step.file, step.sql);
 * ```
 */
export function postgresSteps(options?: PostgresAdapterOptions): PostgresSchemaStep[] {
  const names = postgresNames(options, 'postgresSteps');
  return SCHEMA_STEPS.map((step) => ({
    version: step.version,
    name: step.name,
    file: stepFileName(step),
    sql: stepText(step, names),
  }));
}
