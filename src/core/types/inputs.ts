// The inputs and answers of the management operations: create, update, rotate, list, revoke, purge and leak reports.
import type { ApiKey } from '../types.js';
import type { TtlInput } from '../ttl.js';

/**
 * A key's rate limit: at most `limit` verifications per `window` (TTL syntax or seconds),
 * counted in fixed windows aligned to the epoch (docs/limits.md).
 *
 * @example
 * ```ts
 * const rateLimit: RateLimitInput = { limit: 100, window: '1m' };
 * ```
 */
export interface RateLimitInput {
  /** A whole number from 1. */
  limit: number;
  /** `'1m'`, `'1h'`, seconds...; at most 366 days. */
  window: TtlInput;
}

/**
 * A key's credits: `remaining` to spend (each valid verification spends its `cost`); with
 * `refill`, the balance is set back to `amount` at every multiple of `interval` since the epoch.
 *
 * @example
 * ```ts
 * const credits: CreditsInput = { remaining: 1_000, refill: { amount: 1_000, interval: '1d' } };
 * ```
 */
export interface CreditsInput {
  remaining: number;
  refill?: { amount: number; interval: TtlInput };
}

/**
 * Input of {@link Keymint.createApiKey}.
 *
 * @example
 * ```ts
 * const input: CreateApiKeyInput = { name: 'ci', role: 'Editor', ttl: '12h', metadata: { team: 'infra' } };
 * ```
 */
export interface CreateApiKeyInput {
  /**
   * 1 to 190 characters after trimming, unique within the scope. No control characters, and no
   * invisible or direction-changing ones (format characters such as U+200B or U+202E, Hangul
   * fillers, variation selectors, spaces other than U+0020): `INVALID_INPUT` names the first.
   */
  name: string;
  /** One of the configured roles, any letter case. */
  role: string;
  /** `'12h'`, `'1M'`, or seconds; at most `maxTtl`. `null` (never expires) only with `allowNonExpiring`. */
  ttl: TtlInput | null;
  /** The tenant, Grafana's organisation. Default `'default'`. Same character rules as `name`. */
  scope?: string;
  /** Any JSON object up to 8 KiB, returned with the record. */
  metadata?: Record<string, unknown> | null;
  /**
   * Narrows the key to these permissions, each granted by its role (`INVALID_INPUT` names the
   * ones it does not grant). Default (or `null`): everything the role grants. Needs the
   * instance's `permissions` map.
   */
  permissions?: readonly string[] | null;
  /**
   * The user or service account the key belongs to: an opaque id of the host's, 1 to 190
   * characters, the same character rules as `scope`. Set at create only.
   */
  owner?: string;
  /** The key's own rate limit; without it, its role's `rateLimits` default (if any). */
  rateLimit?: RateLimitInput | null;
  /** Credits the key spends on each valid verification. */
  credits?: CreditsInput | null;
}

/**
 * What {@link Keymint.createApiKey} returns. `key` is the plaintext key: show it once, then drop
 * it; keymint cannot show it again.
 *
 * @example
 * ```ts
 * const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
 * ```
 */
export interface CreatedApiKey {
  key: string;
  apiKey: ApiKey;
}

/**
 * The patch of {@link Keymint.updateApiKey}: at least one of the fields.
 *
 * @example
 * ```ts
 * const patch: UpdateApiKeyInput = { name: 'ci (read-only)', role: 'Viewer', ttl: '7d' };
 * ```
 */
export interface UpdateApiKeyInput {
  /** A new name: the same rules as on create, unique within the key's scope. */
  name?: string;
  /** A new role; with `actorRole`, at most the actor's own. */
  role?: string;
  /** Replaces the whole metadata object; `null` clears it. */
  metadata?: Record<string, unknown> | null;
  /**
   * A new time to live counted from now (the same rules and maximum as on create); `null`
   * (never expires) only with `allowNonExpiring`.
   */
  ttl?: TtlInput | null;
  /**
   * A new explicit list, within the (new) role's grants; `null`: everything the role grants.
   * Without it, a role change narrows the key's explicit list to the new role, and refuses
   * (`INVALID_INPUT`) when nothing of it would be left: give `permissions` in the same patch.
   */
  permissions?: readonly string[] | null;
  /** A new rate limit (the window count starts over); `null` removes the key's own. */
  rateLimit?: RateLimitInput | null;
  /** New credits: the balance is set to `remaining` now; `null` removes them. */
  credits?: CreditsInput | null;
}

