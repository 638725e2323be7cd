import * as crypto from 'node:crypto';
import type { StoredApiKey, StoredLimits } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { readonlyDate } from '../internal/readonly-date.js';
import type { UsagePlan } from './limits.js';
import type { PermissionGrants, PermissionMap } from './permissions.js';
import type { ApiKey, VerifyResult } from './types.js';
import { CachedKey, monoField, NEVER } from './verify-cache.js';

// What verification reads and answers: a stored record checked for shape, turned into its public
// view or a cache entry, and the frozen verdicts. No state: createVerifier wires it.

/** What a verdict needs of a key: a cache entry, whether or not it was cached. */
export type KeyView = CachedKey;

/** The outcome of one store lookup plus hash, shared by every caller of a single flight. */
export type Lookup =
  | { kind: 'match'; view: KeyView }
  | { kind: 'busy'; retryAfterMs: number }
  | { kind: 'rate_limited'; retryAfterMs: number }
  | { kind: 'not_found' | 'wrong' }
  /** Refused from the record alone, before any hashing; the scope decides per caller. */
  | { kind: 'revoked' | 'expired'; scope: string };

export const NOT_FOUND: VerifyResult = Object.freeze({ valid: false, reason: 'not_found' });
export const MALFORMED: VerifyResult = Object.freeze({ valid: false, reason: 'malformed' });
export const results = {
  not_found: NOT_FOUND,
  wrong: NOT_FOUND,
  revoked: Object.freeze({ valid: false, reason: 'revoked' }),
  rotated: Object.freeze({ valid: false, reason: 'rotated' }),
  expired: Object.freeze({ valid: false, reason: 'expired' }),
  insufficient_role: Object.freeze({ valid: false, reason: 'insufficient_role' }),
  insufficient_permission: Object.freeze({ valid: false, reason: 'insufficient_permission' }),
} as const satisfies Record<string, VerifyResult>;

/** `busy` (the hashing queue) or `rate_limited` (wrong secrets), with when to try again. */
export const busy = (
  retryAfterMs: number,
  reason: 'busy' | 'rate_limited' = 'busy',
): VerifyResult =>
  Object.freeze({ valid: false, reason, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)) });

/** A lookup's outcome as the verdict of a caller that is not a match. */
export const refusal = (outcome: Exclude<Lookup, { kind: 'match' }>): VerifyResult =>
  outcome.kind === 'busy' || outcome.kind === 'rate_limited'
    ? busy(outcome.retryAfterMs, outcome.kind)
    : results[outcome.kind];

/**
 * The SHA-256 digest of a presented key, as the cache keeps it: its 32 bytes read as 16 UTF-16
 * code units (`utf16le` maps every even-length byte string to a distinct string, lone
 * surrogates included). The same 32 bytes of heap as a one-byte string, and half the steps for
 * the constant-time compare on the hit path (`sameDigest`). One-shot hashing (Node >= 20.12)
 * skips the Hash object; older 20.x falls back.
 */
// Node takes any Buffer encoding here; its types list only the text ones.
const UTF16 = 'utf16le' as crypto.BinaryToTextEncoding;
export const sha256: (value: string) => string =
  typeof crypto.hash === 'function'
    ? (value) => crypto.hash('sha256', value, UTF16)
    : (value) => crypto.createHash('sha256').update(value).digest(UTF16);

const isDateOrNull = (value: unknown) =>
  value === null || (value instanceof Date && !Number.isNaN(value.getTime()));

/** The fields added in 0.2.0 may be absent (an adapter written for 0.1.0): read as null. */
const isDateOrAbsent = (value: unknown) => value === undefined || isDateOrNull(value);

/** A synchronous findById; a throw fails closed like any store failure. */
export function findNow(
  find: (id: string) => StoredApiKey | null,
  id: string,
): StoredApiKey | null {
  try {
    return find(id);
  } catch (error) {
    throw new KeymintError(
      'STORE_FAILURE',
      'The key store failed during findById; see the cause.',
      {
        cause: error,
      },
    );
  }
}

