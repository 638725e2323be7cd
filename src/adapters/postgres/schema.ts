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
}

/** The SQL names derived from the options: quoted for SQL, or bare where PostgreSQL reports them. */
export interface PostgresNames {
  /** The quoted, schema-qualified table: `"auth"."api_keys"`. */
  table: string;
  /** The table as people read it: `auth.api_keys`. */
  display: string;
  /** The quoted schema, when one was given. */
  schema: string | undefined;
  /** Bare constraint and index names, as `error.constraint` and `pg_indexes` report them. */
  primaryKey: string;
  uniqueName: string;
  expiresIndex: string;
}

const OPTIONS = ['table', 'schema'] as const;

/** Identifiers are checked against a strict pattern first, so quoting cannot be escaped. */
const quote = (identifier: string) => `"${identifier}"`;

/** Checks the options (bad ones throw KeymintError CONFIG) and derives every SQL name. */
export function postgresNames(options: unknown, caller: string): PostgresNames {
  const checked = adapterOptions<PostgresAdapterOptions>(options, caller, OPTIONS);
  const table = identifierOption(checked.table, 'table', DEFAULT_TABLE);
  const schema =
    checked.schema === undefined ? undefined : identifierOption(checked.schema, 'schema', '');
  return {
    table: schema === undefined ? quote(table) : `${quote(schema)}.${quote(table)}`,
    display: schema === undefined ? table : `${schema}.${table}`,
    schema: schema === undefined ? undefined : quote(schema),
    // At most 40 + 16 characters: within PostgreSQL's 63-byte identifier limit.
    primaryKey: `${table}_pkey`,
    uniqueName: `${table}_scope_name_key`,
    expiresIndex: `${table}_expires_at_idx`,
  };
}

/** The schema as SQL text; `sql/postgres.sql` is this text for the default options. */
export function schemaSql(names: PostgresNames): string {
  const createSchema =
    names.schema === undefined ? '' : `CREATE SCHEMA IF NOT EXISTS ${names.schema};\n\n`;
  return `-- keymint API keys for PostgreSQL, as postgresSchema() from 'keymint/adapters/postgres' writes
-- it (pass { table, schema } there for other names); migrate() applies it. Safe to run more than
-- once. COLLATE "C" keeps list() in code point order.
${createSchema}CREATE TABLE IF NOT EXISTS ${names.table} (
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
}

/** Serialises every keymint migration in a database, whatever its schema or table. */
const MIGRATION_LOCK = '30229394709114484'; // 'keymint' in ASCII, as a bigint

/**
 * The schema behind an advisory lock. Sent as one simple-protocol query, the statements run as
 * one implicit transaction on one connection (also through a Pool), so the transaction-scoped lock
 * covers them all and is released on commit or rollback; an error leaves no open transaction.
 */
export function migrationSql(names: PostgresNames): string {
  return `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK});\n${schemaSql(names)}`;
}
