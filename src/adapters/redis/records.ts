import type { StoredApiKey } from '../../adapter.js';
import { toDate, toMetadata } from '../../internal/sql.js';

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
  if (record.limits) fields.push('limits', JSON.stringify(record.limits));
  return fields;
}

/** A hash as a plain object, from a script's flat field/value array or from HGETALL. */
function entries(reply: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]));
  } else if (reply instanceof Map) {
    for (const [field, value] of reply) map.set(String(field), String(value));
  } else if (reply !== null && typeof reply === 'object') {
    for (const [field, value] of Object.entries(reply)) map.set(field, String(value));
  }
  return map;
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
  const map = entries(reply);
  if (map.size === 0) return null;
  const id = map.get('id') ?? '?';
  const missing = REQUIRED.filter((field) => !map.has(field));
  if (missing.length > 0) {
    throw new Error(
      `The Redis record of key ${id} lacks ${missing.join(', ')}: not a keymint record.`,
    );
  }
  return {
    id,
    name: map.get('name')!,
    role: map.get('role')!,
    scope: map.get('scope')!,
    secretHash: map.get('secretHash')!,
    createdAt: date(map.get('createdAt'), 'createdAt', id)!,
    expiresAt: date(map.get('expiresAt'), 'expiresAt', id),
    lastUsedAt: date(map.get('lastUsedAt'), 'lastUsedAt', id),
    revokedAt: date(map.get('revokedAt'), 'revokedAt', id),
    metadata: toMetadata(map.get('metadata')),
    // Absent in records written before 0.2.0: read as null.
    ttlSeconds: map.has('ttlSeconds') ? Number(map.get('ttlSeconds')) : null,
    previousSecretHash: map.get('previousSecretHash') ?? null,
    previousSecretExpiresAt: date(
      map.get('previousSecretExpiresAt'),
      'previousSecretExpiresAt',
      id,
    ),
    rotatedAt: date(map.get('rotatedAt'), 'rotatedAt', id),
    limits: toMetadata(map.get('limits')) as StoredApiKey['limits'],
  };
}
