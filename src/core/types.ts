import type { AuthorizeRequest, CallContext } from './types/access.js';
import type {
  CreateApiKeyInput,
  CreatedApiKey,
  LeakReport,
  LeakedKeyResult,
  ListApiKeysInput,
  PurgeExpiredInput,
  RateLimitInput,
  RevokeApiKeysInput,
  RotateApiKeyOptions,
  RotatedApiKey,
  UpdateApiKeyInput,
} from './types/inputs.js';
import type { Hasher } from './hasher.js';
import type { KeyAdapter } from '../adapter.js';
import type { KeymintEvent } from './events.js';
import type { PermissionsInfo } from './permissions.js';
import type { TtlInput } from './ttl.js';
import type { VerifyOptions, VerifyResult } from './types/verify.js';

// The other public types, by family of operations.
export type {
  UsageLimits,
  VerifyFailureReason,
  VerifyResult,
  VerifyOptions,
} from './types/verify.js';
export type { ApiKeyAction, AuthorizeRequest, CallContext } from './types/access.js';
export type {
  RateLimitInput,
  CreditsInput,
  CreateApiKeyInput,
  CreatedApiKey,
  UpdateApiKeyInput,
  RotateApiKeyOptions,
  RotatedApiKey,
  ListApiKeysInput,
  RevokeApiKeysInput,
  PurgeExpiredInput,
  LeakReport,
  LeakedKeyResult,
} from './types/inputs.js';

/**
 * A key's record as keymint returns it: plain data, with no hash and no secret, safe to log,
 * serialise and send to a client.
 *
 * @example
 * ```ts
 * const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
 * console.log(apiKey.id, apiKey.name, apiKey.role, apiKey.expiresAt?.toISOString());
 * ```
 */
export interface ApiKey {
  /** Public id, embedded in the key; use it to get, revoke or delete the key. */
  readonly id: string;
  readonly name: string;
  /** The role in its canonical spelling (`admin` given, `Admin` stored). */
  readonly role: string;
  readonly scope: string;
  readonly createdAt: Date;
  /** `null` only for a non-expiring key, which the host must have allowed. */
  readonly expiresAt: Date | null;
  /** Updated after successful verifications, at most once per `lastUsedInterval`. */
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
  readonly metadata: Readonly<Record<string, unknown>> | null;
  /** When {@link Keymint.rotateApiKey} last gave the key a new secret; `null` if never. */
  readonly rotatedAt: Date | null;
  /**
   * When the secret replaced by the last rotation stops (stopped) verifying: the end of its grace
   * period. `null` if never rotated.
   */
  readonly previousKeyExpiresAt: Date | null;
  /**
   * What the key may do, when the instance has a `permissions` map: its explicit list (set on
   * create or update) within what its role grants now, or everything its role grants. Canonical
   * order (sorted, no repeats). `null` when the instance has no `permissions` map.
   */
  readonly permissions: readonly string[] | null;
  /** The user or service account the key belongs to (given at create), or `null`. */
  readonly owner: string | null;
  /**
   * The key's own usage limits (new in 0.3.0): its rate limit (`windowMs`, the window in ms) and
   * its credits as set (the balance left is in each valid verification's `limits`). `null` for
   * a key without its own limits (a role default of `rateLimits` may still apply).
   */
  readonly limits: {
    readonly rateLimit?: { readonly limit: number; readonly windowMs: number };
    readonly credits?: {
      readonly remaining: number;
      readonly setAt: Date;
      readonly refill?: { readonly amount: number; readonly intervalMs: number };
    };
  } | null;
}

/**
 * Options of {@link createKeymint}.
 *
 * @example
 * ```ts
 * const options: KeymintOptions<User> = {
 *   adapter: memoryAdapter(),
 *   authorize: ({ actor, scope }) => actor.orgId === scope && actor.isAdmin,
 *   actorRole: (actor) => actor.role,
 * };
 * ```
 */