/** A broken store must fail closed with STORE_FAILURE, not reach the hasher with garbage. */
export function isReadable(record: StoredApiKey, id: string): boolean {
  return (
    typeof record === 'object' &&
    record.id === id &&
    typeof record.secretHash === 'string' &&
    typeof record.role === 'string' &&
    typeof record.scope === 'string' &&
    record.createdAt instanceof Date &&
    !Number.isNaN(record.createdAt.getTime()) &&
    isDateOrNull(record.expiresAt) &&
    isDateOrNull(record.revokedAt) &&
    isDateOrNull(record.lastUsedAt) &&
    (record.previousSecretHash == null || typeof record.previousSecretHash === 'string') &&
    isDateOrAbsent(record.previousSecretExpiresAt) &&
    isDateOrAbsent(record.rotatedAt) &&
    (record.permissions == null ||
      (Array.isArray(record.permissions) && record.permissions.every((p) => typeof p === 'string')))
  );
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** The public `limits` of a record: null without a rate limit or credits. */
export function publicLimits(limits: StoredLimits | null | undefined): ApiKey['limits'] {
  if (!limits || (!limits.rateLimit && !limits.credits)) return null;
  const { rateLimit, credits } = limits;
  return deepFreeze({
    ...(rateLimit && { rateLimit: { limit: rateLimit.limit, windowMs: rateLimit.windowMs } }),
    ...(credits && {
      credits: {
        remaining: credits.remaining,
        setAt: readonlyDate(new Date(credits.setAt))!,
        ...(credits.refill && {
          refill: { amount: credits.refill.amount, intervalMs: credits.refill.intervalMs },
        }),
      },
    }),
  });
}

/**
 * The public view of a stored record: a fresh, deeply frozen plain object without `secretHash`,
 * with read-only dates. Frozen all the way down because verifications share it through the cache.
 */
export function toApiKey(record: StoredApiKey, permissions: PermissionMap | null): ApiKey {
  return Object.freeze({
    id: record.id,
    name: record.name,
    role: record.role,
    scope: record.scope,
    createdAt: readonlyDate(record.createdAt),
    expiresAt: readonlyDate(record.expiresAt),
    lastUsedAt: readonlyDate(record.lastUsedAt),
    revokedAt: readonlyDate(record.revokedAt),
    metadata: deepFreeze(record.metadata),
    rotatedAt: readonlyDate(record.rotatedAt ?? null),
    previousKeyExpiresAt: readonlyDate(
      record.previousSecretHash ? (record.previousSecretExpiresAt ?? null) : null,
    ),
    permissions: permissions ? permissions.effective(record.role, record.permissions) : null,
    owner: record.owner ?? null,
    limits: publicLimits(record.limits),
  });
}

/** What {@link entryOf} needs besides the record: the proof and the times of the read. */
export interface EntryInput {
  digest: string;
  /** The presented secret is the one a rotation replaced. */
  previous: boolean;
  rank: number;
  grants: PermissionGrants | null;
  /** The limits each valid verification counts in the store (own, or the role's default). */
  usage: UsagePlan | null;
  /** When the record was read: monotonic and wall clock (ms). */
  readAt: number;
  wallAt: number;
  /** The cache's freshness bound (0 without a cache). */
  ttlMs: number;
  /** The instance's wall clock moves with its monotonic one (see {@link CachedKey.clearUntil}). */
  wallFollowsMono: boolean;
  /**
   * The verdict view already built from the record ({@link toApiKey}), for an entry no cache
   * keeps: it takes the record's dates as they are (read-only ones are not copied) instead of
   * keeping numbers to build new dates from.
   */
  view?: VerifyResult | undefined;
}

/**
 * {@link CachedKey.clearUntil}: the first deadline, moved onto the monotonic clock from the wall
 * time of the read (1 ms earlier, for the wall reading's rounding, then rounded down), capped at the freshness bound. A key without an expiry has no
 * deadline (whether it may exist without one is decided without a clock).
 */
function clearUntil(input: EntryInput, freshUntil: number, deadlineMs: number): number {
  if (!input.wallFollowsMono) return NEVER;
  // wallAt is a whole-ms reading, up to 1 ms behind the wall time it stands for: 1 ms earlier.
  return Math.min(freshUntil, monoField(input.readAt + (deadlineMs - input.wallAt) - 1));
}

/** The cache entry (and verdict view) of a record whose secret matched the presented key. */
export function entryOf(record: StoredApiKey, input: EntryInput): CachedKey {
  const { previous, readAt, wallAt } = input;
  const expiresAtMs = record.expiresAt?.getTime() ?? null;
  const graceUntilMs = previous ? (record.previousSecretExpiresAt?.getTime() ?? -Infinity) : null;
  const freshUntil = monoField(readAt + input.ttlMs);
  return new CachedKey(
    record.id,
    input.digest,
    previous ? record.previousSecretHash! : record.secretHash,
    record.scope,
    input.rank,
    input.grants,
    input.usage,
    expiresAtMs,
    graceUntilMs,
    freshUntil,
    clearUntil(input, freshUntil, Math.min(expiresAtMs ?? Infinity, graceUntilMs ?? Infinity)),
    // The stored last-used time, moved onto the monotonic clock (never into its future).
    record.lastUsedAt
      ? monoField(readAt - Math.max(0, wallAt - record.lastUsedAt.getTime()))
      : NEVER,
    input.view ?? {
      name: record.name,
      role: record.role,
      metadata: deepFreeze(record.metadata),
      createdAtMs: record.createdAt.getTime(),
      lastUsedAtMs: record.lastUsedAt?.getTime() ?? null,
      rotatedAtMs: record.rotatedAt?.getTime() ?? null,
      previousKeyExpiresAtMs: record.previousSecretHash
        ? (record.previousSecretExpiresAt?.getTime() ?? null)
        : null,
      owner: record.owner ?? null,
      limits: publicLimits(record.limits),
    },
  );
}
