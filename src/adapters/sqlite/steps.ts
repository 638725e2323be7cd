/**
 * The numbered steps of the SQLite schema, as templates over the table name. `migrate()` applies
 * the ones a database lacks, in order, and records each in `<table>_migrations`; the package ships
 * each rendered for the default table as `sql/sqlite/NNNN-name.sql`. A step is written once and
 * never changed after a release: a change to the schema is a new step.
 */
export interface SqliteStep {
  /** 1, 2, ...: the order of application, and the row `<table>_migrations` keeps. */
  version: number;
  /** kebab-case; the file is `sql/sqlite/${NNNN}-${name}.sql`. */
  name: string;
  /** The step's SQL for the table `table` (an identifier the options already checked). */
  sql(table: string): string;
}

/** How long the change log keeps a row. A listener that slept longer forgets its whole cache. */
export const CHANGE_LOG_KEEP_MS = 300_000;

/** Now as epoch milliseconds, in SQL that every SQLite 3.37+ runs. */
export const NOW_MS = `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`;

/**
 * The columns of step 2 whose change alters what a key may do, or what verifyKey returns for it.
 * A later step that adds such a column recreates the trigger with `changeTriggersSql`
 * (`DROP TRIGGER IF EXISTS` first), listing these and its own.
 */
export const WATCHED_COLUMNS_V2 = ['revoked_at', 'role', 'expires_at', 'scope', 'name', 'metadata'];

/**
 * The two triggers that log a change of `watched` columns, or a deletion, into the change log,
 * in the changing statement's transaction, and prune rows older than CHANGE_LOG_KEEP_MS.
 */
export function changeTriggersSql(table: string, watched: readonly string[]): string {
  const log = `"${table}_changes"`;
  const changed = watched.map((column) => `OLD."${column}" IS NOT NEW."${column}"`).join(' OR ');
  const body = `BEGIN
  INSERT INTO ${log} ("key_id", "at") VALUES (OLD."id", ${NOW_MS});
  DELETE FROM ${log} WHERE "at" < ${NOW_MS} - ${CHANGE_LOG_KEEP_MS};
END;`;
  return `CREATE TRIGGER IF NOT EXISTS "${table}_changes_update"
  AFTER UPDATE OF ${watched.map((column) => `"${column}"`).join(', ')} ON "${table}"
  FOR EACH ROW WHEN ${changed}
${body}
CREATE TRIGGER IF NOT EXISTS "${table}_changes_delete" AFTER DELETE ON "${table}" FOR EACH ROW
${body}
`;
}

