import type { StoredApiKey } from '../../adapter.js';
import { toDate, toMetadata } from '../../internal/sql.js';

/**
 * A DATETIME(3) column as epoch milliseconds: the column holds UTC, and TIMESTAMPDIFF against a
 * literal DATETIME involves no time zone (UNIX_TIMESTAMP() would read it in the session's zone).
 */
const epochMs = (column: string) =>
  `TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${column}) DIV 1000 AS ${column}`;

/** The select list every read uses; `fromRow` reads it. */
export const COLUMNS = [
  'id',
  'scope',
  'name',
  'role',
  'secret_hash',
  epochMs('created_at'),
  epochMs('expires_at'),
  epochMs('last_used_at'),
  epochMs('revoked_at'),
  'metadata',
  'ttl_seconds',
  'previous_secret_hash',
  epochMs('previous_secret_expires_at'),
  epochMs('rotated_at'),
  'owner',
  'permissions',
  'limits',
].join(', ');

/** The column names in INSERT order, matching `insertValues`. */
export const INSERT_COLUMNS =
  'id, scope, name, role, secret_hash, created_at, expires_at, last_used_at, revoked_at, metadata, ' +
  'ttl_seconds, previous_secret_hash, previous_secret_expires_at, rotated_at, owner, permissions, limits';

/** `?` placeholders for INSERT_COLUMNS. */
export const INSERT_PLACEHOLDERS = Array.from({ length: 17 }, () => '?').join(', ');

/** VARBINARY columns come back as Buffers (UTF-8 bytes); text columns as strings. */
export function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

const nullableText = (value: unknown) =>
  value === null || value === undefined ? null : text(value);

/** A row of `COLUMNS` as a fresh record. */
export function fromRow(row: unknown): StoredApiKey {
  const r = row as Record<string, unknown>;
  return {
    id: text(r.id),
    scope: text(r.scope),
    name: text(r.name),
    role: text(r.role),
    secretHash: text(r.secret_hash),
    createdAt: toDate(r.created_at) ?? new Date(Number.NaN),
    expiresAt: toDate(r.expires_at),
    lastUsedAt: toDate(r.last_used_at),
    revokedAt: toDate(r.revoked_at),
    metadata: toMetadata(nullableText(r.metadata)),
    ttlSeconds:
      r.ttl_seconds === null || r.ttl_seconds === undefined ? null : Number(r.ttl_seconds),
    previousSecretHash: nullableText(r.previous_secret_hash),
    previousSecretExpiresAt: toDate(r.previous_secret_expires_at),
    rotatedAt: toDate(r.rotated_at),
    owner: nullableText(r.owner),
    permissions: permissionsOf(nullableText(r.permissions)),
    limits: toMetadata(nullableText(r.limits)) as StoredApiKey['limits'],
  };
}

const pad = (value: number, length = 2) => String(value).padStart(length, '0');

/**
 * A Date as DATETIME(3) text in UTC: `2026-05-04 12:00:00.123`. Never a Date parameter, which
 * mysql2 would write in the pool's `timezone` (the process's local zone by default). DATETIME
 * holds years 1000 to 9999: an instant outside them throws (the core reports STORE_FAILURE).
 */
export function datetime(date: Date | null | undefined): string | null {
  if (!date) return null;
  const year = date.getUTCFullYear();
  if (!(year >= 1000 && year <= 9999)) {
    throw new RangeError(
      `MySQL DATETIME holds the years 1000 to 9999: cannot store ${Number.isNaN(year) ? 'an invalid date' : date.toISOString()}.`,
    );
  }
  return (
    `${year}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}` +
    `.${pad(date.getUTCMilliseconds(), 3)}`
  );
}

/** Permissions as JSON text (null for null or absent), and back. */
export const permissionsText = (permissions: readonly string[] | null | undefined) =>
  permissions === null || permissions === undefined ? null : JSON.stringify(permissions);
const permissionsOf = (value: string | null): string[] | null =>
  value === null ? null : (JSON.parse(value) as string[]);

/** Metadata as JSON text (null for null or absent). */
export const jsonText = (metadata: Record<string, unknown> | null | undefined) =>
  metadata === null || metadata === undefined ? null : JSON.stringify(metadata);

/** The INSERT parameters for `INSERT_COLUMNS`. */
export function insertValues(record: StoredApiKey): unknown[] {
  return [
    record.id,
    record.scope,
    record.name,
    record.role,
    record.secretHash,
    datetime(record.createdAt),
    datetime(record.expiresAt),
    datetime(record.lastUsedAt),
    datetime(record.revokedAt),
    jsonText(record.metadata),
    record.ttlSeconds ?? null,
    record.previousSecretHash ?? null,
    datetime(record.previousSecretExpiresAt),
    datetime(record.rotatedAt),
    record.owner ?? null,
    permissionsText(record.permissions),
    jsonText(record.limits as Record<string, unknown> | null | undefined),
  ];
}

/** A DATETIME(3) parameter: the text of `datetime()` read back as a DATETIME(3). */
export const AT = 'CAST(? AS DATETIME(3))';

/** The columns `modify` may set, with the placeholder and how a value is sent. */
export const CHANGE_COLUMNS: Record<
  string,
  [column: string, sql: string, send: (v: unknown) => unknown]
> = {
  name: ['name', '?', (v) => v],
  role: ['role', '?', (v) => v],
  metadata: ['metadata', '?', (v) => jsonText(v as Record<string, unknown> | null)],
  expiresAt: ['expires_at', AT, (v) => datetime(v as Date | null)],
  ttlSeconds: ['ttl_seconds', '?', (v) => v],
  secretHash: ['secret_hash', '?', (v) => v],
  previousSecretHash: ['previous_secret_hash', '?', (v) => v],
  previousSecretExpiresAt: ['previous_secret_expires_at', AT, (v) => datetime(v as Date | null)],
  rotatedAt: ['rotated_at', AT, (v) => datetime(v as Date | null)],
  permissions: ['permissions', '?', (v) => permissionsText(v as string[] | null)],
  limits: ['limits', '?', (v) => jsonText(v as Record<string, unknown> | null)],
};
