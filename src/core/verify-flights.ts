import { splitChecked, type ParsedKey } from './key-format.js';
import type { VerifyCache } from './verify-cache.js';
import type { KeyView, Lookup } from './verify-record.js';

/** A lookup in flight, shared by every verification of the same digest. */
interface Flight {
  id: string;
  promise: Promise<Lookup>;
  /**
   * When it began, on the monotonic clock: a joiner takes its answer only within the freshness
   * bound of it.
   */
  startedAt: number;
  /**
   * Begun before a reset (invalidation messages lost): its answer may predate a revoke, so no
   * caller takes it; later callers wait for it (its proof lands in the cache) and read again.
   */
  stale: boolean;
}

/** A hit within this last fraction of its entry's freshness bound renews it in the background. */
const REFRESH_FRACTION = 0.2;

export interface FlightParts {
  lookup: (presented: ParsedKey, digest: string) => Promise<Lookup>;
  /** The same lookup without a promise, or undefined (nothing done) when it would have to wait. */
  lookupNow: (presented: ParsedKey, digest: string) => Lookup | undefined;
  /** Lookups end without waiting (a synchronous store and hasher): no flight to share. */
  synchronous: boolean;
  cache: VerifyCache | null;
  prefix: string;
  monoMs: () => number;
  report: (error: unknown) => void;
}

/**
 * Single flight: one store lookup and hash per distinct presented key in flight, shared by every
 * caller of it; refresh ahead of the freshness bound for a key in steady use.
 */
export function createFlights(parts: FlightParts) {
  const { lookup, synchronous, cache, prefix } = parts;
  const flights = new Map<string, Flight>();
  /** Entries a refresh was started for: at most one per entry, even when it fails. */
  const refreshed = new WeakSet<KeyView>();
  const refreshMs = cache ? cache.ttlMs * REFRESH_FRACTION : 0;

  function startFlight(presented: ParsedKey, digest: string, startedAt: number): Flight {
    const flight: Flight = { id: presented.id, promise: undefined!, startedAt, stale: false };
    const land = () => {
      if (flights.get(digest) === flight) flights.delete(digest);
    };
    // One `then` (not `finally`, which adds a promise of its own): the flight leaves the map
    // when its lookup settles, either way, before any caller sees the outcome.
    flight.promise = lookup(presented, digest).then(
      (outcome) => {
        land();
        return outcome;
      },
      (error: unknown) => {
        land();
        throw error;
      },
    );
    flights.set(digest, flight);
    return flight;
  }

  /**
   * The outcome of a lookup of this key without a promise, or undefined when it has to wait
   * ({@link run}): a lookup that cannot wait on anything ends before anyone could join it, so it
   * needs no flight; one already in flight (a refresh ahead, a first contact) is joined by
   * {@link run} instead.
   */
  function runNow(presented: ParsedKey, digest: string): Lookup | undefined {
    if (flights.size !== 0 && flights.has(digest)) return undefined;
    return parts.lookupNow(presented, digest);
  }

  /** The outcome of a lookup of this key: joined when one is in flight, begun otherwise. */
  function run(presented: ParsedKey, digest: string): Promise<Lookup> {
    // Nothing in flight for it (a cache miss, usually): the lookup's own promise, no wrapper.
    if (flights.size === 0 || !flights.has(digest)) {
      return synchronous
        ? lookup(presented, digest)
        : startFlight(presented, digest, parts.monoMs()).promise;
    }
    return join(presented, digest);
  }

  async function join(presented: ParsedKey, digest: string): Promise<Lookup> {
    const arrivedAt = parts.monoMs();
    let joined = flights.get(digest);
    if (joined?.stale) {
      await joined.promise.catch(() => undefined);
      joined = flights.get(digest);
      if (joined?.stale) joined = undefined;
    }
    // With a synchronous store and hasher a lookup ends before anyone could join it: no flight.
    let outcome = await (joined
      ? joined.promise
      : synchronous
        ? lookup(presented, digest)
        : startFlight(presented, digest, arrivedAt).promise);
    // A flight begun before this call (a refresh ahead, say) may carry a read from before a
    // revoke: its answer holds only within the freshness bound counted from its start, as a
    // cache entry would. Past that, this caller reads the store itself.
    if (
      cache &&
      joined &&
      outcome.kind === 'match' &&
      joined.startedAt < arrivedAt &&
      parts.monoMs() >= joined.startedAt + cache.ttlMs
    ) {
      outcome = await (flights.get(digest) ?? startFlight(presented, digest, parts.monoMs()))
        .promise;
    }
    return outcome;
  }

  /**
   * A hit in the last fifth of its entry's freshness bound: one lookup in the background
   * (single flight with any other lookup of this digest) renews the entry, so a key in steady use
   * never waits on the store. The caller is answered from the entry; the entry itself is never
   * served past its bound. What the refresh finds (revoked, deleted, a changed hash) lands in
   * the cache as any lookup's would; its errors go to the background error hook.
   */
  function refreshAhead(key: string, hit: KeyView, digest: string): void {
    if (refreshed.has(hit) || flights.has(digest)) return;
    refreshed.add(hit);
    const presented = splitChecked(prefix, key);
    if (!presented) return;
    const flight = startFlight(presented, digest, parts.monoMs());
    flight.promise.then((outcome) => {
      if (outcome.kind === 'match') {
        // Keep the last-used time this process already queued: no extra write.
        outcome.view.lastUsedMs = Math.max(outcome.view.lastUsedMs, hit.lastUsedMs);
      } else if (
        outcome.kind === 'not_found' ||
        outcome.kind === 'wrong' ||
        outcome.kind === 'revoked' ||
        outcome.kind === 'expired'
      ) {
        // Deleted, revoked or expired (refused from the record, so there is no new entry), or
        // its hash no longer matches this key (rotated): stop serving it now.
        cache?.invalidate(hit.id);
      }
    }, parts.report);
  }

  return {
    runNow,
    run,
    /** A hit at `mono`: renews its entry when it is within the refresh fraction of its bound. */
    hit(key: string, hit: KeyView, digest: string, mono: number): void {
      if (mono >= hit.freshUntil - refreshMs) refreshAhead(key, hit, digest);
    },
    /** A key was revoked or deleted: no lookup in flight serves it to new callers. */
    invalidate(id: string): void {
      for (const [digest, flight] of flights) if (flight.id === id) flights.delete(digest);
    },
    /** Messages may have been lost: no lookup in flight is taken; later callers read again. */
    reset(): void {
      for (const flight of flights.values()) flight.stale = true;
    },
  };
}
