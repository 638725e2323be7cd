import type { KeyAdapter, StoredApiKey, StoredLimits } from '../adapter.js';
import type { HashLimiter } from './hash-limiter.js';
import type { Hasher } from './hasher.js';
import { checksumCheck, KEY_ID_LENGTH, shapeCheck, splitChecked } from './key-format.js';
import type { LastUsedWriter } from './last-used.js';
import { consume, readCost } from './limits.js';
import { holdsAll, type PermissionMap } from './permissions.js';
import type { RoleSet } from './roles.js';
import type { WrongSecrets } from './shared-attempts.js';
import type { VerifyOptions, VerifyResult } from './types.js';
import { monoField, type VerifyCache } from './verify-cache.js';
import { createFlights } from './verify-flights.js';
import { createLookup, expiryCheck } from './verify-lookup.js';
import { optionsParser, type ParsedOptions } from './verify-options.js';
import { createProofs } from './verify-proofs.js';
import {
  busy,
  MALFORMED,
  NOT_FOUND,
  refusal,
  results,
  sha256,
  type KeyView,
} from './verify-record.js';

// verifyKey: the hit path and the verdict here; the options in verify-options.ts, the record and
// the verdicts in verify-record.ts, the store lookup plus hash in verify-lookup.ts, proofs and
// rehash in verify-proofs.ts, single flight and refresh ahead in verify-flights.ts.

/**
 * The wall time of a hit that did not read the wall clock: earlier than any deadline, so the
 * verdict's expiry and grace checks pass, as the entry's `clearUntil` guarantees they do.
 */
const UNREAD = -Infinity;

/** What verification needs from its instance; built once by createKeymint. */
export interface VerifierParts {
  adapter: KeyAdapter;
  hasher: Hasher;
  roles: RoleSet;
  /** The `permissions` option, or null without it. */
  permissions: PermissionMap | null;
  prefix: string;
  allowNonExpiring: boolean;
  /** The instance's wall clock in epoch ms (validated): for a key's own `expiresAt` only. */
  nowMs: () => number;
  /**
   * A monotonic clock in ms, for every interval (cache freshness, the wrong-secret window, the
   * last-used interval): a wall clock stepped back must not stretch them.
   */
  monoMs: () => number;
  /**
   * The wall clock moves with the monotonic one (the default clocks, or a test clock): a cache
   * hit may then skip the wall clock until the entry's `clearUntil` (see {@link CachedKey}).
   */
  wallFollowsMono: boolean;
  /** null when `cache: false` or a freshness bound of 0. */
  cache: VerifyCache | null;
  /** null for hashers marked `fast`. */
  limiter: HashLimiter | null;
  /** null when `rateLimit: false`; counted in the store when the adapter can (`rateLimit.shared`). */
  attempts: WrongSecrets | null;
  /** The `rateLimits` option: a default per-key rate limit by canonical role. */
  rateDefaults: ReadonlyMap<string, NonNullable<StoredLimits['rateLimit']>>;
  lastUsed: LastUsedWriter;
  lastUsedIntervalMs: number;
  /** Reports failures of background work (rehash) to the host. */
  report: (error: unknown) => void;
  /** Turns a store or hasher throw into a fail-closed KeymintError. */
  fromStore: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
  fromHasher: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
  /**
   * The adapter's synchronous `findById` (SQLite, memory), called without a promise or a
   * deadline: a synchronous call returns before any timer could fire.
   */
  findByIdSync?: ((id: string) => StoredApiKey | null) | undefined;
  /** The hasher's synchronous `verify` (HMAC), for hashers that need no hashing queue. */
  verifySync?: ((hash: string, secret: string) => boolean) | undefined;
}

/**
 * Builds `verifyKey` and the hooks that keep its cache honest. Order of work for a presented key:
 * its shape (no I/O); for a key whose id is cached, its SHA-256 digest and the cache; otherwise,
 * or after a miss, the checksum; then the abuse limit, then one shared store lookup and hash per
 * distinct key in flight.
 */
