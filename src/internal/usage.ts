import type { UsageOutcome, UsageRequest } from '../adapter.js';

/** The counters of one key, as every adapter stores them (SQL: a row of `<table>_usage`). */
export interface UsageState {
  windowStart: number | null;
  count: number;
  creditsSet: number | null;
  creditsPeriod: number | null;
  remaining: number | null;
}

/**
 * The rule of `KeyAdapter.consumeUsage` in JavaScript: the memory adapter runs it as is, and the
 * SQL statements and the Redis script are this function written once more. Returns the state to
 * store and the outcome.
 */
export function applyUsage(
  state: UsageState | undefined,
  request: UsageRequest,
): [UsageState, UsageOutcome] {
  const { rate, credits } = request;
  // A request from an older window, period or setting (a process whose clock or cache lags)
  // counts against the newer one stored: counters never move back.
  const storedWindow = state?.windowStart ?? null;
  const newerWindow = rate && storedWindow !== null && storedWindow > rate.windowStart;
  const count =
    rate && storedWindow !== null && storedWindow >= rate.windowStart ? state!.count : 0;
  const rateOk = !rate || count < rate.limit;
  let balance: number | null = null;
  const storedSet = state?.creditsSet ?? null;
  const newerSet = credits && storedSet !== null && storedSet > credits.setAt;
  let period = credits?.period ?? null;
  if (credits) {
    if (storedSet === null || storedSet < credits.setAt) balance = credits.fresh;
    else if (
      storedSet === credits.setAt &&
      credits.period !== undefined &&
      (state!.creditsPeriod === null || state!.creditsPeriod < credits.period)
    ) {
      balance = credits.refillAmount ?? credits.fresh;
    } else balance = state!.remaining ?? credits.fresh;
    const storedPeriod = state?.creditsPeriod ?? null;
    if (newerSet) period = storedPeriod;
    else if (
      storedSet === credits.setAt &&
      storedPeriod !== null &&
      period !== null &&
      storedPeriod > period
    ) {
      period = storedPeriod;
    }
  }
  const creditOk = !credits || (balance! > 0 && balance! >= credits.cost);
  const ok = rateOk && creditOk;
  const next: UsageState = {
    windowStart: rate ? (newerWindow ? storedWindow : rate.windowStart) : null,
    count: count + (ok && rate ? 1 : 0),
    creditsSet: credits ? (newerSet ? storedSet : credits.setAt) : null,
    creditsPeriod: credits ? period : null,
    remaining: credits ? balance! - (ok ? credits.cost : 0) : null,
  };
  return [next, { ok, count: next.count, remaining: next.remaining }];
}
