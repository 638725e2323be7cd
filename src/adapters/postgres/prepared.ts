import { createHash } from 'node:crypto';

/** What a named query needs from the client: pg's `query({ name, text, values })`. */
type Query = (
  query: string | { name: string; text: string; values: unknown[] },
  values?: unknown[],
) => Promise<{ rows: unknown[]; rowCount: number | null }>;

const sqlState = (error: unknown): unknown =>
  typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;

/** 26000 invalid_sql_statement_name, 42P05 duplicate_prepared_statement: a pooler in between. */
const POOLER_STATES = new Set(['26000', '42P05']);
/** 0A000 feature_not_supported: "cached plan must not change result type" after an ALTER. */
const REPLAN_STATE = '0A000';
/** New names after a type change before unnamed statements for good (each name stays prepared). */
const MAX_GENERATIONS = 8;

const isReplan = (error: unknown) =>
  sqlState(error) === REPLAN_STATE && /cached plan/i.test(String((error as Error).message));

/**
 * One statement of the hot path as a named prepared statement: PostgreSQL parses and plans it
 * once per connection instead of on every call (pg sends Parse only on a connection's first use
 * of the name). The name carries a digest of the text, so two adapters over one pool (other
 * tables) never share one. Falls back to unnamed statements for good when a pooler in
 * transaction mode loses or duplicates names (PgBouncer before 1.21), and takes a new name when
 * a column's type changed under a prepared statement; either way the failing call is retried
 * once, unnamed.
 */
export function preparedStatement(
  query: Query,
  text: string,
  enabled: boolean,
): (values: unknown[]) => Promise<{ rows: unknown[]; rowCount: number | null }> {
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 16);
  let named = enabled;
  let generation = 0;
  let name = `keymint_${digest}_0`;
  return async (values) => {
    if (!named) return query(text, values);
    const used = name;
    try {
      return await query({ name: used, text, values });
    } catch (error) {
      const state = sqlState(error);
      if (typeof state === 'string' && POOLER_STATES.has(state)) named = false;
      else if (!isReplan(error)) throw error;
      // Calls in flight with the old name fail alike: one new name for all of them.
      else if (used === name) {
        if (++generation > MAX_GENERATIONS) named = false;
        else name = `keymint_${digest}_${generation}`;
      }
      return query(text, values);
    }
  };
}
