import { KeymintError } from '../../errors.js';
import { adapterOptions, DEFAULT_TABLE, identifierOption } from '../../internal/sql.js';

/**
 * Where the PostgreSQL adapter keeps its keys. Both names are plain identifiers (1 to 40
 * letters, digits or underscores, not starting with a digit), used verbatim and double-quoted,
 * so they are case-sensitive.
 *
 * @example
 * ```ts
 * import type { PostgresAdapterOptions } from 'keymint/adapters/postgres';
 * const options: PostgresAdapterOptions = { schema: 'auth', table: 'api_keys' };
 * ```
 */
export interface PostgresAdapterOptions {
  /** The table name; `keymint_api_keys` by default. */
  table?: string;
  /**
   * The schema that holds the table. By default the table name is not qualified, so PostgreSQL
   * finds it through the connection's `search_path` (normally `public`).
   */
  schema?: string;
  /**
   * Whether verification's lookup by id runs as a named prepared statement, which PostgreSQL
   * parses and plans once per connection instead of on every call. Default `true` (with a pg
   * `Pool` or `Client`). Turn it off behind a pooler in transaction mode that does not support
   * prepared statements (PgBouncer before 1.21, or with `max_prepared_statements = 0`); when such
   * a pooler loses a statement, the adapter also falls back to unnamed statements by itself.
   * `migrate` and the other functions ignore it.
   */
  preparedStatements?: boolean;
}

/** The SQL names derived from the options: quoted for SQL, or bare where PostgreSQL reports them. */
export interface PostgresNames {
  /** The quoted, schema-qualified table: `"auth"."api_keys"`. */
  table: string;
  /** The table as people read it: `auth.api_keys`. */
  display: string;
  /** The quoted schema, when one was given. */
  schema: string | undefined;
  /** The quoted, schema-qualified table of usage counters: `"auth"."api_keys_usage"`. */
  usageTable: string;
  /** The quoted, schema-qualified table of applied schema versions: `"auth"."api_keys_migrations"`. */
  migrationsTable: string;
  /** The same as people read it. */
  migrations: string;
  /** Bare constraint and index names, as `error.constraint` and `pg_indexes` report them. */
  primaryKey: string;
  uniqueName: string;
  expiresIndex: string;
  /** The index of `list({ owner })` and `revokeByOwner`: (scope, owner, name). */
  ownerIndex: string;
  /** The quoted, schema-qualified table of wrong-secret windows: `"auth"."api_keys_failures"`. */
  failuresTable: string;
  /** The same as people read it. */
  failures: string;
  /** Bare name of its index on `reset_at` (at most 62 bytes). */
  failuresIndex: string;
}

const OPTIONS = ['table', 'schema', 'preparedStatements'] as const;

/** The `preparedStatements` option (CONFIG unless a boolean or absent). */
export function preparedOption(options: PostgresAdapterOptions | undefined): boolean {
  const value = options?.preparedStatements;
  if (value === undefined) return true;
  if (typeof value !== 'boolean') {
    throw new KeymintError('CONFIG', 'postgresAdapter() preparedStatements must be true or false.');
  }
  return value;
}

/** Identifiers are checked against a strict pattern first, so quoting cannot be escaped. */
const quote = (identifier: string) => `"${identifier}"`;

/** Checks the options (bad ones throw KeymintError CONFIG) and derives every SQL name. */
export function postgresNames(options: unknown, caller: string): PostgresNames {
  const checked = adapterOptions<PostgresAdapterOptions>(options, caller, OPTIONS);
  const table = identifierOption(checked.table, 'table', DEFAULT_TABLE);
  const schema =
    checked.schema === undefined ? undefined : identifierOption(checked.schema, 'schema', '');
  const qualify = (name: string) =>
    schema === undefined ? quote(name) : `${quote(schema)}.${quote(name)}`;
  return {
    table: qualify(table),
    migrationsTable: qualify(`${table}_migrations`),
    usageTable: qualify(`${table}_usage`),
    migrations: schema === undefined ? `${table}_migrations` : `${schema}.${table}_migrations`,
    display: schema === undefined ? table : `${schema}.${table}`,
    schema: schema === undefined ? undefined : quote(schema),
    // At most 40 + 16 characters: within PostgreSQL's 63-byte identifier limit.
    primaryKey: `${table}_pkey`,
    uniqueName: `${table}_scope_name_key`,
    expiresIndex: `${table}_expires_at_idx`,
    ownerIndex: `${table}_scope_owner_name_idx`,
    failuresTable: qualify(`${table}_failures`),
    failures: schema === undefined ? `${table}_failures` : `${schema}.${table}_failures`,
    failuresIndex: `${table}_failures_reset_at_idx`,
  };
}

