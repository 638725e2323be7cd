/**
 * `consumeUsage` as ONE SQL statement (PostgreSQL and SQLite 3.35+): an upsert on the
 * `<table>_usage` row of the key whose update computes the outcome from the row it locked, so
 * concurrent verifications in any number of processes are counted one after another. The rule
 * is `applyUsage` of ./usage.ts. `p(name)` spells a parameter in the dialect: `ws` window start,
 * `lim` limit, `cset` credits set at, `period` refill period, `fresh` balance of a new setting,
 * `refill` refill amount, `cost`; every one NULL when it does not apply.
 */
export function usageStatement(usageTable: string, p: (name: string) => string): string {
  const rateOk = (count: string) => `(${p('lim')} IS NULL OR ${count} < ${p('lim')})`;
  const creditOk = (balance: string) =>
    `(${p('cset')} IS NULL OR (${balance} > 0 AND ${balance} >= ${p('cost')}))`;
  const ok = (count: string, balance: string) =>
    `(CASE WHEN ${rateOk(count)} AND ${creditOk(balance)} THEN 1 ELSE 0 END)`;
  // The existing row, as the update sees it.
  // A request from an older window, period or setting (a process whose clock or cache lags)
  // counts against the newer one stored: counters never move back.
  const count = `(CASE WHEN u.window_start >= ${p('ws')} THEN u.count ELSE 0 END)`;
  const windowStart = `(CASE WHEN u.window_start > ${p('ws')} THEN u.window_start ELSE ${p('ws')} END)`;
  const balance = `(CASE WHEN ${p('cset')} IS NULL THEN NULL
      WHEN u.credits_set IS NULL OR u.credits_set < ${p('cset')} THEN ${p('fresh')}
      WHEN u.credits_set = ${p('cset')} AND ${p('period')} IS NOT NULL AND (u.credits_period IS NULL OR u.credits_period < ${p('period')}) THEN ${p('refill')}
      ELSE u.remaining END)`;
  const creditsSet = `(CASE WHEN u.credits_set > ${p('cset')} THEN u.credits_set ELSE ${p('cset')} END)`;
  const creditsPeriod = `(CASE WHEN u.credits_set > ${p('cset')} THEN u.credits_period
      WHEN u.credits_set = ${p('cset')} AND u.credits_period > ${p('period')} THEN u.credits_period
      ELSE ${p('period')} END)`;
  const okNow = ok(count, balance);
  const okNew = ok('0', p('fresh'));
  const spent = (okExpr: string, balanceExpr: string) =>
    `(CASE WHEN ${p('cset')} IS NULL THEN NULL ELSE ${balanceExpr} - ${okExpr} * ${p('cost')} END)`;
  const counted = (okExpr: string, countExpr: string) =>
    `(CASE WHEN ${p('lim')} IS NULL THEN 0 ELSE ${countExpr} + ${okExpr} END)`;
  return `INSERT INTO ${usageTable} AS u (id, window_start, count, credits_set, credits_period, remaining, ok)
VALUES (${p('id')}, ${p('ws')}, ${counted(okNew, '0')}, ${p('cset')}, ${p('period')}, ${spent(okNew, p('fresh'))}, ${okNew})
ON CONFLICT (id) DO UPDATE SET
  window_start = ${windowStart},
  count = ${counted(okNow, count)},
  credits_set = ${creditsSet},
  credits_period = ${creditsPeriod},
  remaining = ${spent(okNow, balance)},
  ok = ${okNow}
RETURNING ok, count, remaining`;
}

/**
 * The warm path of a key with a rate limit and no credits: one UPDATE of the key's counter row,
 * cheaper than the upsert (no speculative insert, three parameters), with the same rule for a
 * request without credits: the count of the stored window when it is this one or newer, else 0;
 * plus one when below the limit. It changes no credit column (a later request with credits
 * compares its `setAt` with the stored one, as ever) and returns `remaining` NULL. It returns no
 * row when the key has no counter row yet: the caller then runs {@link usageStatement}.
 */
export function rateUsageStatement(usageTable: string, p: (name: string) => string): string {
  const count = `(CASE WHEN u.window_start >= ${p('ws')} THEN u.count ELSE 0 END)`;
  const ok = `(CASE WHEN ${count} < ${p('lim')} THEN 1 ELSE 0 END)`;
  return `UPDATE ${usageTable} AS u SET
  window_start = (CASE WHEN u.window_start > ${p('ws')} THEN u.window_start ELSE ${p('ws')} END),
  count = ${count} + ${ok},
  ok = ${ok}
WHERE u.id = ${p('id')}
RETURNING ok, count, NULL AS remaining`;
}

/** The statement's parameters for a request, by name. */
export function usageParams(
  id: string,
  request: import('../adapter.js').UsageRequest,
): Record<string, string | number | null> {
  const { rate, credits } = request;
  return {
    id,
    ws: rate ? rate.windowStart : null,
    lim: rate ? rate.limit : null,
    cset: credits ? credits.setAt : null,
    period: credits?.period ?? null,
    fresh: credits ? credits.fresh : null,
    refill: credits?.refillAmount ?? null,
    cost: credits ? credits.cost : null,
  };
}

/** The row the statement returns, as an outcome. */
export function usageOutcome(row: unknown): import('../adapter.js').UsageOutcome {
  const r = row as { ok: unknown; count: unknown; remaining: unknown };
  return {
    ok: Number(r.ok) === 1,
    count: Number(r.count),
    remaining: r.remaining === null || r.remaining === undefined ? null : Number(r.remaining),
  };
}