export function createVerifier(parts: VerifierParts) {
  const { roles, prefix, cache, attempts, lastUsed } = parts;
  const hasShape = shapeCheck(prefix);
  const matchesChecksum = checksumCheck(prefix);
  const idStart = prefix.length + 1;
  const idEnd = idStart + KEY_ID_LENGTH;
  const parseOptions = optionsParser(roles, parts.permissions);
  const isExpired = expiryCheck(parts.allowNonExpiring);
  const proofs = createProofs(parts);
  const { lookup, lookupNow, synchronous } = createLookup(parts, proofs);
  const flights = createFlights({
    lookup,
    lookupNow,
    synchronous,
    cache,
    prefix,
    monoMs: parts.monoMs,
    report: parts.report,
  });

  function verdict(
    view: KeyView,
    options: ParsedOptions,
    nowMs: number,
    retain: boolean,
  ): VerifyResult {
    if (options.scope !== undefined && view.scope !== options.scope) return NOT_FOUND;
    // The previous secret of a rotated key: valid until its grace period ends.
    if (view.graceUntilMs !== null && nowMs >= view.graceUntilMs) return results.rotated;
    if (isExpired(view.expiresAtMs, nowMs)) return results.expired;
    if (options.minRank >= 0 && view.rank < options.minRank) return results.insufficient_role;
    if (options.permissions && !(view.grants && holdsAll(view.grants, options.permissions))) {
      return results.insufficient_permission;
    }
    return view.result(retain);
  }

  /** `lastUsedMs` is on the monotonic clock; the time written is the wall clock's. */
  function touch(view: KeyView, monoMs: number, nowMs: number): void {
    if (monoMs - view.lastUsedMs < parts.lastUsedIntervalMs) return;
    view.lastUsedMs = monoField(monoMs);
    lastUsed.queue(view.id, nowMs === UNREAD ? parts.nowMs() : nowMs);
  }

  /** What the verifier forgets besides the cache; the cache calls it, so listeners need only the cache. */
  const forget = {
    invalidate(id: string): void {
      proofs.forget(id);
      flights.invalidate(id);
    },
    reset(): void {
      flights.reset();
    },
  };
  if (cache) cache.also = forget;

  /**
   * A valid verdict of a key with limits: counted in the store (the one round trip of a warm
   * path with limits), after every other check, so a refused verification spends nothing.
   */
  function counted(view: KeyView, result: VerifyResult, options: unknown, at: number) {
    if (!result.valid || view.usage === null) return result;
    const cost = readCost((options as VerifyOptions | undefined)?.cost);
    return consume(parts.adapter, view.id, view.usage, cost, at, result, parts.fromStore);
  }

  /** `count: false` (a leak report) checks the key without counting its usage. */
  async function verifyKey(
    key: unknown,
    options?: VerifyOptions,
    count = true,
  ): Promise<VerifyResult> {
    const parsedOptions = parseOptions(options);
    if (options?.cost !== undefined) readCost(options.cost);
    // Garbage of the wrong shape costs a few comparisons.
    if (!hasShape(key)) return MALFORMED;
    let digest: string | undefined;
    const id = cache === null ? '' : key.slice(idStart, idEnd);
    const head = cache?.head(id);
    if (head !== undefined) {
      // This id verified lately: almost always the same key again. Its digest is all a hit
      // takes (the very string a full verification accepted), so the checksum waits for a miss.
      digest = sha256(key);
      const mono = parts.monoMs();
      const hit = cache!.match(head, digest, mono);
      if (hit) {
        // Before clearUntil, none of the key's wall-clock deadlines can have passed: the verdict
        // needs no wall clock (read only to count usage or write a last-used time).
        const at = mono < hit.clearUntil && hit.usage === null ? UNREAD : parts.nowMs();
        const result = verdict(hit, parsedOptions, at, true);
        if (result.valid) touch(hit, mono, at);
        flights.hit(key, hit, digest, mono);
        return hit.usage === null || !count ? result : counted(hit, result, options, at);
      }
    }
    // Checksum before any hashing for every other key: a typo or a forged id costs no SHA-256.
    if (!matchesChecksum(key)) return MALFORMED;
    const presented = splitChecked(prefix, key);
    if (!presented) return MALFORMED;
    digest ??= sha256(key);
    if (
      attempts?.blocked(presented.id, parts.monoMs()) &&
      !proofs.provenFor(presented.id, digest)
    ) {
      return busy(attempts.retryAfter(presented.id, parts.monoMs()), 'rate_limited');
    }
    // A synchronous store and hasher with nothing to wait for: no promise until the verdict.
    const outcome = flights.runNow(presented, digest) ?? (await flights.run(presented, digest));
    if (outcome.kind === 'revoked' || outcome.kind === 'expired') {
      return parsedOptions.scope !== undefined && outcome.scope !== parsedOptions.scope
        ? NOT_FOUND
        : results[outcome.kind];
    }
    if (outcome.kind !== 'match') return refusal(outcome);
    const at = parts.nowMs();
    const result = verdict(outcome.view, parsedOptions, at, false);
    if (result.valid) touch(outcome.view, parts.monoMs(), at);
    return count ? counted(outcome.view, result, options, at) : result;
  }

  return {
    verifyKey: (key: unknown, options?: VerifyOptions) => verifyKey(key, options),
    /** The key's verdict without counting its usage (a leak report must not spend credits). */
    checkKey: (key: unknown) => verifyKey(key, undefined, false),
    /** A key was revoked or deleted: forget it, and let no lookup in flight serve it to new callers. */
    invalidate(id: string): void {
      if (cache) cache.invalidate(id);
      else forget.invalidate(id);
    },
    /** Messages may have been lost: forget everything. */
    reset(): void {
      if (cache) cache.reset();
      else forget.reset();
    },
    /** A last-used write failed: let the next verification of these keys queue it again. */
    lastUsedFailed(ids: readonly string[]): void {
      for (const id of ids) cache?.forgetLastUsed(id);
    },
  };
}
