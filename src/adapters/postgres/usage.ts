// `consumeUsage` of the PostgreSQL adapter: the counting statements of a key with limits
// (src/internal/usage-sql.ts in PostgreSQL's parameters), prepared once per connection.
import type { KeyAdapter, UsageOutcome, UsageRequest } from '../../adapter.js';
import {
  rateUsageStatement,
  usageOutcome,
  usageParams,
  usageStatement,
} from '../../internal/usage-sql.js';
import type { Query } from './pool.js';
import { preparedStatement } from './prepared.js';
import type { PostgresNames } from './schema.js';

const USAGE_PARAMS = ['id', 'ws', 'lim', 'cset', 'period', 'fresh', 'refill', 'cost'] as const;

/**
 * Counting a verification of a key with limits, its warm path's one store round trip: the
 * upsert, or for a rate limit alone an UPDATE of the counter row (the upsert once, when the key
 * has none yet). Both prepared once per connection when `named`.
 */
export function usageMethods(
  query: Query,
  names: PostgresNames,
  named: boolean,
): Required<Pick<KeyAdapter, 'consumeUsage'>> {
  const usage = preparedStatement(
    query,
    usageStatement(names.usageTable, (name) =>
      name === 'id' ? '$1' : `$${USAGE_PARAMS.indexOf(name as never) + 1}::int8`,
    ),
    named,
  );
  const rateUsage = preparedStatement(
    query,
    rateUsageStatement(names.usageTable, (name) =>
      name === 'id' ? '$1' : name === 'ws' ? '$2::int8' : '$3::int8',
    ),
    named,
  );
  return {
    async consumeUsage(id: string, request: UsageRequest): Promise<UsageOutcome> {
      if (request.rate && !request.credits) {
        const { rows } = await rateUsage([id, request.rate.windowStart, request.rate.limit]);
        if (rows.length > 0) return usageOutcome(rows[0]);
      }
      const params = usageParams(id, request);
      const { rows } = await usage(USAGE_PARAMS.map((name) => params[name]));
      return usageOutcome(rows[0]);
    },
  };
}
