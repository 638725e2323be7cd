import type { KeyAdapter, StoredLimits, UsageOutcome, UsageRequest } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { echo } from '../internal/echo.js';
import { HOW_TO, parseTtlWithMax } from './ttl.js';
import type { RoleSet } from './roles.js';
import type { CreditsInput, RateLimitInput, UsageLimits, VerifyResult } from './types.js';

/** The longest rate-limit window and refill interval: a year. */
const MAX_WINDOW_SECONDS = 366 * 86_400;
const MAX_LIMIT = 1_000_000_000;
const MAX_CREDITS = 1_000_000_000_000;

const isWhole = (value: unknown, min: number, max: number): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;

function fail(code: 'INVALID_INPUT' | 'CONFIG', what: string, message: string): never {
  throw new KeymintError(code, `Invalid ${what}: ${message}.`);
}

function duration(value: unknown, code: 'INVALID_INPUT' | 'CONFIG', what: string): number {
  try {
    return parseTtlWithMax(value, MAX_WINDOW_SECONDS) * 1000;
  } catch (error) {
    throw new KeymintError(code, `Invalid ${what} ${echo(value)}: ${HOW_TO}; at most 366 days.`, {
      cause: error,
    });
  }
}

function plain(value: unknown, code: 'INVALID_INPUT' | 'CONFIG', what: string, names: string[]) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(code, what, `it must be an object: { ${names.join(', ')} }`);
  }
  for (const name of Object.keys(value)) {
    if (!names.includes(name)) {
      fail(code, what, `unknown field ${JSON.stringify(name)}; the fields are ${names.join(', ')}`);
    }
  }
  return value as Record<string, unknown>;
}

/** `{ limit, window }` as stored: a positive whole limit, a window in TTL syntax. */
export function parseRateLimit(
  value: unknown,
  code: 'INVALID_INPUT' | 'CONFIG' = 'INVALID_INPUT',
  what = 'rateLimit',
): NonNullable<StoredLimits['rateLimit']> {
  const { limit, window } = plain(value, code, what, ['limit', 'window']);
  if (!isWhole(limit, 1, MAX_LIMIT)) {
    fail(code, `${what}.limit`, 'it must be a whole number from 1 to 1,000,000,000');
  }
  return { limit, windowMs: duration(window, code, `${what}.window`) };
}

/** `{ remaining, refill?: { amount, interval } }` as stored, set at `nowMs`. */
export function parseCredits(value: unknown, nowMs: number): NonNullable<StoredLimits['credits']> {
  const { remaining, refill } = plain(value, 'INVALID_INPUT', 'credits', ['remaining', 'refill']);
  if (!isWhole(remaining, 0, MAX_CREDITS)) {
    fail('INVALID_INPUT', 'credits.remaining', 'it must be a whole number from 0 to 10^12');
  }
  const credits: NonNullable<StoredLimits['credits']> = { remaining, setAt: nowMs };
  if (refill !== undefined) {
    const { amount, interval } = plain(refill, 'INVALID_INPUT', 'credits.refill', [
      'amount',
      'interval',
    ]);
    if (!isWhole(amount, 1, MAX_CREDITS)) {
      fail('INVALID_INPUT', 'credits.refill.amount', 'it must be a whole number from 1 to 10^12');
    }
    credits.refill = {
      amount,
      intervalMs: duration(interval, 'INVALID_INPUT', 'credits.refill.interval'),
    };
  }
  return credits;
}

/**
 * The key's stored limits after a create (`previous` null) or an update: a given field replaces
 * the stored one, `null` removes it; absent keeps it. `null` when nothing is left.
 */
export function mergeLimits(
  previous: StoredLimits | null | undefined,
  rateLimit: RateLimitInput | null | undefined,
  credits: CreditsInput | null | undefined,
  nowMs: number,
): StoredLimits | null {
  const next: StoredLimits = {};
  const rate =
    rateLimit === undefined ? previous?.rateLimit : rateLimit && parseRateLimit(rateLimit);
  const spend = credits === undefined ? previous?.credits : credits && parseCredits(credits, nowMs);
  if (rate) next.rateLimit = rate;
  if (spend) next.credits = spend;
  return next.rateLimit || next.credits ? next : null;
}

/** The host's `rateLimits` option: a default rate limit per role (canonical spelling). */
export function parseRoleDefaults(
  value: unknown,
  roles: RoleSet,
): Map<string, NonNullable<StoredLimits['rateLimit']>> {
  const defaults = new Map<string, NonNullable<StoredLimits['rateLimit']>>();
  if (value === undefined) return defaults;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      'CONFIG',
      'rateLimits',
      "it must be an object by role: { Viewer: { limit: 100, window: '1m' } }",
    );
  }
  for (const [role, limit] of Object.entries(value)) {
    const canonical = roles.require(role, 'rateLimits role');
    defaults.set(canonical, parseRateLimit(limit, 'CONFIG', `rateLimits.${role}`));
  }
  return defaults;
}

