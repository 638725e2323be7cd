import type { KeyAdapter } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { optionsSchema } from '../schemas.js';
import { availableParallelism } from 'node:os';
import { echo } from '../internal/echo.js';
import { createAccess } from './access.js';
import { AttemptLimiter } from './attempt-limiter.js';
import { createOperation } from './create.js';
import { boundAdapter, boundHasher } from './deadline.js';
import { defaultHashConcurrency, HashLimiter, threadPoolSize } from './hash-limiter.js';
import { argon2idHasher, type Hasher } from './hasher.js';
import { LastUsedWriter } from './last-used.js';
import { startInvalidation, weakListener } from './invalidation.js';
import { manageOperations } from './manage.js';
import { ownerOperations } from './owners.js';
import { fromHasher, fromStore, isZero, parseWith } from './parse.js';
import { rotateOperation } from './rotate.js';
import { ScopeCap } from './scope-cap.js';
import { localAttempts, sharedAttempts } from './shared-attempts.js';
import { createVerifier } from './verifier.js';
import { parseRoleDefaults, requireUsage } from './limits.js';
import { createEvents } from './events.js';
import { createLeakReporter } from './leaks.js';
import { revokeRecord } from './manage.js';
import { createTelemetry } from './telemetry.js';
import { VerifyCache } from './verify-cache.js';
import { DEFAULT_ROLES, RoleSet } from './roles.js';
import { PermissionMap } from './permissions.js';
import { HOW_TO, parseTtlWithMax, resolveMaxTtl, type TtlInput } from './ttl.js';
import { monotonicFor, wallFollowsMonotonic } from '../internal/monotonic.js';
import { FIND_BY_ID_SYNC, twinOf, VERIFY_SYNC } from '../internal/sync-twin.js';
import type { Keymint, KeymintOptions } from './types.js';

/** hashing.maxWait: a fresh instance takes 1,000 keys at once on 2 cores (docs/performance.md). */
const DEFAULT_MAX_WAIT_SECONDS = 10;
/** hashing.queue: the cap on waiting hashes, about a kilobyte each. */
const DEFAULT_HASH_QUEUE = 5_000;
/** cache.maxEntries: about 13 MiB of heap, 33 MiB with 1 KiB metadata (docs/performance.md). */
const DEFAULT_MAX_ENTRIES = 20_000;
const MAX_INTERVAL_SECONDS = 86_400;

function parseInterval(value: TtlInput | undefined): number {
  if (value === undefined) return 300;
  try {
    return parseTtlWithMax(value, MAX_INTERVAL_SECONDS);
  } catch (error) {
    throw new KeymintError(
      'CONFIG',
      `Invalid lastUsedInterval ${echo(value)}: ${HOW_TO}; at most 1 day.`,
      { cause: error },
    );
  }
}

/** A duration option in seconds; `zero` allows 0 (in any spelling). */
function durationOption(
  value: TtlInput | undefined,
  fallback: number,
  what: string,
  max: { seconds: number; words: string },
  zero: string | undefined,
): number {
  if (value === undefined) return fallback;
  if (zero !== undefined && isZero(value)) return 0;
  try {
    return parseTtlWithMax(value, max.seconds);
  } catch (error) {
    throw new KeymintError(
      'CONFIG',
      `Invalid ${what} ${echo(value)}: ${HOW_TO}; at most ${max.words}${zero ? `, or 0 ${zero}` : ''}.`,
      { cause: error },
    );
  }
}

function scopeCap(adapter: KeyAdapter, max: number | undefined): ScopeCap | null {
  if (max === undefined) return null;
  const { countLive } = adapter;
  if (typeof countLive !== 'function') {
    throw new KeymintError(
      'CONFIG',
      'maxKeysPerScope needs an adapter with countLive() (every bundled adapter has it): add it to your adapter, or leave the option out.',
    );
  }
  return new ScopeCap({ ...adapter, countLive }, max, fromStore);
}