/**
 * Options of {@link Keymint.rotateApiKey}.
 *
 * @example
 * ```ts
 * const options: RotateApiKeyOptions = { gracePeriod: '1h' };
 * ```
 */
export interface RotateApiKeyOptions {
  /**
   * How long the old key keeps verifying: `'1h'`, seconds, or `0` (the default: it stops at
   * once). At most 7 days, and never past the old key's own expiry.
   */
  gracePeriod?: TtlInput;
  /**
   * The new time to live, counted from now. Default: the key's own time to live (the one it was
   * created with, or last given by an update or a rotation). `null` (never expires) only with
   * `allowNonExpiring`.
   */
  ttl?: TtlInput | null;
}

/**
 * What {@link Keymint.rotateApiKey} returns: the new plaintext key, shown once, and the record.
 *
 * @example
 * ```ts
 * const { key, apiKey }: RotatedApiKey = await keymint.rotateApiKey(id, { gracePeriod: '1h' });
 * ```
 */
export type RotatedApiKey = CreatedApiKey;

/**
 * Input of {@link Keymint.listApiKeys}.
 *
 * @example
 * ```ts
 * const page2 = await keymint.listApiKeys({ limit: 50, after: page1.at(-1)?.name });
 * ```
 */
export interface ListApiKeysInput {
  /** Default `'default'`. */
  scope?: string;
  /** Only this owner's keys (sorted and paged as usual). */
  owner?: string;
  /** Include keys past their expiry. Default `false`. */
  includeExpired?: boolean;
  /** 1 to 1000. Default 100. */
  limit?: number;
  /** The last name of the previous page. */
  after?: string;
}

/**
 * Input of {@link Keymint.revokeApiKeys}.
 *
 * @example
 * ```ts
 * const input: RevokeApiKeysInput = { owner: 'user-42', scope: 'org-1' };
 * ```
 */
export interface RevokeApiKeysInput {
  /** Whose keys to revoke. */
  owner: string;
  /** Default: the context's scope, else `'default'`. */
  scope?: string;
}

/**
 * Input of {@link Keymint.purgeExpired}.
 *
 * @example
 * ```ts
 * const input: PurgeExpiredInput = { olderThan: '7d' }; // keep expired keys a week for audits
 * ```
 */
export interface PurgeExpiredInput {
  /** How long a key must have been expired: a TTL string (`'7d'`) or seconds. Default 0. */
  olderThan?: TtlInput;
}

/**
 * Where a leaked key was found, for {@link Keymint.reportLeakedKey}.
 *
 * @example
 * ```ts
 * const report: LeakReport = { url: 'https://github.com/o/r/blob/abc/.env', source: 'content' };
 * ```
 */
export interface LeakReport {
  /** Where it was found; kept in the `key.leaked` event (up to 2,048 characters). */
  url?: string;
  /** Who found it (`github`, `keymint scan`...); up to 256 characters. */
  source?: string;
  /** Revoke a valid key. Default `true`; `false` only reports it. */
  revoke?: boolean;
}

/**
 * What {@link Keymint.reportLeakedKey} found: a key of this instance whose secret verifies (a
 * true positive), with its record after the call and whether this call revoked it, or not.
 *
 * @example
 * ```ts
 * const found = await keymint.reportLeakedKey(token, { source: 'github' });
 * if (found.truePositive) console.log(found.apiKey.id, found.revoked);
 * ```
 */
export type LeakedKeyResult =
  { truePositive: true; apiKey: ApiKey; revoked: boolean } | { truePositive: false };
