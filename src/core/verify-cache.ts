import { readonlyDateAt } from '../internal/readonly-date.js';
import { sameDigest } from '../internal/same-digest.js';
import type { UsagePlan } from './limits.js';
import type { PermissionGrants } from './permissions.js';
import type { ApiKey, VerifyResult } from './types.js';

const MAX_TRACKED_INVALIDATIONS = 10_000;

/**
 * "Never" on the monotonic clock: the last-used time of a key with none, the freshness bound of
 * an entry no longer served. A small integer rather than `-Infinity`, like every time an entry
 * keeps on the monotonic clock (see {@link monoField}).
 */
export const NEVER = -(2 ** 30);

/**
 * A monotonic time as an entry keeps it: whole milliseconds (rounded down, so a freshness bound
 * only ever ends earlier), no lower than {@link NEVER}. V8 keeps such a number in the object
 * itself (a small integer) while it fits in 31 bits, about 24 days of process uptime; a
 * fractional one would be a separate 16-byte heap number per field and a memory read per hit.
 */
export const monoField = (ms: number): number => Math.max(NEVER, Math.floor(ms));

/** What a cache entry keeps to build its key's public view, as numbers rather than dates. */
export interface ViewFields {
  /** Absent: what tells these apart from the built view (`valid: true`) in one slot. */
  readonly valid?: undefined;
  readonly name: string;
  readonly role: string;
  readonly metadata: Record<string, unknown> | null;
  readonly createdAtMs: number;
  readonly lastUsedAtMs: number | null;
  readonly rotatedAtMs: number | null;
  readonly previousKeyExpiresAtMs: number | null;
  readonly owner: string | null;
  /** The public limits (null without any: the common case costs one slot). */
  readonly limits: ApiKey['limits'];
}

/**
 * What the cache keeps of a key whose secret matched: what a verdict needs, as numbers, and what
 * its public view needs, built once on the first hit (dates cost about 100 bytes each). Never the
 * key or the secret: the SHA-256 digest of the presented key, and the stored hash it matched (the
 * proof that lets a revalidation skip the hasher).
 */
export class CachedKey {
  /** The id's other cached digest: a rotated key's previous secret, or the current one. */
  other: CachedKey | undefined = undefined;
  /** Second-chance bit: set by each hit, cleared when eviction passes over the entry. */
  hot = false;

  constructor(
    readonly id: string,
    readonly digest: string,
    /** The stored hash this digest's key was proven against (renewed by a rehash). */
    public secretHash: string,
    readonly scope: string,
    /** Role rank, so a hit compares numbers only. */
    readonly rank: number,
    /** The key's effective permissions, ready to check; null without a permissions map. */
    readonly grants: PermissionGrants | null,
    /** The limits each valid verification counts in the store (own, or the role's default). */
    readonly usage: UsagePlan | null,
    readonly expiresAtMs: number | null,
    /**
     * For the previous secret of a rotated key, the end of its grace period (epoch ms): from then
     * on the verdict is `rotated`. `null` for the current secret.
     */
    readonly graceUntilMs: number | null,
    /**
     * When this entry stops being served (its freshness bound), on the monotonic clock (whole
     * ms, {@link monoField}); {@link NEVER} once the cache was reset.
     */
    public freshUntil: number,
    /**
     * Until when (monotonic, whole ms, never past {@link freshUntil}) the key's wall-clock
     * deadlines (its expiry, a previous secret's grace end) are known to be ahead: the wall time
     * of the read projected forward on the monotonic clock, 1 ms early (it may already be
     * behind the monotonic clock when a deadline was near). {@link NEVER} when the instance's
     * wall clock may jump apart from its monotonic one (a host's `now`). A hit before it skips
     * the wall clock; a wall clock stepped forward (or a suspended machine, whose monotonic
     * clock stops) is therefore seen at the latest at the next revalidation, within the
     * freshness bound.
     */
    readonly clearUntil: number,
    /**
     * When keymint last wrote or queued a last-used time for this key, on the monotonic clock
     * (whole ms, {@link monoField}; {@link NEVER}: none).
     */
    public lastUsedMs: number,
    /** What the public view is built from; the view itself once built and kept (one slot). */
    private data: ViewFields | VerifyResult,
  ) {}