/**
 * Creates a keymint instance over an adapter. Options are checked once, here: bad options throw
 * a {@link KeymintError} with code `CONFIG`.
 *
 * Without `authorize`, every method trusts its caller: call them only from server-side code that
 * has already decided the caller may manage keys.
 *
 * @example
 * ```ts
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 *
 * const keymint = createKeymint({ adapter: memoryAdapter() });
 *
 * const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
 * console.log('Copy this key now, it will not be shown again:', key);
 *
 * const result = await keymint.verifyKey(key, { role: 'Viewer' });
 * if (result.valid) console.log(result.apiKey.name); // 'ci'
 * ```
 */
export function createKeymint<Actor = unknown>(options: KeymintOptions<Actor>): Keymint<Actor> {
  const config = parseWith(optionsSchema, options, 'CONFIG', 'createKeymint() options');
  const storeTimeoutMs =
    durationOption(
      config.storeTimeout,
      5,
      'storeTimeout',
      { seconds: 3_600, words: '1h' },
      undefined,
    ) * 1000;
  // Every store call is bounded: a call that never answers fails as STORE_FAILURE.
  const adapter: KeyAdapter = boundAdapter(config.adapter, storeTimeoutMs);
  const cap = scopeCap(adapter, config.maxKeysPerScope);
  const roles = new RoleSet(config.roles ?? DEFAULT_ROLES);
  const permissions = config.permissions ? new PermissionMap(roles, config.permissions) : null;
  const maxTtlSeconds = resolveMaxTtl(config.maxTtl);
  const lastUsedIntervalMs = parseInterval(config.lastUsedInterval) * 1000;
  const prefix = config.prefix ?? 'km';
  const hasher: Hasher = boundHasher(
    config.hasher ?? argon2idHasher(),
    durationOption(
      config.hashing?.timeout,
      5,
      'hashing.timeout',
      { seconds: 3_600, words: '1h' },
      undefined,
    ) * 1000,
  );
  const allowNonExpiring = config.allowNonExpiring ?? false;
  const now = options.now ?? (() => new Date());
  const onBackgroundError = options.onBackgroundError ?? (() => {});
  const cacheConfig = config.cache === false ? undefined : (config.cache ?? {});
  const cacheTtlSeconds = cacheConfig
    ? durationOption(
        cacheConfig.ttl,
        30,
        'cache.ttl',
        { seconds: 3_600, words: '1h' },
        'to turn the cache off',
      )
    : 0;
  const cache =
    cacheTtlSeconds > 0
      ? new VerifyCache(cacheConfig?.maxEntries ?? DEFAULT_MAX_ENTRIES, cacheTtlSeconds * 1000)
      : null;
  const cores = availableParallelism();
  const limiter = hasher.fast
    ? null
    : new HashLimiter({
        concurrency: config.hashing?.concurrency ?? defaultHashConcurrency(threadPoolSize(), cores),
        maxQueue: config.hashing?.queue ?? DEFAULT_HASH_QUEUE,
        maxWaitMs:
          durationOption(
            config.hashing?.maxWait,
            DEFAULT_MAX_WAIT_SECONDS,
            'hashing.maxWait',
            { seconds: 600, words: '10m' },
            'to refuse any wait',
          ) * 1000,
        now: () => monoMs(),
        cores,
      });
  const perProcess =
    config.rateLimit === false
      ? null
      : new AttemptLimiter(
          config.rateLimit?.failures ?? 10,
          durationOption(
            config.rateLimit?.window,
            60,
            'rateLimit.window',
            { seconds: 86_400, words: '1d' },
            undefined,
          ) * 1000,
        );

  const rateDefaults = parseRoleDefaults(options.rateLimits, roles);
  if (rateDefaults.size > 0) requireUsage(adapter, 'The rateLimits option');

  function clock(): Date {
    const date = now();
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
      throw new KeymintError('CONFIG', 'The now() option must return a valid Date.');
    }
    return date;
  }
  const nowMs = options.now ? () => clock().getTime() : Date.now;
  const monoMs = monotonicFor(options.now);
  const wallFollowsMono = wallFollowsMonotonic(options.now);

  function reportBackground(error: unknown): void {
    try {
      onBackgroundError(error);
    } catch {
      // A failing error hook must not become an unhandled rejection.
    }
  }

  const lastUsed = new LastUsedWriter(adapter, config.lastUsedDelayMs ?? 1_000, (error, ids) => {
    verifier.lastUsedFailed(ids);
    reportBackground(
      new KeymintError(
        'STORE_FAILURE',
        'The key store failed during last-used update; see the cause.',
        {
          cause: error,
        },
      ),
    );
  });

  const attempts =
    perProcess &&
    (config.rateLimit !== false &&
    config.rateLimit?.shared !== false &&
    adapter.reserveFailure &&
    adapter.releaseFailure
      ? sharedAttempts({
          adapter: adapter as Required<Pick<KeyAdapter, 'reserveFailure' | 'releaseFailure'>>,
          local: perProcess,
          fromStore,
          report: reportBackground,
          monoMs,
        })
      : localAttempts(perProcess));

  const verifier = createVerifier({
    adapter,
    hasher,
    roles,
    permissions,
    prefix,
    allowNonExpiring,
    nowMs,
    monoMs,
    wallFollowsMono,
    cache,
    limiter,
    attempts,
    rateDefaults,
    lastUsed,
    lastUsedIntervalMs,
    report: reportBackground,
    fromStore,
    fromHasher,
    findByIdSync: twinOf(config.adapter, FIND_BY_ID_SYNC, 'findById'),
    verifySync: twinOf(config.hasher ?? {}, VERIFY_SYNC, 'verify'),
  });

  // The adapter holds only a weak listener on the cache, which verifyKey itself holds: the push
  // stays live while anything can verify, and a dropped instance and its cache can be collected.
  const weak = cache && adapter.subscribe ? weakListener(cache) : null;
  const subscription =
    weak && adapter.subscribe
      ? startInvalidation(
          adapter.subscribe.bind(adapter),
          weak.listener,
          reportBackground,
          weak.bind,
        )
      : null;

  const parts = {
    adapter,
    hasher,
    limiter,
    roles,
    permissions,
    prefix,
    maxTtlSeconds,
    allowNonExpiring,
    clock,
    cap,
    access: createAccess<Actor>(options, roles, adapter),
    forget: (id: string) => verifier.invalidate(id),
    events: createEvents<Actor>(options.onEvent, reportBackground, now),
  };
  const telemetry = createTelemetry({ cache, limiter });
  const manage = manageOperations(parts);
  const owners = ownerOperations(parts);

  const instance: Keymint<Actor> = {
    roles: roles.names,
    maxTtlSeconds,
    checksPermissions: options.authorize !== undefined,
    permissions: permissions?.info ?? null,
    createApiKey: createOperation(parts),
    verifyKey: telemetry.instrumentVerify(verifier.verifyKey),
    getApiKey: manage.getApiKey,
    listApiKeys: manage.listApiKeys,
    updateApiKey: manage.updateApiKey,
    rotateApiKey: rotateOperation(parts),
    revokeApiKey: manage.revokeApiKey,
    revokeApiKeys: owners.revokeApiKeys,
    deleteApiKey: manage.deleteApiKey,
    purgeExpired: manage.purgeExpired,
    reportLeakedKey: createLeakReporter({
      prefix,
      adapter,
      verifyKey: (key) => verifier.checkKey(key),
      revoke: (record) => revokeRecord(parts, record, undefined),
      fromStore,
      hasher,
      fromHasher,
      events: parts.events,
      permissions,
    }),

    async close(): Promise<void> {
      // First, before the listener stops: from now on every verification reads the store.
      cache?.close();
      await subscription?.close();
      await lastUsed.flush();
      verifier.reset();
    },
  };
  return telemetry.instrumentMethods(instance, MANAGEMENT_METHODS);
}

/** The methods that get an OpenTelemetry span each (with @opentelemetry/api installed). */
const MANAGEMENT_METHODS = [
  'createApiKey',
  'getApiKey',
  'listApiKeys',
  'updateApiKey',
  'rotateApiKey',
  'revokeApiKey',
  'revokeApiKeys',
  'deleteApiKey',
  'purgeExpired',
  'reportLeakedKey',
] as const;