/** One numbered step of the schema: `sql/postgres/NNNN-<name>.sql` for the default names. */
export interface SchemaStep {
  /** 1, 2, ...: the order of application, and the row `<table>_migrations` keeps. */
  version: number;
  /** kebab-case; the file is `sql/postgres/${NNNN}-${name}.sql`. */
  name: string;
  /** The step's statements for these names. Idempotent, as every PostgreSQL step is. */
  sql: (names: PostgresNames) => string;
}

/** Step 1: the table of 0.1.0, unchanged. */
const initialSql = (names: PostgresNames) => `CREATE TABLE IF NOT EXISTS ${names.table} (
  id           text        COLLATE "C" NOT NULL,
  scope        text        COLLATE "C" NOT NULL,
  name         text        COLLATE "C" NOT NULL,
  role         text        NOT NULL,
  secret_hash  text        NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz,
  last_used_at timestamptz,
  revoked_at   timestamptz,
  metadata     jsonb,
  CONSTRAINT ${quote(names.primaryKey)} PRIMARY KEY (id),
  CONSTRAINT ${quote(names.uniqueName)} UNIQUE (scope, name)
);

-- deleteExpired() purges through this index; keys that never expire are left out of it.
CREATE INDEX IF NOT EXISTS ${quote(names.expiresIndex)}
  ON ${names.table} (expires_at) WHERE expires_at IS NOT NULL;
`;

/**
 * Step 2: what updateApiKey() and rotateApiKey() store. Nullable columns without a default: no
 * table rewrite, and rows of 0.1.0 read as never rotated.
 */
const rotationSql = (
  names: PostgresNames,
) => `-- A key's own time to live, and the previous secret of a rotated key with the end of its grace
-- period. Rows of 0.1.0 keep NULL in each, which keymint reads as "never rotated" and as a time
-- to live of expiry minus creation.
ALTER TABLE ${names.table}
  ADD COLUMN IF NOT EXISTS ttl_seconds                int8,
  ADD COLUMN IF NOT EXISTS previous_secret_hash       text,
  ADD COLUMN IF NOT EXISTS previous_secret_expires_at timestamptz,
  ADD COLUMN IF NOT EXISTS rotated_at                 timestamptz;
`;

/**
 * Step 3: who a key belongs to (set at create only) and its narrowed permissions. Nullable
 * columns without a default (no table rewrite): older rows have no owner and every permission of
 * their role. The index serves `list({ owner })` in name order and `revokeByOwner`.
 */
const ownersSql = (
  names: PostgresNames,
) => `-- The key's owner (an opaque user or service-account id) and its narrowed permissions (a JSON
-- array; NULL is everything the role grants). Rows written before keep NULL in both.
ALTER TABLE ${names.table}
  ADD COLUMN IF NOT EXISTS owner       text COLLATE "C",
  ADD COLUMN IF NOT EXISTS permissions jsonb;
CREATE INDEX IF NOT EXISTS ${quote(names.ownerIndex)}
  ON ${names.table} (scope, owner, name);
`;

/**
 * Step 4 (issue 17): a key's own usage limits, and the counters
 * `consumeUsage` keeps apart from the record, one row per key, written by one upsert per
 * verification.
 */
const usageSql = (
  names: PostgresNames,
) => `-- A key's own rate limit and credits (JSON); NULL for none.
ALTER TABLE ${names.table} ADD COLUMN IF NOT EXISTS limits jsonb;

-- Usage counters: the rate-limit window and its count, the credit balance and its refill period.
CREATE TABLE IF NOT EXISTS ${names.usageTable} (
  id             text COLLATE "C" NOT NULL PRIMARY KEY,
  window_start   int8,
  count          int8 NOT NULL,
  credits_set    int8,
  credits_period int8,
  remaining      int8,
  ok             int2 NOT NULL
);
`;

/**
 * Step 5: the wrong-secret limit counted in the database (`reserveFailure`), one row per key id
 * with a window: created only for ids that have a record, dropped by `delete()` with the key and
 * by `deleteExpired()` once its window has ended (the index on `reset_at`). No foreign key, so
 * that `TRUNCATE` of the keys table still works. UNLOGGED: counting writes no WAL; a crash
 * empties the table, which ends every window early.
 */
