import type { StoredApiKey } from '../../adapter.js';
import { toDate, toMetadata, toPermissions } from '../../internal/sql.js';

const REQUIRED = ['id', 'name', 'role', 'scope', 'secretHash', 'createdAt'] as const;
const OPTIONAL_DATES = [
  'expiresAt',
  'lastUsedAt',
  'revokedAt',
  'previousSecretExpiresAt',
  'rotatedAt',
] as const;

/**
 * The hash fields `modify` may change, with how a value is written (`null` deletes the field).
 */
export const CHANGE_FIELDS = {
  name: (v: unknown) => v as string,
  role: (v: unknown) => v as string,
  metadata: (v: unknown) => JSON.stringify(v),
  expiresAt: (v: unknown) => String((v as Date).getTime()),
  ttlSeconds: (v: unknown) => String(v),
  secretHash: (v: unknown) => v as string,
  previousSecretHash: (v: unknown) => v as string,
  previousSecretExpiresAt: (v: unknown) => String((v as Date).getTime()),
  rotatedAt: (v: unknown) => String((v as Date).getTime()),
  permissions: (v: unknown) => JSON.stringify(v),
  limits: (v: unknown) => JSON.stringify(v),
} as const;

/** A record as the field/value list of its hash: dates as epoch ms, absent fields for null. */
export function toFields(record: StoredApiKey): string[] {
  const fields = [
    'id',
    record.id,
    'name',
    record.name,
    'role',
    record.role,
    'scope',
    record.scope,
    'secretHash',
    record.secretHash,
    'createdAt',
    String(record.createdAt.getTime()),
  ];
  for (const field of OPTIONAL_DATES) {
    const date = record[field];
    if (date) fields.push(field, String(date.getTime()));
  }
  if (record.metadata !== null) fields.push('metadata', JSON.stringify(record.metadata));
  if (record.ttlSeconds !== null && record.ttlSeconds !== undefined) {
    fields.push('ttlSeconds', String(record.ttlSeconds));
  }
  if (record.previousSecretHash) fields.push('previousSecretHash', record.previousSecretHash);
  if (record.owner) fields.push('owner', record.owner);
  if (record.permissions) fields.push('permissions', JSON.stringify(record.permissions));
  if (record.limits) fields.push('limits', JSON.stringify(record.limits));
  return fields;
}

/**
 * A hash's fields, from a script's flat field/value array, a Map (RESP3), or the object ioredis's
 * HGETALL makes (used as it is: verification reads a record per call).
 */
function fieldsOf(reply: unknown): Record<string, unknown> {
  if (Array.isArray(reply)) {
    const fields: Record<string, unknown> = Object.create(null);
    for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = reply[i + 1];
    return fields;
  }
  if (reply instanceof Map) {
    const fields: Record<string, unknown> = Object.create(null);
    for (const [field, value] of reply) fields[String(field)] = value;
    return fields;
  }
  return reply !== null && typeof reply === 'object' ? (reply as Record<string, unknown>) : {};
}

function isEmpty(fields: Record<string, unknown>): boolean {
  for (const field in fields) if (Object.hasOwn(fields, field)) return false;
  return true;
}

/** A field's value as text; undefined when the hash lacks it (never a prototype's property). */
function text(fields: Record<string, unknown>, field: string): string | undefined {
  const value = fields[field];
  return value === undefined || !Object.hasOwn(fields, field) ? undefined : String(value);
}

function date(value: string | undefined, field: string, id: string): Date | null {
  const parsed = toDate(value);
  if (parsed && Number.isNaN(parsed.getTime())) {
    throw new Error(`The Redis record of key ${id} has an unreadable ${field}.`);
  }
  return parsed;
}

/** A hash read back as a fresh record; null for an empty (missing) hash. Throws on a broken one. */
export function fromFields(reply: unknown): StoredApiKey | null {
  const fields = fieldsOf(reply);
  if (isEmpty(fields)) return null;
  // Each field read once (verification reads a record per call). The required ones are
  // REQUIRED's, spelled out: a field added there must be added to the check below.
  const id = text(fields, 'id');
  const name = text(fields, 'name');
  const role = text(fields, 'role');
  const scope = text(fields, 'scope');
  const secretHash = text(fields, 'secretHash');
  const createdAt = text(fields, 'createdAt');
  if (
    id === undefined ||
    name === undefined ||
    role === undefined ||
    scope === undefined ||
    secretHash === undefined ||
    createdAt === undefined
  ) {
    const missing = REQUIRED.filter((field) => text(fields, field) === undefined);
    throw new Error(
      `The Redis record of key ${id ?? '?'} lacks ${missing.join(', ')}: not a keymint record.`,
    );
  }
  const ttlSeconds = text(fields, 'ttlSeconds');
  return {
    id,
    name,
    role,
    scope,
    secretHash,
    createdAt: date(createdAt, 'createdAt', id)!,
    expiresAt: date(text(fields, 'expiresAt'), 'expiresAt', id),
    lastUsedAt: date(text(fields, 'lastUsedAt'), 'lastUsedAt', id),
    revokedAt: date(text(fields, 'revokedAt'), 'revokedAt', id),
    metadata: toMetadata(text(fields, 'metadata')),
    // Absent in records written before 0.2.0: read as null.
    ttlSeconds: ttlSeconds === undefined ? null : Number(ttlSeconds),
    previousSecretHash: text(fields, 'previousSecretHash') ?? null,
    previousSecretExpiresAt: date(
      text(fields, 'previousSecretExpiresAt'),
      'previousSecretExpiresAt',
      id,
    ),
    rotatedAt: date(text(fields, 'rotatedAt'), 'rotatedAt', id),
    // Absent in records written before 0.3.0, and for keys without an owner or a narrowed list.
    owner: text(fields, 'owner') ?? null,
    permissions: toPermissions(text(fields, 'permissions')),
    limits: toMetadata(text(fields, 'limits')) as StoredApiKey['limits'],
  };
}
