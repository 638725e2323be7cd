/**
 * The persistence contract. An adapter stores and loads {@link StoredApiKey} records; the core
 * does everything else (hashing, expiry, roles, validation). Write one to keep keys in a store
 * keymint does not ship; `docs/adapters.md` is the guide, and `describeAdapterConformance` from
 * `keymint/testing` checks every rule below against your store.
 *
 * @example
 * ```ts
 * import type { KeyAdapter } from 'keymint';
 *
 * const adapter = {
 *   async insert(record) { ... return { ok: true }; },
 *   async findById(id) { ... return null; },
 *   async list(query) { ... return []; },
 *   async update(id, patch) { ... return null; },
 *   async delete(id) { ... return false; },
 *   async deleteExpired(before) { ... return 0; },
 *   async modify(id, changes, condition) { ... return { ok: false, reason: 'not_found' }; },
 * } satisfies KeyAdapter;
 * ```
 *
 * @module
 */

import type {
  FailureReservation,
  LastUsedEntry,
  StoredLimits,
  UsageOutcome,
  UsageRequest,
} from './adapter/usage.js';
import type { InvalidationListener, SubscribeOptions, Subscription } from './adapter/subscribe.js';

export type {
  FailureReservation,
  LastUsedEntry,
  StoredLimits,
  UsageOutcome,
  UsageRequest,
} from './adapter/usage.js';
export type { InvalidationListener, SubscribeOptions, Subscription } from './adapter/subscribe.js';

/**
 * A key as an adapter stores it. `secretHash` is the hasher's output, never the key or the
 * secret. Dates are `Date` objects with millisecond precision.
 *
 * @example
 * ```ts
 * import type { StoredApiKey } from 'keymint';
 * const row: StoredApiKey = {
 *   id: '3fK9aB2cD4eF', name: 'ci', role: 'Editor', scope: 'default',
 *   secretHash: '$argon2id$v=19$m=19456,t=2,p=1$...',
 *   createdAt: new Date(), expiresAt: new Date(Date.now() + 3_600_000),
 *   lastUsedAt: null, revokedAt: null, metadata: null,
 *   ttlSeconds: 3_600, previousSecretHash: null, previousSecretExpiresAt: null, rotatedAt: null,
 * };
 * ```
 */
export interface StoredApiKey {
  /** Public lookup id; the key embeds it. Unique across all scopes. */
  id: string;
  /** Trimmed, NFC-normalised display name; unique within `scope`. */
  name: string;
  /** The role in its canonical spelling. */
  role: string;
  /** The tenant the key belongs to (Grafana's organisation). */
  scope: string;
  /** The hasher's output for the secret. */
  secretHash: string;
  createdAt: Date;
  /** `null` only when the host allowed non-expiring keys. */
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  /** JSON object, or `null`. */
  metadata: Record<string, unknown> | null;
  /**
   * The key's time to live in seconds, as last given to create, update or rotate; the default
   * time to live of a rotation. `null` for a key that never expires.
   *
   * The four fields below are new in 0.2.0. An adapter stores them and returns them as given
   * (`null`, not absent); records written before 0.2.0 read back with `null`, and the core reads
   * an absent field as `null` too, so an adapter written for 0.1.0 keeps working for everything
   * but {@link KeyAdapter.modify}.
   */
  ttlSeconds?: number | null;
  /** The hash of the secret a rotation replaced, kept until the next rotation. */
  previousSecretHash?: string | null;
  /** Until when (exclusive) the previous secret still verifies: the end of the grace period. */
  previousSecretExpiresAt?: Date | null;
  /** When the secret was last rotated. */
  rotatedAt?: Date | null;
  /**
   * New in 0.3.0, like the four above (absent reads as `null`): the opaque id (1 to 190
   * characters, checked by the core) of the user or service account the key belongs to. Set at
   * create only; {@link ListQuery.owner} and {@link KeyAdapter.revokeByOwner} select by it.
   */
  owner?: string | null;
  /**
   * The key's explicit, narrowed list of permissions in canonical order, stored as JSON; `null`
   * means everything its role grants.
   */
  permissions?: string[] | null;
  /**
   * New in 0.3.0: the key's own usage limits (rate limit, credits), as JSON; `null` (or absent)
   * for none. An adapter stores it as given and returns it as a fresh object.
   */
  limits?: StoredLimits | null;
}

/**
 * What {@link KeyAdapter.insert} reports: stored, or which unique rule refused it.
 *
 * @example
 * ```ts
 * import type { InsertResult } from 'keymint';
 * const taken: InsertResult = { ok: false, conflict: 'name' };
 * ```
 */
export type InsertResult = { ok: true } | { ok: false; conflict: 'name' | 'id' };

