import { adapterOptions, DEFAULT_TABLE, identifierOption } from '../../internal/sql.js';

/**
 * Where the MySQL adapter keeps its keys. Both names are plain identifiers (1 to 40 letters,
 * digits or underscores, not starting with a digit), used verbatim and backquoted.
 *
 * @example
 * ```ts
 * import type { MysqlAdapterOptions } from 'keymint/adapters/mysql';
 * const options: MysqlAdapterOptions = { database: 'auth', table: 'api_keys' };
 * ```
 */
export interface MysqlAdapterOptions {
  /** The table name; `keymint_api_keys` by default. Its change log is `<table>_changes`. */
  table?: string;
  /**
   * The database (MySQL's schema) that holds the tables. By default the names are not qualified,
   * so they live in the connection's current database (the one in the pool's URI).
   */
  database?: string;
}

/** The SQL names derived from the options. */
export interface MysqlNames {
  /** The quoted, qualified table: `` `auth`.`api_keys` ``. */
  table: string;
  /** The table as people read it: `auth.api_keys`. */
  display: string;
  /** The quoted database, when one was given. */
  database: string | undefined;
  /** The change log that `subscribe` polls. */
  changes: string;
  /** The table of applied schema versions. */
  migrations: string;
  /** The table of wrong-secret windows (step 3), quoted and qualified. */
  failures: string;
  /** The table of usage counters (step 4: rate-limit windows, credit balances). */
  usage: string;
  /** Bare index names, as `information_schema.statistics` and duplicate-key errors report them. */
  uniqueName: string;
  expiresIndex: string;
  changesIndex: string;
  ownerIndex: string;
  failuresIndex: string;
}

const OPTIONS = ['table', 'database'] as const;

/** Identifiers are checked against a strict pattern first, so quoting cannot be escaped. */
const quote = (identifier: string) => `\`${identifier}\``;

/** Checks the options (bad ones throw KeymintError CONFIG) and derives every SQL name. */
export function mysqlNames(options: unknown, caller: string): MysqlNames {
  const checked = adapterOptions<MysqlAdapterOptions>(options, caller, OPTIONS);
  const table = identifierOption(checked.table, 'table', DEFAULT_TABLE);
  const database =
    checked.database === undefined ? undefined : identifierOption(checked.database, 'database', '');
  const qualify = (name: string) =>
    database === undefined ? quote(name) : `${quote(database)}.${quote(name)}`;
  return {
    table: qualify(table),
    display: database === undefined ? table : `${database}.${table}`,
    database: database === undefined ? undefined : quote(database),
    changes: qualify(`${table}_changes`),
    migrations: qualify(`${table}_migrations`),
    failures: qualify(`${table}_failures`),
    usage: qualify(`${table}_usage`),
    // At most 40 + 16 characters: within MySQL's 64-character identifier limit.
    uniqueName: `${table}_scope_name`,
    expiresIndex: `${table}_expires_at`,
    changesIndex: `${table}_changes_at`,
    ownerIndex: `${table}_scope_owner_name`,
    failuresIndex: `${table}_failures_reset_at`,
  };
}

/** One numbered step of the schema: `sql/mysql/NNNN-<name>.sql` for the default names. */
export interface MysqlStep {
  /** 1, 2, ...: the order of application, and the row `<table>_migrations` keeps. */
  version: number;
  /** kebab-case; the file is `sql/mysql/${NNNN}-${name}.sql`. */
  name: string;
  /**
   * The step's statements for these names, each run on its own (MySQL commits DDL at once, so a
   * step cannot be one transaction). Every statement is idempotent, or one ALTER whose duplicate
   * column `migrate()` takes as applied, so that a step cut short by a crash can run again.
   */
  statements: (names: MysqlNames) => string[];
}

/**
 * Step 1: the keys and their change log. Names, scopes, ids and hashes are VARBINARY: compared
 * and sorted byte by byte, which for UTF-8 is code point order, with no trailing-space padding
 * (utf8mb4_bin is a PAD SPACE collation: `'a' = 'a '` there). 190 characters of 4 bytes each fit.
 * Timestamps are DATETIME(3) in UTC, which the server never converts by time zone.
 */
