import type { StoredApiKey } from '../../adapter.js';
import { rowToRecord, toDate, toMetadata, toPermissions, type KeyRow } from '../../internal/sql.js';
import { readonlyDateAt } from '../../internal/readonly-date.js';
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
export function rowReader(
  prepared: () => SqliteStatement,
  { shared = false }: { shared?: boolean } = {},
): (id: string) => StoredApiKey | null {
  const dateOf = shared ? sharedDateOf : plainDateOf;
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
    // Columns keymint does not know yet (a newer schema step): by name, through rowToRecord.
    return layout.others.length === 0 ? recordOf(v, layout.at, dateOf) : rowOf(v, layout);
  };
}

/** SQLite keeps instants as epoch milliseconds: a number is the common case. */
const plainDateOf = (value: unknown): Date | null =>
  typeof value === 'number' ? new Date(value) : toDate(value);

/**
 * For the verifier's own reads (`shared`): read-only dates, which its public view then takes as
 * they are instead of copying each. Only there: `findById` gives a caller dates of its own.
 */
const sharedDateOf = (value: unknown): Date | null =>
  typeof value === 'number' ? readonlyDateAt(value) : toDate(value);

/**
 * {@link rowToRecord} straight from the row's array, without a row object in between (a column
 * the table lacks, at -1, reads as undefined, as it does from a row object).
 */
function recordOf(
  v: unknown[],
  at: Int32Array,
  dateOf: (value: unknown) => Date | null,
): StoredApiKey {
  const ttl = v[at[10]!];
  const previous = v[at[11]!];
  const owner = v[at[14]!];
  return {
    id: v[at[0]!] as string,
    name: v[at[2]!] as string,
    role: v[at[3]!] as string,
    scope: v[at[1]!] as string,
    secretHash: v[at[4]!] as string,
    createdAt: dateOf(v[at[5]!]) ?? new Date(Number.NaN),
    expiresAt: dateOf(v[at[6]!]),
    lastUsedAt: dateOf(v[at[7]!]),
    revokedAt: dateOf(v[at[8]!]),
    metadata: toMetadata(v[at[9]!]),
    ttlSeconds: ttl === null || ttl === undefined ? null : Number(ttl),
    previousSecretHash: typeof previous === 'string' ? previous : null,
    previousSecretExpiresAt: dateOf(v[at[12]!]),
    rotatedAt: dateOf(v[at[13]!]),
    owner: typeof owner === 'string' ? owner : null,
    permissions: toPermissions(v[at[15]!]),
    limits: toMetadata(v[at[16]!]) as StoredApiKey['limits'],
  };
}

/** The row object of `v`, for {@link rowToRecord}: every column by name. */
function rowOf(v: unknown[], { at, others }: Layout): StoredApiKey {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < KNOWN.length; i++) row[KNOWN[i]!] = v[at[i]!];
  for (let i = 0; i < others.length; i++) row[others[i]!.name] = v[others[i]!.index];
  return rowToRecord(row as unknown as KeyRow);
}