/**
 * The query of {@link KeyAdapter.list}.
 *
 * @example
 * ```ts
 * import type { ListQuery } from 'keymint';
 * const page: ListQuery = { scope: 'default', limit: 100, after: 'ci', activeAt: new Date() };
 * ```
 */
export interface ListQuery {
  scope: string;
  /** At most this many records (the core passes 1 to 1000). */
  limit: number;
  /** Only names strictly after this one in code point order. */
  after?: string;
  /** When set, only keys with no expiry or with `expiresAt` later than this instant. */
  activeAt?: Date;
  /**
   * When set, only this owner's keys of the scope, in the same order and paging. The SQL
   * adapters answer it from an index on `(scope, owner, name)`.
   */
  owner?: string;
}

/**
 * The fields {@link KeyAdapter.update} may change.
 *
 * @example
 * ```ts
 * import type { KeyPatch } from 'keymint';
 * const patch: KeyPatch = { lastUsedAt: new Date() };
 * ```
 */
export interface KeyPatch {
  /** Kept only when later than the stored value: several processes write it in the background. */
  lastUsedAt?: Date;
  /** Set only when the record has none yet: the first revocation's time wins (SQL `COALESCE`). */
  revokedAt?: Date;
  secretHash?: string;
}

/**
 * The fields {@link KeyAdapter.modify} may change: any subset, applied together or not at all.
 * A field that is absent (`undefined`) keeps its stored value; `null` stores null.
 *
 * @example
 * ```ts
 * import type { KeyChanges } from 'keymint';
 * const rename: KeyChanges = { name: 'ci (old)', role: 'Viewer' };
 * ```
 */
export interface KeyChanges {
  name?: string;
  role?: string;
  metadata?: Record<string, unknown> | null;
  expiresAt?: Date | null;
  ttlSeconds?: number | null;
  secretHash?: string;
  previousSecretHash?: string | null;
  previousSecretExpiresAt?: Date | null;
  rotatedAt?: Date | null;
  /** The key's narrowed permissions (JSON), or `null` for everything its role grants. */
  permissions?: string[] | null;
  limits?: StoredLimits | null;
}

/**
 * The condition of {@link KeyAdapter.modify}, checked in the same atomic step as the change.
 *
 * @example
 * ```ts
 * import type { ModifyCondition } from 'keymint';
 * const unchanged: ModifyCondition = { secretHash: '$argon2id$v=19$m=19456,t=2,p=1$...' };
 * ```
 */
export interface ModifyCondition {
  /** Change the record only while its stored `secretHash` is exactly this one. */
  secretHash?: string;
}

/**
 * What {@link KeyAdapter.modify} reports: the changed record, or why nothing was changed.
 * - `not_found`: no record has this id.
 * - `revoked`: the record is revoked (a revoked key never changes again).
 * - `secret`: the stored `secretHash` is not the one the condition names.
 * - `name`: another record of the same scope has the new name.
 *
 * When several hold, the first in this order is reported.
 *
 * @example
 * ```ts
 * import type { ModifyResult } from 'keymint';
 * const taken: ModifyResult = { ok: false, reason: 'name' };
 * ```
 */
export type ModifyResult =
  | { ok: true; record: StoredApiKey }
  | { ok: false; reason: 'not_found' | 'revoked' | 'secret' | 'name' };

/**
 * The persistence contract: six async methods. "Not found" is `null` (or `false`), never a
 * throw; a throw means the store failed, and the core reports it as `STORE_FAILURE`.
 *
 * Rules every adapter keeps (`describeAdapterConformance` from `keymint/testing` checks them):
 * - `insert` is atomic: when another record has the same `(scope, name)` it stores nothing and
 *   returns `{ ok: false, conflict: 'name' }`, also when two inserts race; the same `id`
 *   gives `conflict: 'id'`.
 * - Records come back equal to what was stored (dates to the millisecond, metadata as JSON),
 *   as fresh objects the caller may mutate without touching the store.
 * - `list` returns one scope's records sorted by name in code point order (SQL `COLLATE "C"`).
 *
 * @example
 * ```ts
 * import { createKeymint, type KeyAdapter } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 *
 * const adapter: KeyAdapter = memoryAdapter();
 * const keymint = createKeymint({ adapter });
 * ```
 */