/** CONFIG unless the adapter can count usage. */
export function requireUsage(adapter: KeyAdapter, what: string): void {
  if (typeof adapter.consumeUsage !== 'function') {
    throw new KeymintError(
      'CONFIG',
      `${what} needs an adapter with consumeUsage() (every adapter keymint ships has it since 0.3.0): update your adapter.`,
    );
  }
}

/** What a verification of one key counts: its own limits, or its role's default rate limit. */
export type UsagePlan = StoredLimits;

export function planFor(
  limits: StoredLimits | null | undefined,
  role: string,
  defaults: ReadonlyMap<string, NonNullable<StoredLimits['rateLimit']>>,
): UsagePlan | null {
  const rateLimit = limits?.rateLimit ?? defaults.get(role);
  const credits = limits?.credits;
  if (!rateLimit && !credits) return null;
  return { ...(rateLimit && { rateLimit }), ...(credits && { credits }) };
}

/** The `cost` of verifyKey options: a whole number from 0; default 1. */
export function readCost(value: unknown): number {
  if (value === undefined) return 1;
  if (!isWhole(value, 0, MAX_LIMIT)) {
    fail(
      'INVALID_INPUT',
      'verifyKey() options',
      'cost must be a whole number from 0 to 1,000,000,000',
    );
  }
  return value;
}

const usageExceeded: VerifyResult = Object.freeze({ valid: false, reason: 'usage_exceeded' });

/**
 * Counts one verification in the store (one round trip) and turns the outcome into the verdict.
 * `valid` is the frozen valid result of the key; a store failure throws (fail closed).
 */
export async function consume(
  adapter: KeyAdapter,
  id: string,
  plan: UsagePlan,
  cost: number,
  nowMs: number,
  valid: Extract<VerifyResult, { valid: true }>,
  fromStore: <T>(operation: string, run: () => Promise<T>) => Promise<T>,
): Promise<VerifyResult> {
  if (typeof adapter.consumeUsage !== 'function') {
    throw new KeymintError(
      'CONFIG',
      'This key has a rate limit or credits, and the adapter has no consumeUsage(): use an adapter keymint ships.',
    );
  }
  const request: UsageRequest = {};
  const { rateLimit, credits } = plan;
  const windowStart = rateLimit ? nowMs - (nowMs % rateLimit.windowMs) : 0;
  if (rateLimit) request.rate = { limit: rateLimit.limit, windowStart };
  let period: number | undefined;
  if (credits) {
    const refill = credits.refill;
    period = refill ? Math.floor(nowMs / refill.intervalMs) : undefined;
    const refilledSince =
      refill !== undefined && period! > Math.floor(credits.setAt / refill.intervalMs);
    request.credits = {
      cost,
      setAt: credits.setAt,
      fresh: refilledSince ? refill.amount : credits.remaining,
      ...(refill && { period, refillAmount: refill.amount }),
    };
  }
  const outcome: UsageOutcome = await fromStore('consumeUsage', () =>
    adapter.consumeUsage!(id, request),
  );
  if (
    typeof outcome !== 'object' ||
    outcome === null ||
    typeof outcome.ok !== 'boolean' ||
    !Number.isFinite(outcome.count)
  ) {
    throw new KeymintError('STORE_FAILURE', 'The key store returned an unreadable usage count.');
  }
  const limits: UsageLimits = {};
  if (rateLimit) {
    limits.rateLimit = {
      limit: rateLimit.limit,
      windowMs: rateLimit.windowMs,
      remaining: Math.max(0, rateLimit.limit - outcome.count),
      resetAt: new Date(windowStart + rateLimit.windowMs),
      resetAfterMs: windowStart + rateLimit.windowMs - nowMs,
    };
  }
  if (credits) {
    limits.credits = {
      remaining: Math.max(0, Number(outcome.remaining ?? 0)),
      resetAt:
        credits.refill && period !== undefined
          ? new Date((period + 1) * credits.refill.intervalMs)
          : null,
    };
  }
  if (outcome.ok) return { valid: true, apiKey: valid.apiKey, limits };
  if (rateLimit && outcome.count >= rateLimit.limit) {
    return {
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: Math.max(1, windowStart + rateLimit.windowMs - nowMs),
      limits,
    };
  }
  return usageExceeded;
}