const initialStatements = (names: MysqlNames) => [
  `CREATE TABLE IF NOT EXISTS ${names.table} (
  id                         VARBINARY(255)  NOT NULL,
  scope                      VARBINARY(760)  NOT NULL,
  name                       VARBINARY(760)  NOT NULL,
  role                       VARCHAR(64)     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  secret_hash                VARBINARY(1024) NOT NULL,
  created_at                 DATETIME(3)     NOT NULL,
  expires_at                 DATETIME(3)     NULL,
  last_used_at               DATETIME(3)     NULL,
  revoked_at                 DATETIME(3)     NULL,
  metadata                   LONGTEXT        CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  ttl_seconds                BIGINT          NULL,
  previous_secret_hash       VARBINARY(1024) NULL,
  previous_secret_expires_at DATETIME(3)     NULL,
  rotated_at                 DATETIME(3)     NULL,
  PRIMARY KEY (id),
  UNIQUE KEY ${quote(names.uniqueName)} (scope, name),
  KEY ${quote(names.expiresIndex)} (expires_at)
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  `CREATE TABLE IF NOT EXISTS ${names.changes} (
  seq        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  key_id     VARBINARY(255)  NOT NULL,
  changed_at DATETIME(3)     NOT NULL,
  PRIMARY KEY (seq),
  KEY ${quote(names.changesIndex)} (changed_at)
) ENGINE=InnoDB`,
];

/**
 * Step 2: the key's owner (an opaque user or service-account id, VARBINARY like names) and its
 * narrowed permissions (a JSON array; NULL is everything the role grants), with the index that
 * lists and revokes one owner's keys. One ALTER, which InnoDB applies whole or not at all; run
 * again after it applied, its duplicate column is taken as done (MySQL 8 has no ADD COLUMN IF
 * NOT EXISTS).
 */
const ownersStatements = (names: MysqlNames) => [
  `ALTER TABLE ${names.table}
  ADD COLUMN owner       VARBINARY(760) NULL,
  ADD COLUMN permissions LONGTEXT       CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  ADD KEY ${quote(names.ownerIndex)} (scope, owner, name)`,
];

/**
 * Step 3: the wrong-secret limit (`rateLimit`) counted in the store, for every process: at most
 * one window per key id, its start and end in epoch milliseconds on the server's clock, and the
 * count of wrong secrets hashed in it. Rows go with their key (`delete`) or, once their window
 * ended, with `deleteExpired`. A new table only, so that applying it to a table with data takes
 * no lock on the keys.
 */
const failuresStatements = (names: MysqlNames) => [
  `CREATE TABLE IF NOT EXISTS ${names.failures} (
  id           VARBINARY(255) NOT NULL,
  window_start BIGINT         NOT NULL,
  reset_at     BIGINT         NOT NULL,
  failures     INT            NOT NULL,
  PRIMARY KEY (id),
  KEY ${quote(names.failuresIndex)} (reset_at)
) ENGINE=InnoDB`,
];

/**
 * Step 4: a key's own usage limits (rate limit, credits: JSON text; NULL for none), and the
 * counters `consumeUsage` keeps apart from the record, one row per key: the rate-limit window
 * and its count, the credit balance with the setting and refill period it belongs to, and
 * whether the last verification passed. The new table first, then one ALTER (a duplicate column
 * on a second run is taken as done).
 */
const usageStatements = (names: MysqlNames) => [
  `CREATE TABLE IF NOT EXISTS ${names.usage} (
  id             VARBINARY(255) NOT NULL,
  window_start   BIGINT         NULL,
  count          BIGINT         NOT NULL,
  credits_set    BIGINT         NULL,
  credits_period BIGINT         NULL,
  remaining      BIGINT         NULL,
  ok             TINYINT        NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB`,
  `ALTER TABLE ${names.table}
  ADD COLUMN limits LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL`,
];

/** Every step, in order. A step is never changed once released: a change is a new step. */
export const MYSQL_STEPS: readonly MysqlStep[] = Object.freeze([
  { version: 1, name: 'initial', statements: initialStatements },
  { version: 2, name: 'owners', statements: ownersStatements },
  { version: 3, name: 'failures', statements: failuresStatements },
  { version: 4, name: 'usage', statements: usageStatements },
]);

/** The file name a step ships under in `sql/mysql/`. */
export const stepFileName = (step: MysqlStep) =>
  `${String(step.version).padStart(4, '0')}-${step.name}.sql`;

const script = (statements: string[]) => statements.map((s) => `${s};\n`).join('');

/** A step's text as shipped: a header, then its statements. */
export const stepText = (step: MysqlStep, names: MysqlNames) =>
  `-- keymint MySQL / MariaDB schema, step ${step.version} (${step.name}). Apply the steps in order.
${script(step.statements(names))}`;

/** The table that records applied steps. */
export const migrationsTableSql = (names: MysqlNames) =>
  `CREATE TABLE IF NOT EXISTS ${names.migrations} (
  version    INT         NOT NULL PRIMARY KEY,
  name       VARCHAR(64) NOT NULL,
  applied_at DATETIME(3) NOT NULL
) ENGINE=InnoDB`;

/** The row that records `step` as applied now (kept when it is there already). */
export const recordStepSql = (names: MysqlNames, step: MysqlStep) =>
  `INSERT IGNORE INTO ${names.migrations} (version, name, applied_at) VALUES (${step.version}, '${step.name}', UTC_TIMESTAMP(3))`;

/**
 * The whole current schema as SQL text (`sql/mysql.sql` for the default options): every step in
 * order, then `<table>_migrations` with a row for each, so that `migrate()` later finds every
 * step applied.
 */
export function schemaSql(names: MysqlNames): string {
  const last = MYSQL_STEPS[MYSQL_STEPS.length - 1]!;
  const createDatabase =
    names.database === undefined
      ? []
      : [`CREATE DATABASE IF NOT EXISTS ${names.database} CHARACTER SET utf8mb4`];
  return `-- keymint API keys for MySQL 8 and MariaDB 10.6+, schema version ${last.version}, as mysqlSchema() from
-- 'keymint/adapters/mysql' writes it (pass { table, database } there for other names): every
-- step of sql/mysql/ in order, and the table that records them. For a new database: run it
-- once (a second run stops at step 2's ALTER, whose columns exist); migrate() is idempotent.
${script([
  ...createDatabase,
  ...MYSQL_STEPS.flatMap((step) => step.statements(names)),
  migrationsTableSql(names),
  ...MYSQL_STEPS.map((step) => recordStepSql(names, step)),
])}`;
}

/**
 * The server-wide lock `migrate()` holds (GET_LOCK): one keymint migration at a time per server,
 * whatever its database or table.
 */
export const MIGRATION_LOCK = 'keymint:migrate';