export interface KeyAdapter {
  /**
   * Stores a new record, atomically enforcing unique `id` and unique `(scope, name)`. All or
   * nothing, also when it throws: after a throw the core reads the id back once, and takes a
   * record it finds there (with this insert's hash) as stored.
   */
  insert(record: StoredApiKey): Promise<InsertResult>;
  /** The record with this id, or `null`. */
  findById(id: string): Promise<StoredApiKey | null>;
  /** One page of a scope's records, sorted by name. */
  list(query: ListQuery): Promise<StoredApiKey[]>;
  /** Applies the patch and returns the updated record, or `null` when there is none. */
  update(id: string, patch: KeyPatch): Promise<StoredApiKey | null>;
  /** Deletes the record; `false` when there was none. */
  delete(id: string): Promise<boolean>;
  /** Deletes every record whose `expiresAt` is at or before `before`; returns how many. */
  deleteExpired(before: Date): Promise<number>;
  /**
   * Optional: writes many last-used times in one round trip. Each entry follows the rule of
   * {@link KeyPatch.lastUsedAt} (kept only when later than the stored value); ids with no record
   * are ignored. Without it, keymint calls `update` once per entry.
   */
  touchMany?(entries: readonly LastUsedEntry[]): Promise<void>;
  /**
   * Optional, needed by `updateApiKey` and `rotateApiKey` (which throw `CONFIG` without it):
   * applies `changes` to the record in one atomic step, only when the record exists, is not
   * revoked, and (when `condition.secretHash` is given) still has that `secretHash`. A new name
   * is unique per scope exactly as on `insert`, also against racing inserts and renames. All or
   * nothing: a refused or throwing call changes nothing. An adapter that has `subscribe`
   * publishes the id from every `modify` that changed a record, in the same statement or
   * transaction, as it does for a revocation: a new role, expiry or secret must reach every
   * process's cache.
   */
  modify?(id: string, changes: KeyChanges, condition?: ModifyCondition): Promise<ModifyResult>;
  /**
   * Optional: tells this process when any process revokes or deletes a key in the same store,
   * so that every keymint instance drops that key from its verify cache at once. An adapter that
   * has it publishes from `update` (when the patch has `revokedAt`), from `delete` and from every
   * `modify` that changed a record, in the same statement or transaction as the change. Resolves once the listener is live. When `signal`
   * aborts before that, stop connecting, release everything and reject.
   */
  subscribe?(listener: InvalidationListener, options?: SubscribeOptions): Promise<Subscription>;
  /**
   * Optional: how many keys of `scope` are live at `at`: not revoked, and with no expiry or an
   * `expiresAt` later than `at` (a key expires at `expiresAt` exactly). keymint needs it for the
   * `maxKeysPerScope` option. One query; it need not lock anything.
   */
  countLive?(scope: string, at: Date): Promise<number>;
  /**
   * Optional, needed by `revokeApiKeys({ owner })` (which throws `CONFIG` without it): in one
   * atomic step, sets `revokedAt = at` on every not-yet-revoked record of `owner` in `scope`,
   * and returns their ids (in any order; an empty array when there were none). An adapter that
   * has `subscribe` publishes each id, in the same statement, transaction or script as the
   * change, as it does for one revocation.
   */
  revokeByOwner?(scope: string, owner: string, at: Date): Promise<string[]>;
  /**
   * Optional, with {@link KeyAdapter.releaseFailure}: the wrong-secret limit (`rateLimit`)
   * counted in the store, so that it holds for every process that uses the store. keymint calls
   * it after `findById` found a live record and before it hashes a secret it has not proven:
   * a hash happens only when this reserved a place in the id's window.
   *
   * In one atomic step, also against racing calls from other processes: when no record has `id`,
   * store nothing and return `null` (unknown ids keep no state). Otherwise, when the id has no
   * window, its window has ended (the store's own clock at or past its start plus `windowMs`,
   * or before its start: a clock stepped back), or its count is 0 (every place was given back),
   * start one now with a count of 0. Then, when the
   * count is below `limit`, add 1 and return `{ ok: true, window }` (the window's start in epoch
   * ms, on the store's clock); else change nothing and return `{ ok: false, retryAfterMs }`, the
   * time left in the window (at least 1). The store keeps at most one window per key, drops it
   * when the key is deleted or by `deleteExpired` once ended (or lets it expire), so its size is
   * bounded by the number of keys.
   */
  reserveFailure?(id: string, limit: number, windowMs: number): Promise<FailureReservation | null>;
  /**
   * Optional, with {@link KeyAdapter.reserveFailure}: gives back a place reserved in `window`
   * (the secret was right, or could not be checked), in one atomic step: subtracts 1 when the
   * id's current window is still `window` and its count is above 0; otherwise changes nothing.
   */
  releaseFailure?(id: string, window: number): Promise<void>;
  /**
   * Optional, needed by keys with a rate limit or credits (`createApiKey` throws `CONFIG`
   * without it): counts one verification of key `id` against its limits in ONE atomic step
   * (one statement, one script), exact across every process on the store; see
   * {@link UsageRequest} for the rule. The counters live apart from the record (SQL:
   * `<table>_usage`), and an id with no counters yet starts from zero.
   */
  consumeUsage?(id: string, request: UsageRequest): Promise<UsageOutcome>;
}
