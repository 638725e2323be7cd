import * as crypto from 'node:crypto';
import type { KeyAdapter, StoredApiKey } from '../adapter.js';
import { safeCause } from './redact.js';
import { KeymintError } from '../errors.js';
import { readonlyDate } from '../internal/readonly-date.js';
import { scopeSchema } from '../schemas.js';
import { Busy, type HashLimiter } from './hash-limiter.js';
import type { Hasher } from './hasher.js';
import {
  checksumCheck,
  KEY_ID_LENGTH,
  shapeCheck,
  splitChecked,
  type ParsedKey,
} from './key-format.js';
import type { LastUsedWriter } from './last-used.js';
import { checkPermissionList, grantsOf, holdsAll, type PermissionMap } from './permissions.js';
import type { RoleSet } from './roles.js';
import type { AttemptTicket, WrongSecrets } from './shared-attempts.js';
import type { ApiKey, VerifyOptions, VerifyResult } from './types.js';
import type { CachedKey, VerifyCache } from './verify-cache.js';

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
  /** null when `cache: false` or a freshness bound of 0. */
  cache: VerifyCache | null;
  /** null for hashers marked `fast`. */
  limiter: HashLimiter | null;
  /** null when `rateLimit: false`; counted in the store when the adapter can (`rateLimit.shared`). */
  attempts: WrongSecrets | null;
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

/** The outcome of one store lookup plus hash, shared by every caller of a single flight. */
type Lookup =
  | { kind: 'match'; view: KeyView }
  | { kind: 'busy'; retryAfterMs: number }
  | { kind: 'not_found' | 'wrong' | 'rate_limited' }
  /** Refused from the record alone, before any hashing; the scope decides per caller. */
  | { kind: 'revoked' | 'expired'; scope: string };

/** A lookup in flight, shared by every verification of the same digest. */
interface Flight {
  id: string;
  promise: Promise<Lookup>;
  /**
   * When it began, on the monotonic clock: a joiner takes its answer only within the freshness
   * bound of it.
   */
  startedAt: number;
}

/**
 * What this process proved for an id: the SHA-256 digest of the key that verified, and the
 * stored hash it verified against. Never the key or the secret.
 */
interface Proof {
  readonly digest: string;
  readonly secretHash: string;
}

/** What a verdict needs of a key: a cache entry, whether or not it was cached. */
type KeyView = CachedKey;

interface ParsedOptions {
  minRank: number;
  scope: string | undefined;
  /** Checked against the permissions map; undefined when not asked. */
  permissions?: readonly string[];
}

/** Proofs kept without a cache (the wrong-secret limit's owner pass); with one, its maxEntries. */
const MIN_PROVEN = 10_000;
/** A hit within this last fraction of its entry's freshness bound renews it in the background. */
const REFRESH_FRACTION = 0.2;
const NO_OPTIONS: ParsedOptions = { minRank: -1, scope: undefined };
const NOT_FOUND: VerifyResult = Object.freeze({ valid: false, reason: 'not_found' });
const MALFORMED: VerifyResult = Object.freeze({ valid: false, reason: 'malformed' });
const results = {
  not_found: NOT_FOUND,
  wrong: NOT_FOUND,
  rate_limited: Object.freeze({ valid: false, reason: 'rate_limited' }),
  revoked: Object.freeze({ valid: false, reason: 'revoked' }),
  rotated: Object.freeze({ valid: false, reason: 'rotated' }),
  expired: Object.freeze({ valid: false, reason: 'expired' }),
  insufficient_role: Object.freeze({ valid: false, reason: 'insufficient_role' }),
  insufficient_permission: Object.freeze({ valid: false, reason: 'insufficient_permission' }),
} as const satisfies Record<string, VerifyResult>;

const busy = (retryAfterMs: number): VerifyResult =>
  Object.freeze({ valid: false, reason: 'busy', retryAfterMs: Math.max(1, retryAfterMs) });

/** A lookup's outcome as the verdict of a caller that is not a match. */
const refusal = (outcome: Exclude<Lookup, { kind: 'match' }>): VerifyResult =>
  outcome.kind === 'busy' ? busy(outcome.retryAfterMs) : results[outcome.kind];

