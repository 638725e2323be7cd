// What `verifyKey` takes and answers: its options, its result and the usage limits a valid result carries.
import type { ApiKey } from '../types.js';

/**
 * What a verification of a key with limits reports, for response headers: the rate limit's
 * size, what is left in the current window and when it ends; the credits left and when they
 * refill (`null`: never).
 *
 * @example
 * ```ts
 * const result = await keymint.verifyKey(key);
 * if (result.valid && result.limits?.rateLimit) console.log(result.limits.rateLimit.remaining);
 * ```
 */
export interface UsageLimits {
  /** `resetAfterMs`: from this verification (on the instance's clock) to `resetAt`. */
  rateLimit?: {
    limit: number;
    windowMs: number;
    remaining: number;
    resetAt: Date;
    resetAfterMs: number;
  };
  credits?: { remaining: number; resetAt: Date | null };
}

/**
 * Why {@link Keymint.verifyKey} refused a key.
 * - `malformed`: not a key of this format and prefix, or its checksum fails (a typo); no store
 *   was touched.
 * - `not_found`: no key has this id, the secret is wrong, or the key belongs to another scope
 *   than the one asked for.
 * - `expired`: the key's time to live ran out (at `expiresAt` exactly).
 * - `revoked`: the key was revoked.
 * - `rotated`: the key is the previous secret of a rotated key, and its grace period is over
 *   (only the secret replaced by the last rotation is recognised; older ones are `not_found`).
 * - `insufficient_role`: the key is valid but its role is below `options.role`.
 * - `insufficient_permission`: the key is valid but does not hold every one of
 *   `options.permissions` (docs/permissions.md).
 * - `rate_limited`: the key's rate limit (its own `rateLimit`, or its role's in `rateLimits`) is
 *   used up for the current window, or this key id had too many wrong secrets lately
 *   (`rateLimit` option; refused without hashing). Retry after `retryAfterMs`. A verification
 *   the cache answers is never refused for wrong secrets.
 * - `usage_exceeded`: the key's credits are spent (fewer left than `cost`, or none).
 * - `busy`: the wait for a hash would be longer than `hashing.maxWait`, or the hashing queue
 *   is at its cap (`hashing` option); nothing was decided: retry after `retryAfterMs`, the
 *   estimated time for the work ahead to drain (HTTP 503 with `Retry-After`).
 *
 * @example
 * ```ts
 * const result = await keymint.verifyKey(key);
 * if (!result.valid && result.reason === 'expired') console.log('ask for a new key');
 * ```
 */
export type VerifyFailureReason =
  | 'malformed'
  | 'not_found'
  | 'expired'
  | 'revoked'
  | 'rotated'
  | 'insufficient_role'
  | 'insufficient_permission'
  | 'rate_limited'
  | 'usage_exceeded'
  | 'busy';

/**
 * The outcome of {@link Keymint.verifyKey}.
 *
 * @example
 * ```ts
 * const result = await keymint.verifyKey(key, { role: 'Editor' });
 * if (result.valid) console.log(result.apiKey.role);
 * else console.log(result.reason);
 * ```
 */
export type VerifyResult =
  | {
      valid: true;
      apiKey: ApiKey;
      /** Set for a key with a rate limit or credits: what is left, for headers. */
      limits?: UsageLimits;
    }
  | { valid: false; reason: Exclude<VerifyFailureReason, 'busy' | 'rate_limited'> }
  | {
      valid: false;
      reason: 'busy' | 'rate_limited';
      /**
       * When a retry may get through, in ms (at least 1): the estimated wait for a hash
       * (`busy`), or the end of the window (`rate_limited`).
       */
      retryAfterMs: number;
      /** For a key's own rate limit: the limit, for headers. */
      limits?: UsageLimits;
    };

/**
 * Options of {@link Keymint.verifyKey}.
 *
 * @example
 * ```ts
 * await keymint.verifyKey(key, { role: 'Editor', scope: 'org-42' });
 * ```
 */
export interface VerifyOptions {
  /** The minimum role; a key below it is `insufficient_role`. */
  role?: string;
  /** Only keys of this scope are valid; a key of another scope is `not_found`. */
  scope?: string;
  /**
   * Every one of these is required (a wildcard such as `dashboards:*` asks for the wildcard
   * itself); a key without them all is `insufficient_permission`. Needs the instance's
   * `permissions` map; a permission no role grants throws `INVALID_INPUT` (a typo must not
   * silently deny).
   */
  permissions?: readonly string[];
  /**
   * The credits this verification spends, for a key with credits: a whole number, default 1;
   * `0` checks without spending (still `usage_exceeded` at a balance of 0).
   */
  cost?: number;
}
