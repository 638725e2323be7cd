import type { ListQuery, StoredApiKey } from '../../adapter.js';
import { COLUMNS, fromRow, timestamp } from './rows.js';

/** The adapter's query function: pg's `query`, with its errors made readable. */
type Query = (text: string, values: unknown[]) => Promise<{ rows: unknown[] }>;

/**
 * One owner's page of a scope, in name order. Its own statement, with `ORDER BY scope, owner,
 * name`, so that the planner walks the (scope, owner, name) index and stops at `LIMIT`.
 */
export async function listByOwner(
  query: Query,
  table: string,
  { scope, limit, after, activeAt, owner }: ListQuery & { owner: string },
): Promise<StoredApiKey[]> {
  const { rows } = await query(
    `SELECT ${COLUMNS} FROM ${table}
      WHERE scope = $1 AND owner = $2
        AND ($3::text IS NULL OR name > $3::text COLLATE "C")
        AND ($4::timestamptz IS NULL OR expires_at IS NULL OR expires_at > $4::timestamptz)
      ORDER BY scope, owner, name
      LIMIT $5`,
    [scope, owner, after ?? null, timestamp(activeAt), limit],
  );
  return rows.map(fromRow);
}

/**
 * Revokes every live key of one owner in one statement, and notifies each id in it: PostgreSQL
 * delivers the notifications when, and only when, the change commits. Racing revocations of the
 * same rows wait for each other's row locks; the loser's WHERE then skips rows already revoked.
 */
export async function revokeByOwner(
  query: Query,
  table: string,
  channel: string,
  scope: string,
  owner: string,
  at: Date,
): Promise<string[]> {
  const { rows } = await query(
    `WITH changed AS (
       UPDATE ${table} SET revoked_at = $3::timestamptz
        WHERE scope = $1 AND owner = $2 AND revoked_at IS NULL
       RETURNING id)
     SELECT changed.id, pg_notify($4::text, changed.id) AS notified FROM changed`,
    [scope, owner, timestamp(at), channel],
  );
  return rows.map((row) => (row as { id: string }).id);
}