// One-shot hashing (Node >= 20.12) skips the Hash object; older 20.x falls back.
const sha256: (value: string) => string =
  typeof crypto.hash === 'function'
    ? (value) => crypto.hash('sha256', value, 'binary')
    : (value) => crypto.createHash('sha256').update(value).digest('binary');

const isDateOrNull = (value: unknown) =>
  value === null || (value instanceof Date && !Number.isNaN(value.getTime()));

/** The fields added in 0.2.0 may be absent (an adapter written for 0.1.0): read as null. */
const isDateOrAbsent = (value: unknown) => value === undefined || isDateOrNull(value);

/** A synchronous findById; a throw fails closed like any store failure. */
function findNow(find: (id: string) => StoredApiKey | null, id: string): StoredApiKey | null {
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
function isReadable(record: StoredApiKey, id: string): boolean {
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
  });
}

/**
 * Builds `verifyKey` and the hooks that keep its cache honest. Order of work for a presented key:
 * its shape (no I/O); for a key whose id is cached, its SHA-256 digest and the cache; otherwise,
 * or after a miss, the checksum; then the abuse limit, then one shared store lookup and hash per
 * distinct key in flight.
 */
export function createVerifier(parts: VerifierParts) {
  const { adapter, hasher, roles, prefix, cache, limiter, attempts, lastUsed } = parts;
  const hasShape = shapeCheck(prefix);
  const matchesChecksum = checksumCheck(prefix);
  const idStart = prefix.length + 1;
  const idEnd = idStart + KEY_ID_LENGTH;
  const flights = new Map<string, Flight>();
  const rehashing = new Set<string>();
  /**
   * For each id, the digest of the key that last verified and the stored hash it matched: proof
   * of the right secret, which lets its owner through the wrong-secret limit after the cache
   * entry has aged out, and (with the cache on) lets a revalidation that reads the same stored
   * hash skip the hasher. Bounded like the cache; oldest first out.
   */
  const proven = new Map<string, Proof>();
  const maxProven = Math.max(cache?.maxEntries ?? 0, MIN_PROVEN);
  /** Entries a refresh was started for: at most one per entry, even when it fails. */
  const refreshed = new WeakSet<KeyView>();
  const refreshMs = cache ? cache.ttlMs * REFRESH_FRACTION : 0;
  const { findByIdSync } = parts;
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
  /** A lookup that runs to its end without waiting: a synchronous store and hasher. */
  const synchronous = findByIdSync !== undefined && verifyNow !== undefined;

  /** Parsed options by role spelling, then scope: hosts pass the same few on every request. */
  const parsedMemo = new Map<unknown, Map<unknown, ParsedOptions>>();
  let parsedCount = 0;

  function parseOptions(options: unknown): ParsedOptions {
    if (options === undefined) return NO_OPTIONS;
    try {
      return readOptions(options);
    } catch (error) {
      if (error instanceof KeymintError) throw error;
      // A throwing getter or Proxy trap: still bad options, not a reason to throw something else.
      throw new KeymintError(
        'INVALID_INPUT',
        'Invalid verifyKey() options: they cannot be read as plain data.',
        { cause: safeCause(error) },
      );
    }
  }

  function readOptions(options: unknown): ParsedOptions {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new KeymintError(
        'INVALID_INPUT',
        'Invalid verifyKey() options: verifyKey() options must be an object: { role?, scope? }.',
      );
    }
    for (const name in options) {
      if (name !== 'role' && name !== 'scope' && name !== 'permissions') {
        throw new KeymintError(
          'INVALID_INPUT',
          `Invalid verifyKey() options: unknown option ${JSON.stringify(name)}; the options are role, scope and permissions.`,
        );
      }
    }
    const { role, scope, permissions } = options as {
      role?: unknown;
      scope?: unknown;
      permissions?: unknown;
    };
    const base = parseRoleAndScope(role, scope);
    if (permissions === undefined) return base;
    return { minRank: base.minRank, scope: base.scope, permissions: checkWanted(permissions) };
  }

  /** Whether every entry is a permission already checked (the usual case: a route's list). */
  function allKnown(value: unknown): value is readonly string[] {
    if (!Array.isArray(value)) return false;
    for (let i = 0; i < value.length; i++) if (!knownWanted.has(value[i])) return false;
    return true;
  }

  /** Permission strings already checked against the map: hosts ask for the same few. */
  const knownWanted = new Set<string>();

  function checkWanted(value: unknown): readonly string[] {
    if (!parts.permissions) {
      throw new KeymintError(
        'INVALID_INPUT',
        'Invalid verifyKey() options: permissions need the permissions option of createKeymint() (this instance has none).',
      );
    }
    if (allKnown(value)) return value;
    const checked = checkPermissionList(parts.permissions.known, value, 'verifyKey() options');
    if (knownWanted.size > 1_000) knownWanted.clear();
    for (const p of checked) knownWanted.add(p);
    return checked;
  }

  function parseRoleAndScope(role: unknown, scope: unknown): ParsedOptions {
    const known = parsedMemo.get(role)?.get(scope);
    if (known) return known;
    if (role !== undefined && typeof role !== 'string') {
      throw new KeymintError(
        'INVALID_INPUT',
        'Invalid verifyKey() options: role must be a string.',
      );
    }
    const parsed: ParsedOptions = {
      minRank: role === undefined ? -1 : roles.rankOf(roles.require(role, 'minimum role')),
      scope: scope === undefined ? undefined : checkScope(scope),
    };
    if (++parsedCount > 1_000) {
      parsedMemo.clear();
      parsedCount = 1;
    }
    let byScope = parsedMemo.get(role);
    if (!byScope) parsedMemo.set(role, (byScope = new Map()));
    byScope.set(scope, parsed);
    return parsed;
  }

  function checkScope(value: unknown): string {
    const parsed = scopeSchema.safeParse(value);
    if (!parsed.success) {
      throw new KeymintError(
        'INVALID_INPUT',
        `Invalid verifyKey() options: scope: ${parsed.error.issues[0]?.message ?? 'invalid'}.`,
        { cause: parsed.error },
      );
    }
    return parsed.data;
  }

  /** A key without expiry stops working when the host no longer allows such keys. */
  const isExpired = (expiresAtMs: number | null, nowMs: number) =>
    expiresAtMs === null ? !parts.allowNonExpiring : nowMs >= expiresAtMs;

  function verdict(view: KeyView, options: ParsedOptions, nowMs: number): VerifyResult {
    if (options.scope !== undefined && view.scope !== options.scope) return NOT_FOUND;
    if (view.revoked) return results.revoked;
    // The previous secret of a rotated key: valid until its grace period ends.
    if (view.graceUntilMs !== null && nowMs >= view.graceUntilMs) return results.rotated;
    if (isExpired(view.expiresAtMs, nowMs)) return results.expired;
    if (options.minRank >= 0 && view.rank < options.minRank) return results.insufficient_role;
    if (options.permissions && !(view.grants && holdsAll(view.grants, options.permissions))) {
      return results.insufficient_permission;
    }
    return view.valid;
  }

  /** `lastUsedMs` is on the monotonic clock; the time written is the wall clock's. */
  function touch(view: KeyView, monoMs: number, nowMs: number): void {
    if (monoMs - view.lastUsedMs < parts.lastUsedIntervalMs) return;
    view.lastUsedMs = monoMs;
    lastUsed.queue(view.id, nowMs);
  }

  function maybeRehash(record: StoredApiKey, secret: string): void {
    let stale = false;
    try {
      stale = hasher.needsRehash?.(record.secretHash) === true;
    } catch (error) {
      parts.report(
        new KeymintError('HASHER_FAILURE', 'needsRehash() threw; see the cause.', { cause: error }),
      );
    }
    if (!stale || rehashing.has(record.id)) return;
    rehashing.add(record.id);
    (async () => {
      const hashed = await parts.fromHasher('rehash a secret', () =>
        limiter
          ? limiter.run(() => hasher.hash(secret), { scope: record.scope, id: record.id })
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
      const proof = proven.get(record.id);
      if (updated?.secretHash === hashed && proof?.secretHash === record.secretHash) {
        proven.set(record.id, { digest: proof.digest, secretHash: hashed });
      }
    })()
      .catch(parts.report)
      .finally(() => rehashing.delete(record.id));
  }

  function prove(id: string, digest: string, secretHash: string): void {
    proven.delete(id);
    if (proven.size >= maxProven) proven.delete(proven.keys().next().value!);
    proven.set(id, { digest, secretHash });
  }

  const provenDigest = (id: string): string | undefined => proven.get(id)?.digest;

  /**
   * Whether this process already proved this very key against this very stored hash. Only with
   * the cache on: `cache: false` asks for the hasher on every verification.
   */
  function alreadyProven(record: StoredApiKey, digest: string): boolean {
    if (!cache) return false;
    const proof = proven.get(record.id);
    return proof !== undefined && proof.digest === digest && proof.secretHash === record.secretHash;
  }

  /**
   * What the record alone decides: missing, revoked or expired (a refusal), else null. A revoked
   * or expired key can never verify: refused before the limiter and the hasher, so guesses at a
   * dead id cost no hash (docs/security.md: what this tells). An unreadable record fails closed.
   */
  function screen(
    record: StoredApiKey | null,
    id: string,
    wallAt: number,
  ): Exclude<Lookup, { kind: 'match' }> | null {
    if (!record) return { kind: 'not_found' };
    if (!isReadable(record, id)) {
      throw new KeymintError('STORE_FAILURE', 'The key store returned an unreadable record.');
    }
    if (record.revokedAt !== null) return { kind: 'revoked', scope: record.scope };
    if (isExpired(record.expiresAt?.getTime() ?? null, wallAt)) {
      return { kind: 'expired', scope: record.scope };
    }
    return null;
  }

  /**
   * {@link lookup} for a synchronous store and hasher when no wrong-secret place is to be
   * reserved (no limit, or this process proved this very key): the same steps, without a promise.
   */
  function lookupNow(presented: ParsedKey, digest: string, readAt: number): Lookup {
    const { id, secret } = presented;
    const token = cache?.beginLookup() ?? 0;
    try {
      const record = findNow(findByIdSync!, id);
      const wallAt = parts.nowMs();
      const refused = screen(record, id, wallAt);
      if (refused || !record) return refused ?? { kind: 'not_found' };
      let previous = false;
      if (!alreadyProven(record, digest)) {
        if (!verifyNow!(record.secretHash, secret)) {
          if (typeof record.previousSecretHash !== 'string') return { kind: 'wrong' };
          if (!verifyNow!(record.previousSecretHash, secret)) return { kind: 'wrong' };
          previous = true;
        }
        if (!previous) prove(id, digest, record.secretHash);
      }
      return matched(token, record, digest, readAt, wallAt, previous, secret);
    } finally {
      cache?.endLookup();
    }
  }

  /** `readAt`: the monotonic time of the call, at or before the read. */
  async function lookup(presented: ParsedKey, digest: string, readAt: number): Promise<Lookup> {
    const { id } = presented;
    const token = cache?.beginLookup() ?? 0;
    try {
      // The freshness bound counts from the read (or just before it), not from the end of the hash.
      const record = findByIdSync
        ? findNow(findByIdSync, id)
        : await parts.fromStore('findById', () => adapter.findById(id));
      const wallAt = parts.nowMs();
      const refused = screen(record, id, wallAt);
      if (refused || !record) return refused ?? { kind: 'not_found' };
      // Whether the presented secret is the one a rotation replaced (never proven, never rehashed).
      let previous = false;
      if (!alreadyProven(record, digest)) {
        let ticket: AttemptTicket | null = null;
        if (attempts !== null && provenDigest(id) !== digest) {
          const begun = await attempts.begin(id, parts.monoMs());
          // The record was deleted since the read: nothing to hash.
          if (begun === 'gone') return { kind: 'not_found' };
          if (begun === null) return { kind: 'rate_limited' };
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
                  proven: provenDigest(id) === digest,
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
        if (!previous) prove(id, digest, record.secretHash);
      }
      return matched(token, record, digest, readAt, wallAt, previous, presented.secret);
    } finally {
      cache?.endLookup();
    }
  }

  /** A lookup that matched: the entry (cached when the cache takes it), then a rehash if due. */
  function matched(
    token: number,
    record: StoredApiKey,
    digest: string,
    readAt: number,
    wallAt: number,
    previous: boolean,
    secret: string,
  ): Lookup {
    const apiKey = toApiKey(record, parts.permissions);
    const view: KeyView = {
      id: record.id,
      digest,
      scope: record.scope,
      apiKey,
      valid: Object.freeze({ valid: true, apiKey }),
      rank: roles.rankOf(record.role),
      grants: apiKey.permissions ? grantsOf(apiKey.permissions) : null,
      expiresAtMs: record.expiresAt?.getTime() ?? null,
      revoked: record.revokedAt !== null,
      graceUntilMs: previous ? (record.previousSecretExpiresAt?.getTime() ?? -Infinity) : null,
      freshUntil: readAt + (cache?.ttlMs ?? 0),
      // The stored last-used time, moved onto the monotonic clock (never into its future).
      lastUsedMs: record.lastUsedAt
        ? readAt - Math.max(0, wallAt - record.lastUsedAt.getTime())
        : -Infinity,
      hot: false,
    };
    cache?.fill(token, view);
    if (!previous) maybeRehash(record, secret);
    return { kind: 'match', view };
  }

  /** What the verifier forgets besides the cache; the cache calls it, so listeners need only the cache. */
  const forget = {
    invalidate(id: string): void {
      proven.delete(id);
      for (const [digest, flight] of flights) if (flight.id === id) flights.delete(digest);
    },
    reset(): void {
      flights.clear();
    },
  };
  if (cache) cache.also = forget;

  async function verifyKey(key: unknown, options?: VerifyOptions): Promise<VerifyResult> {
    const parsedOptions = parseOptions(options);
    // Garbage of the wrong shape costs a few comparisons.
    if (!hasShape(key)) return MALFORMED;
    let digest: string | undefined;
    if (cache?.hasId(key.slice(idStart, idEnd))) {
      // This id verified lately: almost always the same key again. Its digest is all a hit
      // takes (the very string a full verification accepted), so the checksum waits for a miss.
      digest = sha256(key);
      const mono = parts.monoMs();
      const hit = cache.get(digest, mono);
      if (hit) {
        const at = parts.nowMs();
        const result = verdict(hit, parsedOptions, at);
        if (result.valid) touch(hit, mono, at);
        if (mono >= hit.freshUntil - refreshMs) refreshAhead(key, hit, digest);
        return result;
      }
    }
    // Checksum before any hashing for every other key: a typo or a forged id costs no SHA-256.
    if (!matchesChecksum(key)) return MALFORMED;
    const presented = splitChecked(prefix, key);
    if (!presented) return MALFORMED;
    digest ??= sha256(key);
    const arrivedAt = parts.monoMs();
    if (attempts?.blocked(presented.id, arrivedAt) && provenDigest(presented.id) !== digest) {
      return results.rate_limited;
    }
    const joined = flights.get(digest);
    // With a synchronous store and hasher a lookup ends before anyone could join it: no flight.
    let outcome =
      !joined && synchronous && (attempts === null || provenDigest(presented.id) === digest)
        ? lookupNow(presented, digest, arrivedAt)
        : await (joined
            ? joined.promise
            : synchronous
              ? lookup(presented, digest, arrivedAt)
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
    if (outcome.kind === 'revoked' || outcome.kind === 'expired') {
      return parsedOptions.scope !== undefined && outcome.scope !== parsedOptions.scope
        ? NOT_FOUND
        : results[outcome.kind];
    }
    if (outcome.kind !== 'match') return refusal(outcome);
    const at = parts.nowMs();
    const result = verdict(outcome.view, parsedOptions, at);
    // A synchronous lookup took no time on the monotonic clock worth another reading.
    if (result.valid) touch(outcome.view, synchronous ? arrivedAt : parts.monoMs(), at);
    return result;
  }

  function startFlight(presented: ParsedKey, digest: string, startedAt: number): Flight {
    const promise = lookup(presented, digest, startedAt).finally(() => {
      if (flights.get(digest)?.promise === promise) flights.delete(digest);
    });
    const flight: Flight = { id: presented.id, promise, startedAt };
    flights.set(digest, flight);
    return flight;
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
    verifyKey,
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