export interface KeymintOptions<Actor = unknown> {
  /** Where keys are stored. */
  adapter: KeyAdapter;
  /** Role names, lowest to highest. Default `['Viewer', 'Editor', 'Admin']`. */
  roles?: readonly string[];
  /** The longest time to live a key may get. Default `'30d'`; at most 100 years. */
  maxTtl?: TtlInput;
  /** Accept `ttl: null` for keys that never expire. Default `false`. */
  allowNonExpiring?: boolean;
  /** The key prefix: a lower-case letter, then up to 15 lower-case letters or digits. Default `'km'`. */
  prefix?: string;
  /** How secrets are hashed. Default {@link argon2idHasher} with its key parameters (256 KiB, t=8). */
  hasher?: Hasher;
  /**
   * The host's permission check; `false` makes the call fail with `FORBIDDEN` before anything
   * happens. Without it, every call is trusted server-side code.
   */
  authorize?: (request: AuthorizeRequest<Actor>) => boolean | Promise<boolean>;
  /** The actor's own role: no actor may create a key with a higher role. */
  actorRole?: (actor: Actor) => string | null | undefined | Promise<string | null | undefined>;
  /** The clock. Default `() => new Date()`. */
  now?: () => Date;
  /** Write `lastUsedAt` at most this often per key. Default `'5m'` (as Grafana). */
  lastUsedInterval?: TtlInput;
  /** Told about failures of work done off the request path (last-used writes, rehashes, the invalidation listener, the onEvent hook). */
  onBackgroundError?: (error: unknown) => void;
  /**
   * The audit hook: called with a {@link KeymintEvent} after each change the store committed
   * (created, updated, rotated, revoked, deleted, purged, leaked), on a later turn of the event
   * loop. It never delays or fails the operation: a throw or a rejected promise goes to
   * `onBackgroundError`. Events carry the key's id, scope and name and the context's `actor`,
   * never a key or a hash. See docs/observability.md.
   */
  onEvent?: (event: KeymintEvent<Actor>) => void | Promise<void>;
  /**
   * The verified-key cache. Default `{ ttl: '30s', maxEntries: 20_000 }`; `false` (or `ttl: 0`)
   * turns it off. A hit costs one SHA-256 and a Map lookup, touches no store and no hasher.
   * `ttl` is the freshness bound: the longest a revocation made by another process can go
   * unseen when the adapter cannot push invalidations (at most `'1h'`). An entry is never served
   * past the key's `expiresAt`, and a revoke or delete through this instance drops it at once.
   */
  cache?: false | { ttl?: TtlInput; maxEntries?: number };
  /**
   * Bounds on slow hashing (argon2id runs on libuv's thread pool). At most `concurrency` hashes
   * run at once (default: the pool size minus one, at most one more than the CPUs; 1 on a single
   * CPU, at least 1); the others wait their turn.
   * Hashers marked `fast` are not bounded.
   *
   * - `maxWait`: the longest a verification (or a create) may wait for its hash, estimated as the
   *   hashes ahead of it (the queue is fair: keys this process proved first, then scopes, then
   *   ids take turns) times the moving average of measured hash durations, divided by
   *   `concurrency` (at most the CPUs; a duration counts as if its hash had had a CPU of its own). Past it, `verifyKey` answers `busy` with `retryAfterMs` and `createApiKey`
   *   throws `BUSY`, at once. Default `'10s'` (a TTL string or seconds, at most `'10m'`; `0`
   *   refuses any wait): enough for a fresh instance to take 1,000 distinct keys at once with
   *   the default hasher on 2 cores (see docs/performance.md).
   * - `queue`: the cap on waiting hashes, whatever the estimate (the memory bound; each waiting
   *   verification holds about a kilobyte). Default 5,000, at most 1,000,000; `0` queues nothing.
   * - `timeout`: the longest one hash may run (default `'5s'`, at most `'1h'`); a hasher call that
   *   has not answered by then fails with `HASHER_FAILURE` and gives its slot back.
   */
  hashing?: { concurrency?: number; queue?: number; maxWait?: TtlInput; timeout?: TtlInput };
  /**
   * Abuse limit: after `failures` wrong secrets for one key id within `window` (default 10 per
   * `'1m'`), further attempts for that id answer `rate_limited` without hashing until the window
   * ends. `false` turns it off.
   *
   * Counted in the store, for the whole fleet, when the adapter can (`reserveFailure` and
   * `releaseFailure`: the PostgreSQL, MySQL, Redis and SQLite adapters); the window then runs on the
   * store's clock. Per process otherwise (the memory adapter), or with `shared: false`.
   */
  rateLimit?: false | { failures?: number; window?: TtlInput; shared?: boolean };
  /**
   * A default per-key rate limit by role, for keys without their own `rateLimit`:
   * `{ Viewer: { limit: 100, window: '1m' } }`. Counted in the store (exact across instances);
   * needs an adapter with `consumeUsage`. (Not `rateLimit`: that is the wrong-secret limit.)
   */
  rateLimits?: Readonly<Record<string, RateLimitInput>>;
  /** How long last-used writes wait to be batched, in ms: 0 to 60,000. Default 1,000. */
  lastUsedDelayMs?: number;
  /**
   * The longest keymint waits for any one adapter call (`'1s'` to `'1h'`, default `'5s'`): past
   * it the call fails with `STORE_FAILURE` (verification is never valid then), and a lookup
   * other verifications of the same key were waiting on is dropped, so the next one starts
   * afresh. The call itself is abandoned, not cancelled: set the driver's own timeouts
   * (docs/adapters.md) below this one so that it gives the connection back.
   */
  storeTimeout?: TtlInput;
  /**
   * At most this many live keys (neither revoked nor expired) per scope; `createApiKey` past it
   * throws `KEYS_LIMIT` (HTTP 409) before hashing anything. It bounds what one tenant allowed to
   * create keys can make the server hash (docs/security.md). Needs an adapter with `countLive`
   * (every bundled one); exact within a process, at most one over per other process creating in
   * the same scope at the same instant. Default: no limit.
   */
  maxKeysPerScope?: number;
  /**
   * Fine-grained permissions under the roles (docs/permissions.md): each role's permission
   * strings, written as Grafana's RBAC actions (`dashboards:read`; `dashboards:*` and `*` are
   * wildcards). A role also holds every permission of the roles below it (Admin ⊇ Editor ⊇
   * Viewer, as Grafana's basic roles); a role left out grants only what it inherits. Checked
   * here: a malformed entry or an unknown role is `CONFIG`. Without it, keys have no permissions
   * and passing any to a call is `INVALID_INPUT`.
   */
  permissions?: Readonly<Record<string, readonly string[]>>;
}

