import type { StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { sameDigest } from '../internal/same-digest.js';
import { Busy } from './hash-limiter.js';
import { CachedKey } from './verify-cache.js';
import type { VerifierParts } from './verifier.js';

/**
 * What this process proved for an id: the SHA-256 digest of the key that verified, and the
 * stored hash it verified against. Never the key or the secret.
 */
interface Proof {
  readonly digest: string;
  readonly secretHash: string;
}

/** A proof in the map kept without a cache. */
interface KeptProof extends Proof {
  /** The count of proofs recorded when this one last moved to the newest end (recency order). */
  seq: number;
}

/** Proofs kept without a cache (the wrong-secret limit's owner pass); with one, its maxEntries. */
const MIN_PROVEN = 10_000;

export type Proofs = ReturnType<typeof createProofs>;

/**
 * Revalidation without rehashing, and the rehash after a verification: the proofs this process
 * holds. With the cache on, its entries are the proofs (kept past their freshness bound); without
 * it, a bounded map by id, for the wrong-secret limit's owner pass only. Every digest comparison
 * is constant time (a proof check).
 */
export function createProofs(
  parts: Pick<
    VerifierParts,
    'adapter' | 'hasher' | 'cache' | 'limiter' | 'report' | 'fromStore' | 'fromHasher'
  >,
) {
  const { adapter, hasher, cache, limiter } = parts;
  /**
   * Without a cache, for each id, the digest of the key that last verified and the stored hash
   * it matched: proof of the right secret, which lets its owner through the wrong-secret limit.
   * Bounded; oldest first out.
   */
  const proven = new Map<string, KeptProof>();
  const maxProven = Math.max(cache?.maxEntries ?? 0, MIN_PROVEN);
  /** Proofs recorded so far: the age of a proof in the recency order, in recordings. */
  let recorded = 0;
  const rehashing = new Set<string>();

  const proofOf = (id: string): Proof | undefined => (cache ? cache.proof(id) : proven.get(id));

  return {
    /** Records a proof (without a cache; with one, the entry it fills is the proof). */
    prove(id: string, digest: string, secretHash: string): void {
      if (cache) return;
      const had = proven.get(id);
      recorded++;
      // The same proof again (every verification without a cache) stays where it is until it has
      // aged half the bound: the map's order is then recency to within half of it, and a key in
      // use is never the oldest, without a delete and a set per verification.
      const same = had !== undefined && had.digest === digest && had.secretHash === secretHash;
      if (same && recorded - had.seq < maxProven / 2) return;
      proven.delete(id);
      if (proven.size >= maxProven) proven.delete(proven.keys().next().value!);
      if (same) had.seq = recorded;
      proven.set(id, same ? had : { digest, secretHash, seq: recorded });
    },

    /** Whether `digest` is the one proven for this id. */
    provenFor(id: string, digest: string): boolean {
      const proof = proofOf(id);
      return proof !== undefined && sameDigest(proof.digest, digest);
    },

    /**
     * Whether this process already proved this very key against this very stored hash. Only with
     * the cache on: `cache: false` asks for the hasher on every verification.
     */
    alreadyProven(record: StoredApiKey, digest: string): boolean {
      if (!cache) return false;
      const proof = cache.proof(record.id);
      return (
        proof !== undefined &&
        sameDigest(proof.digest, digest) &&
        proof.secretHash === record.secretHash
      );
    },

    /** A key was revoked or deleted: its proof goes. */
    forget(id: string): void {
      proven.delete(id);
    },

    /**
     * When the hasher asks for it, hashes the secret again in the background and stores the new
     * hash (only over this very stored hash), renewing the proof.
     */
    maybeRehash(record: StoredApiKey, secret: string): void {
      let stale = false;
      try {
        stale = hasher.needsRehash?.(record.secretHash) === true;
      } catch (error) {
        parts.report(
          new KeymintError('HASHER_FAILURE', 'needsRehash() threw; see the cause.', {
            cause: error,
          }),
        );
      }
      if (!stale || rehashing.has(record.id)) return;
      rehashing.add(record.id);
      (async () => {
        const hashed = await parts.fromHasher('rehash a secret', () =>
          limiter
            ? limiter.run(() => hasher.hash(secret), {
                scope: record.scope,
                id: record.id,
                // No caller waits for it: behind every verification and create (a deploy that
                // changed the parameters must not hash its herd twice before answering it).
                background: true,
              })
            : hasher.hash(secret),
        );
        if (hashed instanceof Busy) return; // The next verification tries again.
        // Only while the secret is still this one: a rotation that landed since must never be
        // undone by a rehash of the secret it replaced. Adapters without modify() cannot rotate.
        const updated = await parts.fromStore('rehash update', async () => {
          if (!adapter.modify) return adapter.update(record.id, { secretHash: hashed });
          const result = await adapter.modify(
            record.id,
            { secretHash: hashed },
            { secretHash: record.secretHash },
          );
          return result.ok ? result.record : null;
        });
        // This very secret matches the new hash: keep the proof (unless invalidated meanwhile).
        const proof = proofOf(record.id);
        if (updated?.secretHash === hashed && proof?.secretHash === record.secretHash) {
          if (proof instanceof CachedKey) proof.secretHash = hashed;
          // In place (a set of a present id keeps its position), so its age stays as it was.
          else {
            const { seq } = proof as KeptProof;
            proven.set(record.id, { digest: proof.digest, secretHash: hashed, seq });
          }
        }
      })()
        .catch(parts.report)
        .finally(() => rehashing.delete(record.id));
    },
  };
}