/** The 0.1.0 schema, unchanged. */
const initial = (table: string) => `CREATE TABLE IF NOT EXISTS "${table}" (
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

/**
 * The change log that carries revocations to other processes on the file. Triggers write it, so
 * every writer (keymint, the CLI, your own SQL) logs in the same transaction as the change; a
 * last-used write or a rehash logs nothing. AUTOINCREMENT: a pruned-empty log never hands out a
 * seq again.
 */
const changeLog = (table: string) => `CREATE TABLE IF NOT EXISTS "${table}_changes" (
  "seq" INTEGER PRIMARY KEY AUTOINCREMENT,
  "key_id" TEXT NOT NULL,
  "at" INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS "${table}_changes_at" ON "${table}_changes" ("at");
${changeTriggersSql(table, WATCHED_COLUMNS_V2)}`;

/**
 * The columns step 3 adds to the watched ones: a rotation always sets `rotated_at` (and the end
 * of the previous secret's grace period), so it is logged; a rehash changes `secret_hash` only,
 * and is not.
 */
export const WATCHED_COLUMNS_V3 = [
  ...WATCHED_COLUMNS_V2,
  'rotated_at',
  'previous_secret_expires_at',
];

/**
 * What updateApiKey() and rotateApiKey() store: a key's own time to live, and the previous secret
 * of a rotated key with the end of its grace period. Rows of 0.1.0 keep NULL in each. The update
 * trigger is made again to log rotations too. ADD COLUMN has no IF NOT EXISTS in SQLite: this
 * step runs once, and `migrate()` records it.
 */
const rotation = (table: string) => `ALTER TABLE "${table}" ADD COLUMN "ttl_seconds" INTEGER;
ALTER TABLE "${table}" ADD COLUMN "previous_secret_hash" TEXT;
ALTER TABLE "${table}" ADD COLUMN "previous_secret_expires_at" INTEGER;
ALTER TABLE "${table}" ADD COLUMN "rotated_at" INTEGER;
DROP TRIGGER IF EXISTS "${table}_changes_update";
${changeTriggersSql(table, WATCHED_COLUMNS_V3)}`;

/**
 * The columns step 4 adds to the watched ones: a key's narrowed permissions, and its owner (set
 * at create only by keymint, but a change by hand must reach the caches that return it).
 */
export const WATCHED_COLUMNS_V4 = [...WATCHED_COLUMNS_V3, 'owner', 'permissions'];

/**
 * Who a key belongs to (`owner`, set at create only) and its narrowed permissions (JSON text).
 * Rows written before keep NULL in both: no owner, everything the role grants. The index answers
 * `list({ owner })` and `revokeByOwner` in name order; the update trigger is made again so that a
 * change of permissions reaches every process.
 */
const owners = (table: string) => `ALTER TABLE "${table}" ADD COLUMN "owner" TEXT;
ALTER TABLE "${table}" ADD COLUMN "permissions" TEXT;
CREATE INDEX IF NOT EXISTS "${table}_scope_owner_name" ON "${table}" ("scope", "owner", "name");
DROP TRIGGER IF EXISTS "${table}_changes_update";
${changeTriggersSql(table, WATCHED_COLUMNS_V4)}`;

/**
 * The wrong-secret limit (rateLimit) counted for every process on the file (`reserveFailure`):
 * one window per key id, created only for ids that have a record, dropped with the key (the
 * trigger) and by `deleteExpired()` once ended (the index on `reset_at`). Times are epoch ms.
 */
const failures = (table: string) => `CREATE TABLE IF NOT EXISTS "${table}_failures" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "window_start" INTEGER NOT NULL,
  "reset_at" INTEGER NOT NULL,
  "failures" INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS "${table}_failures_reset_at" ON "${table}_failures" ("reset_at");
CREATE TRIGGER IF NOT EXISTS "${table}_failures_delete" AFTER DELETE ON "${table}" FOR EACH ROW
BEGIN
  DELETE FROM "${table}_failures" WHERE "id" = OLD."id";
END;
`;

/** Step 5 adds `limits` to the watched columns: a new rate limit or credits must reach every cache. */
export const WATCHED_COLUMNS_V5 = [...WATCHED_COLUMNS_V4, 'limits'];

/**
 * Step 5 (issue 17): a key's own usage limits as JSON, and the
 * counters `consumeUsage` keeps apart from the record: one row per key that has counted, written
 * by one upsert per verification (the change log does not see it), dropped with the key (the
 * trigger).
 */
const usage = (table: string) => `ALTER TABLE "${table}" ADD COLUMN "limits" TEXT;
CREATE TABLE IF NOT EXISTS "${table}_usage" (
  "id" TEXT NOT NULL PRIMARY KEY,
  "window_start" INTEGER,
  "count" INTEGER NOT NULL,
  "credits_set" INTEGER,
  "credits_period" INTEGER,
  "remaining" INTEGER,
  "ok" INTEGER NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS "${table}_usage_delete" AFTER DELETE ON "${table}" FOR EACH ROW
BEGIN
  DELETE FROM "${table}_usage" WHERE "id" = OLD."id";
END;
DROP TRIGGER IF EXISTS "${table}_changes_update";
${changeTriggersSql(table, WATCHED_COLUMNS_V5)}`;

/** Every step, in order. A new one goes at the end with the next version. */
export const SQLITE_STEPS: readonly SqliteStep[] = [
  { version: 1, name: 'initial', sql: initial },
  { version: 2, name: 'change-log', sql: changeLog },
  { version: 3, name: 'rotation', sql: rotation },
  { version: 4, name: 'owners', sql: owners },
  { version: 5, name: 'usage', sql: usage },
  { version: 6, name: 'failures', sql: failures },
];

/** The file a step ships as, under `sql/sqlite/`. */
export const stepFile = (step: SqliteStep) =>
  `${String(step.version).padStart(4, '0')}-${step.name}.sql`;

/** The table that records applied steps. */
export const migrationsTable = (table: string) => `${table}_migrations`;

export const migrationsTableSql = (
  table: string,
) => `CREATE TABLE IF NOT EXISTS "${migrationsTable(table)}" (
  "version" INTEGER PRIMARY KEY,
  "name" TEXT NOT NULL,
  "applied_at" INTEGER NOT NULL
) STRICT;
`;

/** The row that records `step` as applied now. */
export const recordStepSql = (table: string, step: SqliteStep) =>
  `INSERT OR IGNORE INTO "${migrationsTable(table)}" ("version", "name", "applied_at") VALUES (${step.version}, '${step.name}', ${NOW_MS});
`;