  /**
   * The frozen `{ valid: true, apiKey }` of this entry. `retain`: keep it for the next hits (a
   * hit); a lookup's own caller gets one that the entry does not keep, so a key verified once
   * costs no view in the cache.
   */
  result(retain: boolean): VerifyResult {
    const data = this.data;
    if (data.valid === true) return data;
    const f = data as ViewFields;
    const apiKey: ApiKey = Object.freeze({
      id: this.id,
      name: f.name,
      role: f.role,
      scope: this.scope,
      createdAt: readonlyDateAt(f.createdAtMs),
      expiresAt: this.expiresAtMs === null ? null : readonlyDateAt(this.expiresAtMs),
      lastUsedAt: f.lastUsedAtMs === null ? null : readonlyDateAt(f.lastUsedAtMs),
      revokedAt: null,
      metadata: f.metadata,
      rotatedAt: f.rotatedAtMs === null ? null : readonlyDateAt(f.rotatedAtMs),
      previousKeyExpiresAt:
        f.previousKeyExpiresAtMs === null ? null : readonlyDateAt(f.previousKeyExpiresAtMs),
      permissions: this.grants?.list ?? null,
      owner: f.owner,
      limits: f.limits,
    });
    const view: VerifyResult = Object.freeze({ valid: true, apiKey });
    // The fields are in the view now: they go, so a hit entry holds one of the two.
    if (retain) this.data = view;
    return view;
  }

  get apiKey(): ApiKey {
    return (this.result(false) as { apiKey: ApiKey }).apiKey;
  }
}

/**
 * The verified-key cache: one map by key id (the id is in the presented key, so a lookup needs
 * no second index), each entry holding the SHA-256 digest of the whole presented key it was
 * proven for (never the key itself), bounded in number (an LRU approximated with second chance,
 * so a hit costs no reordering), and served only until its freshness bound.
 *
 * An entry past its bound is not served, but stays (until evicted or replaced) as this process's
 * proof that the key with that digest matched that stored hash: a revalidation that reads the
 * same hash skips the hasher.
 *
 * Invalidation is by key id. Every invalidation bumps a sequence number; a lookup that started
 * before an invalidation of its id (or before a clear) may not fill the cache, so a record read
 * before a revoke is never cached after it.
 */
export class VerifyCache {
  private readonly byId = new Map<string, CachedKey>();
  /** The eviction hand: kept across evictions, so each does not walk the map from its start. */
  private hand: IterableIterator<CachedKey> | undefined;
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

  /** Entries held (fresh or past their bound), for tests and the memory figures. */
  get size(): number {
    return this.byId.size;
  }

  /** True when a key with this id is cached (fresh or not): a cheap gate before hashing. */
  hasId(id: string): boolean {
    return this.byId.has(id);
  }

  /** The newest entry of this id (fresh or not), or undefined: the hit path's one map read. */
  head(id: string): CachedKey | undefined {
    return this.byId.get(id);
  }

  /** The entry of this id and digest when it is still fresh at `monoMs` (monotonic). */
  get(id: string, digest: string, monoMs: number): CachedKey | undefined {
    const head = this.byId.get(id);
    return head === undefined ? undefined : this.match(head, digest, monoMs);
  }

  /** Of an id's entries (`head` and the other), the one of this digest if fresh at `monoMs`. */
  match(head: CachedKey, digest: string, monoMs: number): CachedKey | undefined {
    // Constant time: the digest is the proof that this is the key the entry was proven for.
    const other = head.other;
    const entry = sameDigest(head.digest, digest)
      ? head
      : other !== undefined && sameDigest(other.digest, digest)
        ? other
        : undefined;
    if (entry === undefined || monoMs >= entry.freshUntil) return undefined;
    entry.hot = true;
    this.hits++;
    return entry;
  }

