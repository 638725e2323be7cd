import type { StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { Busy } from './hash-limiter.js';
import type { ParsedKey } from './key-format.js';
import { planFor } from './limits.js';
import { grantsOf, type PermissionGrants } from './permissions.js';
import type { AttemptTicket } from './shared-attempts.js';
import type { VerifierParts } from './verifier.js';
import { entryOf, findNow, isReadable, type Lookup } from './verify-record.js';
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

  async function lookup(presented: ParsedKey, digest: string): Promise<Lookup> {
    const { id } = presented;
    const token = cache?.beginLookup() ?? 0;
    try {
      // The freshness bound counts from the read, not from the end of the hash.
      const readAt = parts.monoMs();
      const record = findByIdSync
        ? findNow(findByIdSync, id)
        : await parts.fromStore('findById', () => adapter.findById(id));
      if (!record) return { kind: 'not_found' };
      if (!isReadable(record, id)) {
        throw new KeymintError('STORE_FAILURE', 'The key store returned an unreadable record.');
      }
      // A revoked or expired key can never verify: refused from the record, before the limiter
      // and the hasher, so guesses at a dead id cost no hash (docs/security.md: what this tells).
      const wallAt = parts.nowMs();
      if (record.revokedAt !== null) return { kind: 'revoked', scope: record.scope };
      if (isExpired(record.expiresAt?.getTime() ?? null, wallAt)) {
        return { kind: 'expired', scope: record.scope };
      }
      // Whether the presented secret is the one a rotation replaced (never proven, never rehashed).
      let previous = false;
      if (!proofs.alreadyProven(record, digest)) {
        let ticket: AttemptTicket | null = null;
        if (attempts !== null && !proofs.provenFor(id, digest)) {
          const begun = await attempts.begin(id, parts.monoMs());
          // The record was deleted since the read: nothing to hash.
          if (begun === 'gone') return { kind: 'not_found' };
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
        if (matches !== true) return { kind: 'wrong' };
        if (!previous) proofs.prove(id, digest, record.secretHash);
      }
      const view = entryOf(record, {
        digest,
        previous,
        rank: roles.rankOf(record.role),
        grants: grantsFor(record),
        usage: planFor(record.limits, record.role, parts.rateDefaults),
        readAt,
        wallAt,
        ttlMs: cache?.ttlMs ?? 0,
      });
      cache?.fill(token, view);
      if (!previous) proofs.maybeRehash(record, presented.secret);
      return { kind: 'match', view };
    } finally {
      cache?.endLookup();
    }
  }

  return {
    lookup,
    /**
     * A lookup that runs to its end without waiting: a synchronous store and hasher, and a
     * wrong-secret limit counted in this process (one counted in the store waits for it).
     */
    synchronous: findByIdSync !== undefined && verifyNow !== undefined && attempts?.waits !== true,
  };
}
