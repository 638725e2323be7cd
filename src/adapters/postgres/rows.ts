import type { StoredApiKey } from '../../adapter.js';
import { permissionsText, toDate, toMetadata, toPermissions } from '../../internal/sql.js';

/**
 * Timestamps are read as epoch milliseconds (int8, which pg returns as a string), so records do not
 * depend on the session's DateStyle or TimeZone, nor on type parsers the application installed.
 */
const epochMs = (column: string) => `(extract(epoch FROM ${column}) * 1000)::int8 AS ${column}`;

/** The select list every read and RETURNING clause uses; `fromRow` reads it. */
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

/** A row of `COLUMNS` as a fresh record: pg builds new objects for every result. */
export function fromRow(row: unknown): StoredApiKey {
  const r = row as Record<string, unknown>;
  return {
    id: r.id as string,
    scope: r.scope as string,
    name: r.name as string,
    role: r.role as string,
    secretHash: r.secret_hash as string,
    createdAt: toDate(r.created_at) ?? new Date(Number.NaN),
    expiresAt: toDate(r.expires_at),
    lastUsedAt: toDate(r.last_used_at),
    revokedAt: toDate(r.revoked_at),
    metadata: toMetadata(r.metadata),
    ttlSeconds:
      r.ttl_seconds === null || r.ttl_seconds === undefined ? null : Number(r.ttl_seconds),
    previousSecretHash: (r.previous_secret_hash as string | null | undefined) ?? null,
    previousSecretExpiresAt: toDate(r.previous_secret_expires_at),
    rotatedAt: toDate(r.rotated_at),
    owner: (r.owner as string | null | undefined) ?? null,
    permissions: toPermissions(r.permissions),
    limits: toMetadata(r.limits) as StoredApiKey['limits'],
  };
}

const pad = (value: number, length = 2) => String(value).padStart(length, '0');

/**
 * A Date as timestamptz input text in UTC. pg's own conversion uses the process's local offset
 * (whole minutes only, wrong for historical offsets with seconds); this one does not depend on it.
 * Years before 1 are written the way PostgreSQL reads them: `0001 BC` is year 0.
 */
export function timestamp(date: Date | null | undefined): string | null {
  if (!date) return null;
  const year = date.getUTCFullYear();
  const era = year < 1 ? ' BC' : '';
  return (
    `${pad(year < 1 ? 1 - year : year, 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}` +
    `.${pad(date.getUTCMilliseconds(), 3)}+00:00${era}`
  );
}

/** The INSERT parameters for `INSERT_COLUMNS`. */
export function insertValues(record: StoredApiKey): unknown[] {
  return [
    record.id,
    record.scope,
    record.name,
    record.role,
    record.secretHash,
    timestamp(record.createdAt),
    timestamp(record.expiresAt),
    timestamp(record.lastUsedAt),
    timestamp(record.revokedAt),
    // Stringified here: pg would send a JavaScript array as a PostgreSQL array, not JSON.
    jsonText(record.metadata),
    record.ttlSeconds ?? null,
    record.previousSecretHash ?? null,
    timestamp(record.previousSecretExpiresAt),
    timestamp(record.rotatedAt),
    record.owner ?? null,
    permissionsText(record.permissions),
    jsonText(record.limits as Record<string, unknown> | null | undefined),
  ];
}

/** Metadata as jsonb input text (null for null or absent). */
export const jsonText = (metadata: Record<string, unknown> | null | undefined) =>
  metadata === null || metadata === undefined ? null : JSON.stringify(metadata);

/** The columns `modify` may set, with their parameter casts and how a value is sent. */
export const CHANGE_COLUMNS = {
  name: ['name', 'text', (v: unknown) => v],
  role: ['role', 'text', (v: unknown) => v],
  metadata: ['metadata', 'jsonb', (v: unknown) => jsonText(v as Record<string, unknown> | null)],
  expiresAt: ['expires_at', 'timestamptz', (v: unknown) => timestamp(v as Date | null)],
  ttlSeconds: ['ttl_seconds', 'int8', (v: unknown) => v],
  secretHash: ['secret_hash', 'text', (v: unknown) => v],
  previousSecretHash: ['previous_secret_hash', 'text', (v: unknown) => v],
  previousSecretExpiresAt: [
    'previous_secret_expires_at',
    'timestamptz',
    (v: unknown) => timestamp(v as Date | null),
  ],
  rotatedAt: ['rotated_at', 'timestamptz', (v: unknown) => timestamp(v as Date | null)],
  permissions: ['permissions', 'jsonb', (v: unknown) => permissionsText(v as string[] | null)],
  limits: ['limits', 'jsonb', (v: unknown) => jsonText(v as Record<string, unknown> | null)],
} as const;