/**
 * A configured keymint instance. Create it once per process with {@link createKeymint}.
 *
 * @example
 * ```ts
 * const keymint: Keymint = createKeymint({ adapter: memoryAdapter() });
 * ```
 */
export interface Keymint<Actor = unknown> {
  /** The configured roles, lowest to highest. */
  readonly roles: readonly string[];
  /** The maximum time to live in seconds. */
  readonly maxTtlSeconds: number;
  /**
   * Whether the instance was made with `authorize`, so that it asks who may manage which keys.
   * `createApiKeyRoutes` refuses an instance without it, unless told `allowAnyActor: true`.
   */
  readonly checksPermissions: boolean;
  /**
   * The `permissions` option as the instance reads it: each role's effective grants (its own and
   * the lower roles', canonical order) and every permission it names; `null` without it.
   */
  readonly permissions: PermissionsInfo | null;
  /** Creates a key; see the README for the rules. */
  createApiKey(input: CreateApiKeyInput, context?: CallContext<Actor>): Promise<CreatedApiKey>;
  /**
   * Checks a presented key. Never throws for any presented key, of any type or length; throws
   * `INVALID_INPUT` / `INVALID_ROLE` for bad options, `STORE_FAILURE` / `HASHER_FAILURE` when the
   * store or the hasher fails (never "valid" then), `CONFIG` for a clock that returns no Date.
   */
  verifyKey(key: unknown, options?: VerifyOptions): Promise<VerifyResult>;
  /** One key's record; `NOT_FOUND` when there is none. */
  getApiKey(id: string, context?: CallContext<Actor>): Promise<ApiKey>;
  /** A scope's keys sorted by name; expired ones only when asked. */
  listApiKeys(input?: ListApiKeysInput, context?: CallContext<Actor>): Promise<ApiKey[]>;
  /**
   * Changes a key's name, role, metadata or time to live (a new expiry counted from now) and
   * returns the new record; the key itself stays the same. Any non-empty subset of the fields,
   * applied together or not at all. Throws `NOT_FOUND` for an unknown id, `REVOKED` for a revoked
   * key, `EXPIRED` for an expired one, `NAME_TAKEN` when another key of the scope has the name,
   * `INVALID_INPUT` for an empty or unknown patch. A change reaches every instance's verify cache
   * as a revocation does. `authorize` is asked `apikeys:write`; `actorRole` bounds a new role.
   */
  updateApiKey(id: string, patch: UpdateApiKeyInput, context?: CallContext<Actor>): Promise<ApiKey>;
  /**
   * Gives a key a new secret and returns the new plaintext key once. The key keeps its id, name,
   * role, scope, metadata and creation time. During `gracePeriod` the old key still verifies;
   * after it, `verifyKey` answers `rotated`. Only the secret replaced last is kept: rotating
   * again ends an earlier grace period at once. Throws `NOT_FOUND`, `REVOKED`, `EXPIRED`, and
   * `CONFLICT` when another rotation of the same key won a race with this one (that one's new
   * key counts). `authorize` is asked `apikeys:write` with the key's role, and `actorRole` must
   * reach that role (a rotation hands out a working key of it).
   */
  rotateApiKey(
    id: string,
    options?: RotateApiKeyOptions,
    context?: CallContext<Actor>,
  ): Promise<RotatedApiKey>;
  /** Marks a key revoked (idempotent) and returns its record. */
  revokeApiKey(id: string, context?: CallContext<Actor>): Promise<ApiKey>;
  /**
   * Revokes every key of one owner in a scope (default: the context's scope, else `'default'`)
   * in one atomic step of the store, for example when a person leaves, and returns how many
   * keys it revoked (already revoked ones are not counted). Each emits `key.revoked`, and the
   * revocations reach every instance's verify cache. `authorize` is asked `apikeys:delete` with
   * the `owner`. Throws `CONFIG` for an adapter without `revokeByOwner`.
   */
  revokeApiKeys(input: RevokeApiKeysInput, context?: CallContext<Actor>): Promise<number>;
  /** Deletes a key; its name becomes free again. */
  deleteApiKey(id: string, context?: CallContext<Actor>): Promise<void>;
  /**
   * Deletes every key, in every scope, that expired at least `olderThan` ago (default: any
   * expired key), so that their names can be reused and the store stays small. Returns how
   * many were deleted. Revoked keys that have not expired are kept.
   */
  purgeExpired(input?: PurgeExpiredInput, context?: CallContext<Actor>): Promise<number>;
  /**
   * Handles a report that `key` leaked (GitHub's secret scanning, `keymint scan --revoke`): when
   * its secret verifies, a `key.leaked` event is emitted and a valid key is revoked (unless
   * `report.revoke` is `false`), without asking `authorize` (holding the key is the proof).
   * Anything else is `{ truePositive: false }` and changes nothing. Throws `BUSY` when the key
   * cannot be checked now (hashing saturated, or too many wrong secrets for its id lately), and
   * `STORE_FAILURE` as the other methods do.
   */
  reportLeakedKey(key: unknown, report?: LeakReport): Promise<LeakedKeyResult>;
  /**
   * Turns the verify cache off for good, stops the invalidation listener (releasing its
   * connection) and writes the last-used times still queued. Call it on shutdown, after the
   * server stopped taking requests and before closing the adapter's pool or client. Idempotent;
   * the instance keeps working afterwards, without a cache: each verification reads the store
   * (so a key revoked elsewhere is refused at once), and fails with `STORE_FAILURE` once the
   * pool is closed.
   */
  close(): Promise<void>;
}
