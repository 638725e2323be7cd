import { adapterOptions } from '../../internal/sql.js';
import { checkDatabase, firstColumn, OPTIONS, type SqliteDatabase } from './database.js';
import { tableOption, type SqliteAdapterOptions } from './schema.js';
import { migrationsTable, migrationsTableSql, recordStepSql, SQLITE_STEPS } from './steps.js';

/**
 * Whether every known step is recorded (no migrations table yet: no). Each step by its number,
 * not the highest one: steps may land out of order (a 6 recorded before a 4).
 */
function allRecorded(db: SqliteDatabase, table: string): boolean {
  try {
    const versions = SQLITE_STEPS.map((step) => step.version).join(', ');
    const row = db
      .prepare(`SELECT count(*) FROM "${migrationsTable(table)}" WHERE "version" IN (${versions})`)
      .get();
    return Number(firstColumn(row) ?? 0) >= SQLITE_STEPS.length;
  } catch {
    return false;
  }
}

/** Applies the steps the database lacks; the caller holds the write lock. */
function applySteps(db: SqliteDatabase, table: string): void {
  db.exec(migrationsTableSql(table));
  const rows = db.prepare(`SELECT "version" FROM "${migrationsTable(table)}"`).all();
  const applied = new Set(rows.map((row) => Number(firstColumn(row))));
  // A table without a migrations table is 0.1.0's: step 1 (all IF NOT EXISTS) finds it there and
  // checks its indexes, then the later steps upgrade it in place with its rows.
  for (const step of SQLITE_STEPS) {
    if (applied.has(step.version)) continue;
    db.exec(step.sql(table));
    db.exec(recordStepSql(table, step));
  }
}

/**
 * Brings keymint's schema to the current version ({@link sqliteSchema}): applies, in order, the
 * numbered steps ({@link sqliteSteps}) that `<table>_migrations` does not record, and records
 * them. A table made by keymint 0.1.0 (no migrations table) counts as version 1 and is upgraded
 * in place with its rows. All in one `BEGIN IMMEDIATE` transaction (a savepoint when called
 * inside a transaction of yours), so that it applies all or nothing, and processes that migrate
 * the same file at once take turns: the first applies, the others find it applied (each waits up
 * to its connection's busy timeout, better-sqlite3's `timeout` option). Idempotent, and a read
 * when there is nothing to do: run it at every start.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { migrate } from 'keymint/adapters/sqlite';
 * migrate(new Database('keymint.db'));
 * ```
 */
export function migrate(db: SqliteDatabase, options?: SqliteAdapterOptions): void {
  checkDatabase(db, 'migrate');
  const table = tableOption(adapterOptions<SqliteAdapterOptions>(options, 'migrate', OPTIONS));
  if (allRecorded(db, table)) return;
  // Inside a transaction of the caller's, a savepoint: BEGIN would fail there.
  const nested = db.inTransaction === true;
  db.exec(nested ? 'SAVEPOINT keymint_migrate' : 'BEGIN IMMEDIATE');
  try {
    applySteps(db, table);
    db.exec(nested ? 'RELEASE keymint_migrate' : 'COMMIT');
  } catch (error) {
    try {
      // SQLite may have rolled back already (SQLITE_FULL, say): the first error is the one to see.
      if (db.inTransaction !== false) {
        db.exec(nested ? 'ROLLBACK TO keymint_migrate; RELEASE keymint_migrate' : 'ROLLBACK');
      }
    } catch {
      // Nothing left to roll back.
    }
    throw error;
  }
}
