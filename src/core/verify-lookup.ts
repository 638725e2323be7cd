import type { StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { Busy } from './hash-limiter.js';
import type { ParsedKey } from './key-format.js';
import { planFor } from './limits.js';
import { grantsOf, type PermissionGrants } from './permissions.js';
import type { AttemptTicket } from './shared-attempts.js';
import type { VerifierParts } from './verifier.js';
import type { VerifyResult } from './types.js';
import { entryOf, findNow, isReadable, toApiKey, type Lookup } from './verify-record.js';

/** The outcomes without data, shared (frozen): no object per refusal. */
const NOT_FOUND_LOOKUP = Object.freeze({ kind: 'not_found' as const });
const WRONG_LOOKUP = Object.freeze({ kind: 'wrong' as const });
import type { Proofs } from './verify-proofs.js';

/** A key without expiry stops working when the host no longer allows such keys. */
export const expiryCheck =
  (allowNonExpiring: boolean) =>
  (expiresAtMs: number | null, nowMs: number): boolean =>
    expiresAtMs === null ? !allowNonExpiring : nowMs >= expiresAtMs;

/**
 * One store lookup plus hash of a presented key: read the record, refuse a revoked or expired one
 * from the record, skip the hasher when this process proved this very key against this very
 * stored hash, otherwise count the attempt (wrong-secret limit) and ask the hasher, through the
 * hashing queue unless the hasher is fast. A match fills the cache.
 */
export function createLookup(parts: VerifierParts, proofs: Proofs) {
  const { adapter, hasher, roles, cache, limiter, attempts, findByIdSync } = parts;
  const isExpired = expiryCheck(parts.allowNonExpiring);
  // A synchronous verify is called directly only where no hashing queue applies.
  const verifySync = limiter ? undefined : parts.verifySync;
  const verifyNow =
    verifySync &&
    ((hash: string, secret: string): boolean => {
      try {
        return verifySync(hash, secret);
      } catch (error) {
        throw new KeymintError(
          'HASHER_FAILURE',
          'The hasher failed to verify a secret; see the cause.',
          { cause: error },
        );
      }
    });

  /**
   * Grants by effective list: a key without its own list holds its role's (one frozen array per
   * role), so the entries of a role share one grants object instead of a Set each.
   */
  const grantsByList = new WeakMap<readonly string[], PermissionGrants>();
  function grantsFor(record: StoredApiKey): PermissionGrants | null {
    if (!parts.permissions) return null;
    const list = parts.permissions.effective(record.role, record.permissions);
    let grants = grantsByList.get(list);
    if (grants === undefined) {
      grants = grantsOf(list);
      grantsByList.set(list, grants);
    }
    return grants;
  }

  /**
   * What the record alone decides: missing, revoked or expired (a refusal), else null. A revoked
   * or expired key can never verify: refused from the record, before the limiter and the hasher,
   * so guesses at a dead id cost no hash (docs/security.md: what this tells). An unreadable
   * record fails closed (STORE_FAILURE), before the hasher sees it.
   */
  function screen(
    record: StoredApiKey | null,
    id: string,
    wallAt: number,
  ): Exclude<Lookup, { kind: 'match' }> | null {
    if (!record) return NOT_FOUND_LOOKUP;
    if (!isReadable(record, id)) {
      throw new KeymintError('STORE_FAILURE', 'The key store returned an unreadable record.');
    }
    if (record.revokedAt !== null) return { kind: 'revoked', scope: record.scope };
    if (isExpired(record.expiresAt?.getTime() ?? null, wallAt)) {
      return { kind: 'expired', scope: record.scope };
    }
    return null;
  }

  /** A lookup whose secret matched: its entry (cached when the cache takes it), then a rehash if due. */
  function matched(
    token: number,
    record: StoredApiKey,
    digest: string,
    times: { readAt: number; wallAt: number },
    previous: boolean,
    secret: string,
  ): Lookup {
    const view = entryOf(record, {
      digest,
      previous,
      rank: roles.rankOf(record.role),
      grants: grantsFor(record),
      usage: planFor(record.limits, record.role, parts.rateDefaults),
      readAt: times.readAt,
      wallAt: times.wallAt,
      ttlMs: cache?.ttlMs ?? 0,
      wallFollowsMono: parts.wallFollowsMono,
      // No cache keeps the entry: its caller's view straight from the record.
      view: cache === null ? validView(record) : undefined,
    });
    cache?.fill(token, view);
    if (!previous) proofs.maybeRehash(record, secret);
    return { kind: 'match', view };
  }

  /** The frozen `{ valid: true, apiKey }` of a record whose secret matched. */
  const validView = (record: StoredApiKey): VerifyResult =>
    Object.freeze({ valid: true as const, apiKey: toApiKey(record, parts.permissions) });

  async function lookup(presented: ParsedKey, digest: string): Promise<Lookup> {
    const { id } = presented;
    const token = cache?.beginLookup() ?? 0;
    try {
      // The freshness bound counts from the read, not from the end of the hash.
      const readAt = parts.monoMs();
      const record = findByIdSync
        ? findNow(findByIdSync, id)
        : await parts.fromStore('findById', () => adapter.findById(id));
      const wallAt = parts.nowMs();
      const refused = screen(record, id, wallAt);
      if (refused !== null || record === null) return refused ?? NOT_FOUND_LOOKUP;
      // Whether the presented secret is the one a rotation replaced (never proven, never rehashed).
      let previous = false;
      if (!proofs.alreadyProven(record, digest)) {
        let ticket: AttemptTicket | null = null;
        if (attempts !== null && !proofs.provenFor(id, digest)) {
          const begun = await attempts.begin(id, parts.monoMs());
          // The record was deleted since the read: nothing to hash.
          if (begun === 'gone') return NOT_FOUND_LOOKUP;
          if (begun === null) {
            return { kind: 'rate_limited', retryAfterMs: attempts.retryAfter(id, parts.monoMs()) };
          }
          ticket = begun;
        }
        const check = (hash: string) =>
          parts.fromHasher('verify a secret', () =>
            limiter
              ? limiter.run(() => hasher.verify(hash, presented.secret), {
                  // Its turn in the fair order: the key's scope (from the record), its id, and
                  // whether this process proved this very key before (then it goes first).
                  scope: record.scope,
                  id,
                  proven: proofs.provenFor(id, digest),
                })
              : hasher.verify(hash, presented.secret),
          );
        let matches: unknown;
        try {
          matches = verifyNow
            ? verifyNow(record.secretHash, presented.secret)
            : await check(record.secretHash);
          if (
            matches !== true &&
            !(matches instanceof Busy) &&
            typeof record.previousSecretHash === 'string'
          ) {
            matches = verifyNow
              ? verifyNow(record.previousSecretHash, presented.secret)
              : await check(record.previousSecretHash);
            previous = matches === true;
          }
        } catch (error) {
          // A hasher that fails says nothing about the secret: not a wrong guess.
          if (ticket) attempts!.end(ticket, false, parts.monoMs());
          throw error;
        }
        const isBusy = matches instanceof Busy;
        if (ticket) attempts!.end(ticket, matches !== true && !isBusy, parts.monoMs());
        if (isBusy) return { kind: 'busy', retryAfterMs: (matches as Busy).retryAfterMs };
        if (matches !== true) return WRONG_LOOKUP;
        if (!previous) proofs.prove(id, digest, record.secretHash);
      }
      return matched(token, record, digest, { readAt, wallAt }, previous, presented.secret);
    } finally {
      cache?.endLookup();
    }
  }

  /** A synchronous store and hasher: a lookup may run without a promise when nothing waits. */
  const syncCapable = findByIdSync !== undefined && verifyNow !== undefined;
  const attemptsWait = attempts?.waits === true;

  /**
   * {@link lookup} without a promise, or undefined (nothing done) when it would have to wait: it
   * runs for a synchronous store and hasher when no wrong-secret limit applies, when the limit is
   * counted in this process (its `begin` answers at once), or when it is counted in the store and
   * this process proved this very key (its owner pass: no reservation). The same steps in the
   * same order as {@link lookup}.
   */
  function lookupNow(presented: ParsedKey, digest: string): Lookup | undefined {
    if (!syncCapable) return undefined;
    const { id, secret } = presented;
    // Nothing below yields, so the proofs cannot change before this is used.
    const proven = attempts !== null && proofs.provenFor(id, digest);
    if (attemptsWait && !proven) return undefined;
    const token = cache?.beginLookup() ?? 0;
    try {
      const readAt = parts.monoMs();
      const record = findNow(findByIdSync!, id);
      const wallAt = parts.nowMs();
      const refused = screen(record, id, wallAt);
      if (refused !== null || record === null) return refused ?? NOT_FOUND_LOOKUP;
      let previous = false;
      if (!proofs.alreadyProven(record, digest)) {
        let ticket: AttemptTicket | null = null;
        if (attempts !== null && !proven) {
          const begun = attempts.begin(id, parts.monoMs());
          // Only a limit whose begin answers at once gets here (attemptsWait).
          if (begun instanceof Promise) {
            throw new KeymintError(
              'STORE_FAILURE',
              'A wrong-secret reservation did not answer at once.',
            );
          }
          if (begun === 'gone') return NOT_FOUND_LOOKUP;
          if (begun === null) {
            return { kind: 'rate_limited', retryAfterMs: attempts.retryAfter(id, parts.monoMs()) };
          }
          ticket = begun;
        }
        let matches: boolean;
        try {
          matches = verifyNow!(record.secretHash, secret) === true;
          if (!matches && typeof record.previousSecretHash === 'string') {
            matches = verifyNow!(record.previousSecretHash, secret) === true;
            previous = matches;
          }
        } catch (error) {
          // A hasher that fails says nothing about the secret: not a wrong guess.
          if (ticket) attempts!.end(ticket, false, parts.monoMs());
          throw error;
        }
        if (ticket) attempts!.end(ticket, !matches, parts.monoMs());
        if (!matches) return WRONG_LOOKUP;
        if (!previous) proofs.prove(id, digest, record.secretHash);
      }
      return matched(token, record, digest, { readAt, wallAt }, previous, secret);
    } finally {
      cache?.endLookup();
    }
  }

  return {
    lookup,
    lookupNow,
    /**
     * Every lookup runs to its end without waiting: a synchronous store and hasher, and a
     * wrong-secret limit counted in this process (one counted in the store waits for it).
     */
    synchronous: syncCapable && !attemptsWait,
  };
}
