import type { PermissionGrants } from './permissions.js';
import type { UsagePlan } from './limits.js';
import type { ApiKey, VerifyResult } from './types.js';

const MAX_TRACKED_INVALIDATIONS = 10_000;

/** What the cache keeps of a key whose secret matched: its public record, never the key. */
export interface CachedKey {
  readonly id: string;
  readonly scope: string;
  /** The public record as of the lookup. */
  readonly apiKey: ApiKey;
  /** The frozen `{ valid: true, apiKey }` every valid verification of this entry returns. */
  readonly valid: VerifyResult;
  /** Role rank and times as numbers, so a hit compares numbers only. */
  readonly rank: number;
  /** The key's effective permissions, ready to check; null without a permissions map. */
  readonly grants: PermissionGrants | null;
  readonly expiresAtMs: number | null;
  readonly revoked: boolean;
  /**
   * For the previous secret of a rotated key, the end of its grace period (epoch ms): from then
   * on the verdict is `rotated`. `null` for the current secret.
   */
  readonly graceUntilMs: number | null;
  /** The limits each valid verification counts in the store (own, or the role's default). */
  readonly usage: UsagePlan | null;
  /** When this entry stops being served (its freshness bound), on the monotonic clock (ms). */
  readonly freshUntil: number;
  /**
   * When keymint last wrote or queued a last-used time for this key, on the monotonic clock (ms;
   * `-Infinity`: none).
   */
  lastUsedMs: number;
  /** Second-chance bit: set by each hit, cleared when eviction passes over the entry. */
  hot: boolean;
  readonly digest: string;
}

/**
 * The verified-key cache: entries are found by the SHA-256 digest of the whole presented key
 * (never the key itself), bounded in number (an LRU approximated with second chance, so a hit
 * costs no reordering), and served only until their freshness bound.
 *
 * Invalidation is by key id. Every invalidation bumps a sequence number; a lookup that started
 * before an invalidation of its id (or before a clear) may not fill the cache, so a record read
 * before a revoke is never cached after it.
 */
export class VerifyCache {
  private readonly entries = new Map<string, CachedKey>();
  /**
   * The digests cached for each id: at most two, the current secret's and, while a rotation's
   * grace period runs (or after it, answering `rotated`), the previous one's.
   */
  private readonly digestsById = new Map<string, string[]>();
  /** Sequence number of the last invalidation of each id; pruned when no lookup is in flight. */
  private readonly invalidatedAt = new Map<string, number>();
  private sequence = 0;
  private clearedAt = 0;
  private lookups = 0;
  private closed = false;
  /** Verifications this cache answered, and store lookups it did not (for the metrics). */
  hits = 0;
  misses = 0;

  /**
   * What else forgets a key when the cache does (the verifier's lookups in flight). Set by the
   * verifier; called from `invalidate` and `reset`, so that an invalidation listener can hold
   * just the cache.
   */
  also: { invalidate(id: string): void; reset(): void } | undefined;

  constructor(
    readonly maxEntries: number,
    readonly ttlMs: number,
  ) {}

  /** True when a key with this id is cached (fresh or not): a cheap gate before hashing. */
  hasId(id: string): boolean {
    return this.digestsById.has(id);
  }

  /** The entry for this digest when it is still fresh at `monoMs` (monotonic); drops a stale one. */
  get(digest: string, monoMs: number): CachedKey | undefined {
    const entry = this.entries.get(digest);
    if (entry === undefined) return undefined;
    if (monoMs >= entry.freshUntil) {
      this.remove(entry);
      return undefined;
    }
    entry.hot = true;
    this.hits++;
    return entry;
  }

  /** Marks the start of a store lookup; pass the token to {@link fill} and {@link endLookup}. */
  beginLookup(): number {
    this.lookups++;
    this.misses++;
    return this.sequence;
  }

  endLookup(): void {
    if (--this.lookups === 0) this.invalidatedAt.clear();
  }

  /** Caches an entry read by a lookup that began at `token`, unless its id was invalidated since. */
  fill(token: number, entry: CachedKey): void {
    if (this.closed || this.clearedAt > token || (this.invalidatedAt.get(entry.id) ?? -1) > token) {
      return;
    }
    const known = this.digestsById.get(entry.id);
    if (known?.includes(entry.digest)) this.removeDigest(entry.digest);
    else if (known && known.length >= 2) this.removeDigest(known[0]!);
    while (this.entries.size >= this.maxEntries) this.evictOne();
    this.entries.set(entry.digest, entry);
    const digests = this.digestsById.get(entry.id);
    if (digests) digests.push(entry.digest);
    else this.digestsById.set(entry.id, [entry.digest]);
  }

  /** Drops the key with this id, and keeps lookups already in flight from caching it. */
  invalidate(id: string): void {
    if (this.invalidatedAt.size >= MAX_TRACKED_INVALIDATIONS) {
      // Under constant load lookups never all finish: bound the memory, refuse every fill in flight.
      this.invalidatedAt.clear();
      this.clearedAt = this.sequence + 1;
    }
    this.invalidatedAt.set(id, ++this.sequence);
    for (const digest of this.digestsById.get(id) ?? []) this.removeDigest(digest);
    this.also?.invalidate(id);
  }

  /** After a failed last-used write: the next hit of this key queues the write again. */
  forgetLastUsed(id: string): void {
    for (const digest of this.digestsById.get(id) ?? []) {
      const entry = this.entries.get(digest);
      if (entry) entry.lastUsedMs = -Infinity;
    }
  }

  /**
   * For good (keymint.close()): drops everything and caches nothing more, since no pushed
   * invalidation keeps entries honest any longer; every later verification reads the store.
   */
  close(): void {
    this.closed = true;
    this.reset();
  }

  /** Drops everything, including what lookups in flight would cache (messages were lost). */
  reset(): void {
    this.clearedAt = ++this.sequence;
    this.entries.clear();
    this.digestsById.clear();
    this.invalidatedAt.clear();
    this.also?.reset();
  }

  private evictOne(): void {
    // Map iteration is insertion order: the oldest first. A hot entry gets a second chance
    // (moved to the back, bit cleared); the first cold one goes. Terminates: each pass cools.
    for (const entry of this.entries.values()) {
      if (entry.hot) {
        entry.hot = false;
        this.entries.delete(entry.digest);
        this.entries.set(entry.digest, entry);
        continue;
      }
      this.remove(entry);
      return;
    }
  }

  private removeDigest(digest: string): void {
    const entry = this.entries.get(digest);
    if (entry) this.remove(entry);
  }

  private remove(entry: CachedKey): void {
    this.entries.delete(entry.digest);
    const digests = this.digestsById.get(entry.id);
    if (!digests) return;
    const left = digests.filter((digest) => digest !== entry.digest);
    if (left.length === 0) this.digestsById.delete(entry.id);
    else this.digestsById.set(entry.id, left);
  }
}