const failuresSql = (
  names: PostgresNames,
) => `-- The wrong-secret limit (rateLimit) counted for every process: one window per key id.
-- Times are epoch milliseconds on the database's clock.
CREATE UNLOGGED TABLE IF NOT EXISTS ${names.failuresTable} (
  id           text COLLATE "C" NOT NULL PRIMARY KEY,
  window_start int8 NOT NULL,
  reset_at     int8 NOT NULL,
  failures     int4 NOT NULL
);
CREATE INDEX IF NOT EXISTS ${quote(names.failuresIndex)}
  ON ${names.failuresTable} (reset_at);
`;

/** Every step, in order. A step is never changed once released: a change is a new step. */
export const SCHEMA_STEPS: readonly SchemaStep[] = Object.freeze([
  { version: 1, name: 'initial', sql: initialSql },
  { version: 2, name: 'rotation', sql: rotationSql },
  { version: 3, name: 'owners', sql: ownersSql },
  { version: 4, name: 'usage', sql: usageSql },
  { version: 5, name: 'failures', sql: failuresSql },
]);

/** The file name a step ships under in `sql/postgres/`. */
export const stepFileName = (step: SchemaStep) =>
  `${String(step.version).padStart(4, '0')}-${step.name}.sql`;

/** A step's text as shipped: a header, then its SQL. */
export const stepText = (step: SchemaStep, names: PostgresNames) =>
  `-- keymint PostgreSQL schema, step ${step.version} (${step.name}). Apply the steps in order.
${step.sql(names)}`;

/** The table that records applied steps. */
const migrationsTableSql = (
  names: PostgresNames,
) => `CREATE TABLE IF NOT EXISTS ${names.migrationsTable} (
  version    integer     NOT NULL PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);
`;

/** The row that records `step` as applied now (kept when it is there already). */
const recordStepSql = (names: PostgresNames, step: SchemaStep) =>
  `INSERT INTO ${names.migrationsTable} (version, name) VALUES (${step.version}, '${step.name}') ON CONFLICT (version) DO NOTHING;
`;

/**
 * The whole current schema as SQL text (`sql/postgres.sql` for the default options): every step
 * in order, then `<table>_migrations` with a row for each, so that `migrate()` later finds every
 * step applied.
 */
export function schemaSql(names: PostgresNames): string {
  const createSchema =
    names.schema === undefined ? '' : `CREATE SCHEMA IF NOT EXISTS ${names.schema};\n\n`;
  const last = SCHEMA_STEPS[SCHEMA_STEPS.length - 1]!;
  return [
    `-- keymint API keys for PostgreSQL, schema version ${last.version}, as postgresSchema() from
-- 'keymint/adapters/postgres' writes it (pass { table, schema } there for other names): every
-- step of sql/postgres/ in order, and the table that records them. Safe to run more than once.
-- COLLATE "C" keeps list() in code point order.
${createSchema}`,
    ...SCHEMA_STEPS.map((step) => step.sql(names)),
    migrationsTableSql(names),
    ...SCHEMA_STEPS.map((step) => recordStepSql(names, step)),
  ].join('');
}

/** Serialises every keymint migration in a database, whatever its schema or table. */
const MIGRATION_LOCK = '30229394709114484'; // 'keymint' in ASCII, as a bigint

/**
 * The versioned upgrade behind an advisory lock. Sent as one simple-protocol query, the
 * statements run as one implicit transaction on one connection (also through a Pool), so the
 * transaction-scoped lock covers them all and is released on commit or rollback; an error leaves
 * no open transaction and nothing applied. Versions live in `<table>_migrations`; a table of
 * 0.1.0 (which had no such table) counts as version 1. Each missing step runs in a DO block that
 * first checks, under the lock, that its version is not recorded yet.
 */
export function migrationSql(names: PostgresNames): string {
  const meta = names.migrationsTable;
  const createSchema =
    names.schema === undefined ? '' : `CREATE SCHEMA IF NOT EXISTS ${names.schema};\n`;
  const steps = SCHEMA_STEPS.map(
    (step) => `DO $keymint$ BEGIN
IF NOT EXISTS (SELECT 1 FROM ${meta} WHERE version = ${step.version}) THEN
${step.sql(names)}
${recordStepSql(names, step)}END IF;
END $keymint$;`,
  );
  return `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK});
${createSchema}${migrationsTableSql(names)}-- A table created by 0.1.0 (or from sql/postgres.sql of 0.1.0) is at version 1.
INSERT INTO ${meta} (version, name)
  SELECT 1, 'initial'
   WHERE to_regclass('${names.table}') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${meta});
${steps.join('\n')}
`;
}
