import type { StoredApiKey } from '../../adapter.js';
import { rowToRecord, type KeyRow } from '../../internal/sql.js';
import type { SqliteStatement } from './database.js';

/** What better-sqlite3's statements offer besides {@link SqliteStatement}: rows as arrays. */
interface RawCapable extends SqliteStatement {
  raw(toggle?: boolean): SqliteStatement;
  columns(): { name: string }[];
}

/** The columns {@link rowToRecord} reads, placed by index; any other column is copied by name. */
const KNOWN = [
  'id',
  'scope',
  'name',
  'role',
  'secret_hash',
  'created_at',
  'expires_at',
  'last_used_at',
  'revoked_at',
  'metadata',
  'ttl_seconds',
  'previous_secret_hash',
  'previous_secret_expires_at',
  'rotated_at',
  'owner',
  'permissions',
  'limits',
] as const;

/** Where each column of a statement's result sits. */
interface Layout {
  count: number;
  /** By KNOWN's order; -1 for a column the table lacks (one of an older version). */
  at: Int32Array;
  /** Columns KNOWN does not list (added by a newer schema step), by name. */
  others: { name: string; index: number }[];
}

function layoutOf(statement: RawCapable): Layout {
  const names = statement.columns().map((column) => column.name);
  return {
    count: names.length,
    at: Int32Array.from(KNOWN, (name) => names.indexOf(name)),
    others: names
      .map((name, index) => ({ name, index }))
      .filter(({ name }) => !(KNOWN as readonly string[]).includes(name)),
  };
}

/**
 * Reads the record of `SELECT * ... WHERE id = ?` (a statement used for nothing else), or null.
 * With better-sqlite3, the row comes as an array (building the row object costs the driver about
 * as much as the query), named from the statement's columns, which are read again whenever their
 * number changes (a migrate that added a column, which SQLite's automatic re-prepare picks up).
 */
export function rowReader(prepared: () => SqliteStatement): (id: string) => StoredApiKey | null {
  let statement: SqliteStatement | undefined;
  let raw: RawCapable | null = null;
  let layout: Layout | undefined;
  return (id) => {
    const current = prepared();
    if (current !== statement) {
      statement = current;
      const candidate = current as Partial<RawCapable>;
      raw =
        typeof candidate.raw === 'function' && typeof candidate.columns === 'function'
          ? (candidate.raw(true) as RawCapable)
          : null;
      layout = raw ? layoutOf(raw) : undefined;
    }
    if (!raw || !layout) {
      const row = current.get(id);
      return row ? rowToRecord(row as KeyRow) : null;
    }
    const v = raw.get(id) as unknown[] | undefined;
    if (!v) return null;
    if (v.length !== layout.count) layout = layoutOf(raw);
    const { at, others } = layout;
    const row: Record<string, unknown> = {
      id: v[at[0]!],
      scope: v[at[1]!],
      name: v[at[2]!],
      role: v[at[3]!],
      secret_hash: v[at[4]!],
      created_at: v[at[5]!],
      expires_at: v[at[6]!],
      last_used_at: v[at[7]!],
      revoked_at: v[at[8]!],
      metadata: v[at[9]!],
      ttl_seconds: v[at[10]!],
      previous_secret_hash: v[at[11]!],
      previous_secret_expires_at: v[at[12]!],
      rotated_at: v[at[13]!],
      owner: v[at[14]!],
      permissions: v[at[15]!],
      limits: v[at[16]!],
    };
    for (let i = 0; i < others.length; i++) row[others[i]!.name] = v[others[i]!.index];
    return rowToRecord(row as unknown as KeyRow);
  };
}
