import type { KeyChanges, ModifyCondition, ModifyResult, StoredApiKey } from '../../adapter.js';
import { permissionsText, rowToRecord, type KeyRow } from '../../internal/sql.js';

/** The part of better-sqlite3 `modify` needs (see `SqliteDatabase`). */
interface Prepares {
  prepare(source: string): {
    get(...params: unknown[]): unknown;
  };
}

const ms = (date: Date | null) => (date ? date.getTime() : null);

/** The columns `modify` may set, and how a value is stored (STRICT: INTEGER or TEXT). */
const COLUMNS: Record<keyof KeyChanges, [column: string, store: (value: never) => unknown]> = {
  name: ['name', (value: string) => value],
  role: ['role', (value: string) => value],
  metadata: ['metadata', (value: object | null) => (value === null ? null : JSON.stringify(value))],
  expiresAt: ['expires_at', ms],
  ttlSeconds: ['ttl_seconds', (value: number | null) => value],
  secretHash: ['secret_hash', (value: string) => value],
  previousSecretHash: ['previous_secret_hash', (value: string | null) => value],
  previousSecretExpiresAt: ['previous_secret_expires_at', ms],
  rotatedAt: ['rotated_at', ms],
  permissions: ['permissions', (value: string[] | null) => permissionsText(value)],
  limits: ['limits', (value: object | null) => (value === null ? null : JSON.stringify(value))],
};

/**
 * `modify` over one table: one UPDATE whose WHERE holds the conditions, so the check and the
 * change are one statement (SQLite runs it under the database's write lock, across processes);
 * the unique index on (scope, name) refuses a taken name, and the statement then changed nothing.
 * Statements are prepared once per combination of fields.
 */
export function modifier(db: Prepares, table: string) {
  const t = `"${table}"`;
  const prepared = new Map<string, { get(...params: unknown[]): unknown }>();
  const statement = (fields: readonly string[], conditional: boolean) => {
    const shape = `${fields.join(',')}|${conditional}`;
    let found = prepared.get(shape);
    if (!found) {
      const sets = fields.map((field) => `"${COLUMNS[field as keyof KeyChanges][0]}" = @${field}`);
      found = db.prepare(
        `UPDATE ${t} SET ${sets.length > 0 ? sets.join(', ') : '"id" = "id"'}
          WHERE "id" = @id AND "revoked_at" IS NULL${conditional ? ' AND "secret_hash" = @condition' : ''}
          RETURNING *`,
      );
      prepared.set(shape, found);
    }
    return found;
  };
  let why: { get(...params: unknown[]): unknown } | undefined;

  return function modify(
    id: string,
    changes: KeyChanges,
    condition: ModifyCondition | undefined,
  ): ModifyResult {
    const fields = (Object.keys(COLUMNS) as (keyof KeyChanges)[]).filter(
      (field) => changes[field] !== undefined,
    );
    const params: Record<string, unknown> = { id };
    for (const field of fields) params[field] = COLUMNS[field][1](changes[field] as never);
    const conditional = condition?.secretHash !== undefined;
    if (conditional) params.condition = condition.secretHash;
    let row: unknown;
    try {
      row = statement(fields, conditional).get(params);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        return { ok: false, reason: 'name' };
      }
      throw error;
    }
    if (row) return { ok: true, record: rowToRecord(row as KeyRow) as StoredApiKey };
    why ??= db.prepare(`SELECT "revoked_at" IS NOT NULL AS revoked FROM ${t} WHERE "id" = ?`);
    const found = why.get(id) as { revoked: number } | undefined;
    if (!found) return { ok: false, reason: 'not_found' };
    if (found.revoked) return { ok: false, reason: 'revoked' };
    return { ok: false, reason: conditional ? 'secret' : 'not_found' };
  };
}