  /**
   * The current secret's proof for this id, fresh or not: the digest of the key this process
   * proved and the stored hash it matched.
   */
  proof(id: string): CachedKey | undefined {
    let entry = this.byId.get(id);
    if (entry !== undefined && entry.graceUntilMs !== null) entry = entry.other;
    return entry?.graceUntilMs === null ? entry : undefined;
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

  /**
   * Caches an entry read by a lookup that began at `token`, unless its id was invalidated since.
   * An id keeps at most two digests (a rotated key's current and previous secrets): the entry
   * replaces the one of its own digest, or else the older of the two.
   */
  fill(token: number, entry: CachedKey): void {
    if (this.closed || (this.invalidatedAt.get(entry.id) ?? -1) > token) return;
    // Read before a reset: never served, but kept as the proof it is.
    if (this.clearedAt > token) entry.freshUntil = NEVER;
    const known = this.byId.get(entry.id);
    if (known === undefined) {
      while (this.byId.size >= this.maxEntries) this.evictOne();
    } else if (known.digest !== entry.digest) {
      // The newest first, then the previous head; the older third (if any) goes.
      entry.other = known;
      known.other = undefined;
      this.byId.delete(entry.id);
    } else {
      entry.other = known.other;
      this.byId.delete(entry.id);
    }
    this.byId.set(entry.id, entry);
  }

  /** Drops the key with this id, and keeps lookups already in flight from caching it. */
  invalidate(id: string): void {
    if (this.invalidatedAt.size >= MAX_TRACKED_INVALIDATIONS) {
      // Under constant load lookups never all finish: bound the memory, refuse every fill in flight.
      this.invalidatedAt.clear();
      this.clearedAt = this.sequence + 1;
    }
    this.invalidatedAt.set(id, ++this.sequence);
    this.byId.delete(id);
    this.also?.invalidate(id);
  }

  /** After a failed last-used write: the next hit of this key queues the write again. */
  forgetLastUsed(id: string): void {
    for (let entry = this.byId.get(id); entry; entry = entry.other) entry.lastUsedMs = NEVER;
  }

  /**
   * For good (keymint.close()): drops everything and caches nothing more, since no pushed
   * invalidation keeps entries honest any longer; every later verification reads the store.
   */
  close(): void {
    this.closed = true;
    this.reset();
    this.byId.clear();
    this.hand = undefined;
  }

  /**
   * Serves nothing cached so far, nor what lookups in flight would cache (messages were lost).
   * The entries stay as proofs: a revalidation reads the record anyway, and skips the hasher
   * only for the very stored hash this process proved the key against.
   */
  reset(): void {
    this.clearedAt = ++this.sequence;
    for (const head of this.byId.values()) {
      for (let entry: CachedKey | undefined = head; entry; entry = entry.other) {
        entry.freshUntil = NEVER;
      }
    }
    this.invalidatedAt.clear();
    this.also?.reset();
  }

  private evictOne(): void {
    // Map iteration is insertion order: the oldest first. A hot entry gets a second chance
    // (moved to the back, bit cleared); the first cold one goes. The hand is a live iterator, so
    // it reaches the entries moved behind it; terminates, since each pass cools.
    for (;;) {
      this.hand ??= this.byId.values();
      const next = this.hand.next();
      if (next.done) {
        this.hand = undefined;
        continue;
      }
      const entry = next.value;
      if (this.byId.get(entry.id) !== entry) continue;
      if (entry.hot) {
        entry.hot = false;
        this.byId.delete(entry.id);
        this.byId.set(entry.id, entry);
        continue;
      }
      this.byId.delete(entry.id);
      return;
    }
  }
}
