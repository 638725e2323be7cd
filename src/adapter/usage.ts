// The usage-limit and wrong-secret types of the adapter contract (re-exported by ../adapter.ts).
import type { KeyAdapter } from '../adapter.js';

/**
 * A key's own usage limits as stored: what `createApiKey({ rateLimit, credits })` or
 * `updateApiKey` set. The counters live apart from the record ({@link KeyAdapter.consumeUsage}).
 *
 * @example
 * ```ts
 * import type { StoredLimits } from 'keymint';
 * const limits: StoredLimits = {
 *   rateLimit: { limit: 100, windowMs: 60_000 },
 *   credits: { remaining: 1_000, setAt: Date.now(), refill: { amount: 1_000, intervalMs: 86_400_000 } },
 * };
 * ```
 */
export interface StoredLimits {
  /** At most `limit` verifications per window of `windowMs`, windows aligned to the epoch. */
  rateLimit?: { limit: number; windowMs: number };
  /**
   * `remaining` credits as of `setAt` (epoch ms: when create or update set them); with `refill`,
   * `remaining` goes back to `amount` at every multiple of `intervalMs` since the epoch.
   */
  credits?: { remaining: number; setAt: number; refill?: { amount: number; intervalMs: number } };
}

/**
 * What one verification asks of {@link KeyAdapter.consumeUsage}. Every number is an integer
 * (epoch ms for times). The adapter applies it as one atomic step:
 *
 * - rate: the window's count is the stored count when the stored window start equals
 *   `rate.windowStart`, else 0. It passes when count < `rate.limit`.
 * - credits: the balance is `credits.fresh` when no balance is stored for `credits.setAt` (a new
 *   key, or credits set again by an update); else `credits.refillAmount` when `credits.period` is
 *   set and later than the stored period (a refill boundary passed); else the stored balance. It
 *   passes when balance > 0 and balance >= `credits.cost`.
 * - when both pass (`ok`), count + 1 and balance - cost are stored; otherwise nothing is spent
 *   (a stale window or balance may be stored reset). Window start, setAt and period are stored.
 *
 * @example
 * ```ts
 * import type { UsageRequest } from 'keymint';
 * const request: UsageRequest = { rate: { limit: 100, windowStart: 1_700_000_040_000 } };
 * ```
 */
export interface UsageRequest {
  rate?: { limit: number; windowStart: number };
  credits?: {
    cost: number;
    setAt: number;
    fresh: number;
    /** The refill period index (`floor(now / intervalMs)`), when the credits refill. */
    period?: number;
    refillAmount?: number;
  };
}

/**
 * What {@link KeyAdapter.consumeUsage} answers, after its step: whether the verification passed,
 * the window's count and the credit balance (`null` without credits).
 *
 * @example
 * ```ts
 * import type { UsageOutcome } from 'keymint';
 * const outcome: UsageOutcome = { ok: true, count: 1, remaining: null };
 * ```
 */
export interface UsageOutcome {
  ok: boolean;
  count: number;
  remaining: number | null;
}

/**
 * What {@link KeyAdapter.reserveFailure} reports: a place reserved in the id's window (which
 * starts at `window`, epoch ms on the store's clock), or the window is full for `retryAfterMs`.
 *
 * @example
 * ```ts
 * import type { FailureReservation } from 'keymint';
 * const full: FailureReservation = { ok: false, retryAfterMs: 42_000 };
 * ```
 */
export type FailureReservation = { ok: true; window: number } | { ok: false; retryAfterMs: number };

/**
 * One entry of {@link KeyAdapter.touchMany}.
 *
 * @example
 * ```ts
 * import type { LastUsedEntry } from 'keymint';
 * const entry: LastUsedEntry = { id: '3fK9aB2cD4eF', lastUsedAt: new Date() };
 * ```
 */
export interface LastUsedEntry {
  id: string;
  lastUsedAt: Date;
}
