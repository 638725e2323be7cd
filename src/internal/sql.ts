import { KeymintError } from '../errors.js';
import type { StoredApiKey } from '../adapter.js';

/** Table and schema names: plain identifiers, short enough for the index names derived from them. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;

export const DEFAULT_TABLE = 'keymint_api_keys';

/** Checks an identifier option; quoting is then safe and the name is used verbatim. */
export function identifierOption(value: unknown, option: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new KeymintError(
      'CONFIG',
      `Invalid ${option}: use 1 to 40 letters, digits or underscores, not starting with a digit.`,
    );
  }
  return value;
}

/** Checks that an adapter's options are an object (or absent) and name no unknown option. */
export function adapterOptions<T extends object>(
  value: unknown,
  adapter: string,
  known: readonly (keyof T & string)[],
): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new KeymintError('CONFIG', `${adapter}() options must be an object.`);
  }
  for (const key of Object.keys(value)) {
    if (!(known as readonly string[]).includes(key)) {
      throw new KeymintError(
        'CONFIG',
        `Unknown ${adapter}() option ${JSON.stringify(key.slice(0, 40))}: the options are ${known.join(', ')}.`,
      );
    }
  }
  return value as Partial<T>;
}

/** A stored instant (Date, epoch milliseconds as number, bigint or string, or ISO text) as a Date. */
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return new Date(value.getTime());
  if (typeof value === 'number' || typeof value === 'bigint') return new Date(Number(value));
  if (typeof value === 'string') {
    return /^-?\d+$/.test(value) ? new Date(Number(value)) : new Date(value);
  }
  return new Date(Number.NaN);
}

/** Stored metadata (JSON text, or an object a driver already parsed) as an object or null. */
export function toMetadata(value: unknown): Record<string, unknown> | null {
  if (value === null || value === undefined) return null;
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  return parsed as Record<string, unknown>;
}

/** The error an adapter throws (as the cause of STORE_FAILURE) when its table is missing. */
export function missingTable(table: string, module: string, cause: unknown): Error {
  const error = new Error(
    `The table ${table} does not exist: apply the schema first, with migrate() from '${module}' or the SQL in 'keymint/sql/'.`,
    { cause },
  );
  // Keep the driver's code (42P01, SQLITE_ERROR) where code that branches on it looks.
  const code = (cause as { code?: unknown } | null)?.code;
  return code === undefined ? error : Object.assign(error, { code });
}

/** The error an adapter throws (as the cause of STORE_FAILURE) when its table lacks a column. */
export function outdatedTable(table: string, module: string, cause: unknown): Error {
  const error = new Error(
    `The table ${table} is at an older schema version (a column is missing): upgrade it first, with migrate() from '${module}' or the step files in 'keymint/sql/'.`,
    { cause },
  );
  const code = (cause as { code?: unknown } | null)?.code;
  return code === undefined ? error : Object.assign(error, { code });
}

/** A row of the SQL adapters' table (snake_case columns) as a record. */
export interface KeyRow {
  id: string;
  scope: string;
  name: string;
  role: string;
  secret_hash: string;
  created_at: unknown;
  expires_at: unknown;
  last_used_at: unknown;
  revoked_at: unknown;
  metadata: unknown;
  /** Absent in a table of 0.1.0 that was not migrated. */
  ttl_seconds?: unknown;
  previous_secret_hash?: unknown;
  previous_secret_expires_at?: unknown;
  rotated_at?: unknown;
  /** Absent in a table before schema step owners (0.3.0). */
  owner?: unknown;
  permissions?: unknown;
  limits?: unknown;
}

/** Stored permissions (JSON text, or an array a driver already parsed) as an array or null. */
export function toPermissions(value: unknown): string[] | null {
  if (value === null || value === undefined) return null;
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  return Array.isArray(parsed) ? parsed.map(String) : null;
}

/** Permissions as JSON text for a TEXT or jsonb column (null for null or absent). */
export const permissionsText = (permissions: readonly string[] | null | undefined) =>
  permissions === null || permissions === undefined ? null : JSON.stringify(permissions);

export function rowToRecord(row: KeyRow): StoredApiKey {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    scope: row.scope,
    secretHash: row.secret_hash,
    createdAt: toDate(row.created_at) ?? new Date(Number.NaN),
    expiresAt: toDate(row.expires_at),
    lastUsedAt: toDate(row.last_used_at),
    revokedAt: toDate(row.revoked_at),
    metadata: toMetadata(row.metadata),
    ttlSeconds:
      row.ttl_seconds === null || row.ttl_seconds === undefined ? null : Number(row.ttl_seconds),
    previousSecretHash:
      typeof row.previous_secret_hash === 'string' ? row.previous_secret_hash : null,
    previousSecretExpiresAt: toDate(row.previous_secret_expires_at),
    rotatedAt: toDate(row.rotated_at),
    owner: typeof row.owner === 'string' ? row.owner : null,
    permissions: toPermissions(row.permissions),
    limits: toMetadata(row.limits) as StoredApiKey['limits'],
  };
}
