import type { KeyAdapter, StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import {
  contextSchema,
  createInputSchema,
  describeIssues,
  listInputSchema,
  optionsSchema,
  purgeInputSchema,
} from '../schemas.js';
import type { z } from 'zod';
import { availableParallelism } from 'node:os';
import { AttemptLimiter } from './attempt-limiter.js';
import { Busy, HashLimiter } from './hash-limiter.js';
import { argon2idHasher, type Hasher } from './hasher.js';
import { LastUsedWriter } from './last-used.js';
import { startInvalidation, weakListener } from './invalidation.js';
import { createVerifier, toApiKey } from './verifier.js';
import { VerifyCache } from './verify-cache.js';
import { formatKey, generateKeyId, KEY_ALPHABET, KEY_ID_LENGTH } from './key-format.js';
import { DEFAULT_ROLES, RoleSet } from './roles.js';
import { HOW_TO, parseTtlWithMax, resolveMaxTtl, type TtlInput } from './ttl.js';
import { echo } from '../internal/echo.js';
import { redactKeysDeep, safeCause } from './redact.js';
import type {
  ApiKey,
  ApiKeyAction,
  CallContext,
  CreateApiKeyInput,
  CreatedApiKey,
  Keymint,
  KeymintOptions,
  ListApiKeysInput,
  PurgeExpiredInput,
} from './types.js';

const DEFAULT_SCOPE = 'default';
const DEFAULT_LIST_LIMIT = 100;
/** hashing.maxWait: a fresh instance takes 1,000 keys at once on 2 cores (docs/performance.md). */
const DEFAULT_MAX_WAIT_SECONDS = 10;
/** hashing.queue: the cap on waiting hashes, about a kilobyte each. */
const DEFAULT_HASH_QUEUE = 5_000;
const MAX_INTERVAL_SECONDS = 86_400;
const MAX_PURGE_AGE_SECONDS = 100 * 365 * 86_400;
const ID_PATTERN = new RegExp(`^[${KEY_ALPHABET}]{${KEY_ID_LENGTH}}$`);

function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  code: 'INVALID_INPUT' | 'CONFIG',
  what: string,
): z.output<S> {
  let result: z.ZodSafeParseResult<z.output<S>>;
  try {
    result = schema.safeParse(value);
  } catch (error) {
    // Cyclic or absurdly deep values make JSON checks throw: still the caller's bad input.
    throw new KeymintError(code, `Invalid ${what}: it cannot be read as plain data.`, {
      cause: safeCause(error),
    });
  }
  if (result.success) return result.data;
  // Issue paths and unknown option names come from the caller's object: a key used as a property
  // name must not reach the cause (the message is redacted by KeymintError itself).
  redactKeysDeep(result.error.issues);
  throw new KeymintError(code, `Invalid ${what}: ${describeIssues(result.error)}.`, {
    cause: result.error,
  });
}

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

/** Zero in any spelling: 0, '0', '0s', ' 0d '. */
const isZero = (value: unknown) =>
  value === 0 || (typeof value === 'string' && /^0+[smhdwM]?$/.test(value.trim()));

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

/** Default hashing concurrency: below libuv's thread pool, so file and DNS work keep a thread. */
function defaultConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(pool - 1, availableParallelism()));
}

function parseOlderThan(value: unknown): number {
  // Zero in any spelling ('0', '0s', '0d') means every expired key.
  if (value === undefined || isZero(value)) return 0;
  try {
    return parseTtlWithMax(value, MAX_PURGE_AGE_SECONDS);
  } catch (error) {
    throw new KeymintError(
      'INVALID_INPUT',
      `Invalid olderThan ${echo(value)}: ${HOW_TO}, or 0 for every expired key.`,
      { cause: error },
    );
  }
}

/** Runs an adapter or hasher call; any throw becomes a typed, fail-closed KeymintError. */
async function wrapped<T>(
  code: 'STORE_FAILURE' | 'HASHER_FAILURE',
  message: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new KeymintError(code, `${message}; see the cause.`, { cause: error });
  }
}

const fromStore = <T>(operation: string, run: () => Promise<T>) =>
  wrapped('STORE_FAILURE', `The key store failed during ${operation}`, run);

const fromHasher = <T>(operation: string, run: () => Promise<T>) =>
  wrapped('HASHER_FAILURE', `The hasher failed to ${operation}`, run);

const notFound = (id: string) =>
  new KeymintError('NOT_FOUND', `No API key has the id ${JSON.stringify(id)}.`);

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
  const adapter: KeyAdapter = config.adapter;
  const roles = new RoleSet(config.roles ?? DEFAULT_ROLES);
  const maxTtlSeconds = resolveMaxTtl(config.maxTtl);
  const lastUsedIntervalMs = parseInterval(config.lastUsedInterval) * 1000;
  const prefix = config.prefix ?? 'km';
  const hasher: Hasher = config.hasher ?? argon2idHasher();
  const allowNonExpiring = config.allowNonExpiring ?? false;
  const authorize = options.authorize;
  const actorRole = options.actorRole;
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
      ? new VerifyCache(cacheConfig?.maxEntries ?? 10_000, cacheTtlSeconds * 1000)
      : null;
  const limiter = hasher.fast
    ? null
    : new HashLimiter({
        concurrency: config.hashing?.concurrency ?? defaultConcurrency(),
        maxQueue: config.hashing?.queue ?? DEFAULT_HASH_QUEUE,
        maxWaitMs:
          durationOption(
            config.hashing?.maxWait,
            DEFAULT_MAX_WAIT_SECONDS,
            'hashing.maxWait',
            { seconds: 600, words: '10m' },
            'to refuse any wait',
          ) * 1000,
        now: () => nowMs(),
      });
  const attempts =
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

  function clock(): Date {
    const date = now();
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
      throw new KeymintError('CONFIG', 'The now() option must return a valid Date.');
    }
    return date;
  }
  const nowMs = options.now ? () => clock().getTime() : Date.now;

  async function checkAccess(
    context: CallContext<Actor> | undefined,
    action: ApiKeyAction,
    scope: string,
    extra: { role?: string; keyId?: string } = {},
  ): Promise<void> {
    if (!authorize && !actorRole) return;
    const parsed = parseWith(contextSchema, context, 'INVALID_INPUT', 'context');
    if (!parsed || !('actor' in parsed)) {
      throw new KeymintError(
        'FORBIDDEN',
        'This keymint instance checks permissions: pass { actor } as the last argument.',
      );
    }
    const actor = parsed.actor as Actor;
    if (authorize && (await authorize({ actor, action, scope, ...extra })) !== true) {
      throw new KeymintError(
        'FORBIDDEN',
        `Not allowed to ${action.slice(8)} API keys in scope ${JSON.stringify(scope)}.`,
      );
    }
    if (actorRole && extra.role !== undefined) {
      const own = roles.canonical(await actorRole(actor));
      if (own === undefined || roles.rankOf(extra.role) > roles.rankOf(own)) {
        throw new KeymintError('FORBIDDEN', 'Cannot assign a role higher than your own role.');
      }
    }
  }

  /** `context.scope`, checked: undefined, or a string (read once, as a getter may throw). */
  function contextScope(context: CallContext<Actor> | undefined): string | undefined {
    let only: unknown;
    try {
      only = (context as { scope?: unknown } | undefined)?.scope;
    } catch (error) {
      throw new KeymintError('INVALID_INPUT', 'Invalid context: it cannot be read as plain data.', {
        cause: safeCause(error),
      });
    }
    if (only !== undefined && typeof only !== 'string') {
      throw new KeymintError('INVALID_INPUT', 'context.scope must be a string when given.');
    }
    return only;
  }

  /**
   * The scope a create or a list works in: the input's, which must then be the context's scope
   * when the context names one (the default is the context's scope, else `'default'`).
   */
  function scopeFor(inputScope: string | undefined, context: CallContext<Actor> | undefined) {
    const only = contextScope(context);
    const scope = inputScope ?? only ?? DEFAULT_SCOPE;
    if (only !== undefined && scope !== only) {
      throw new KeymintError(
        'FORBIDDEN',
        `This call is limited to scope ${JSON.stringify(only)} (context.scope): it cannot act in scope ${JSON.stringify(scope)}.`,
      );
    }
    return scope;
  }

  /**
   * The record, or NOT_FOUND. `forget` (revoke, delete) also drops the id from the verify cache
   * when the store has no record: another process may have deleted a key this one still caches.
   */
  async function findOrThrow(
    id: unknown,
    operation: string,
    context: CallContext<Actor> | undefined,
    forget = false,
  ): Promise<StoredApiKey> {
    const only = contextScope(context);
    if (typeof id !== 'string') {
      throw new KeymintError(
        'INVALID_INPUT',
        `Invalid id: expected a string, got ${id === null ? 'null' : typeof id}.`,
      );
    }
    if (!ID_PATTERN.test(id)) {
      // Never echo it: a caller may have passed a whole key where an id belongs.
      throw new KeymintError(
        'NOT_FOUND',
        `No API key has this id: an id is ${KEY_ID_LENGTH} letters and digits (the part after the prefix), not a key.`,
      );
    }
    const record = await fromStore(operation, () => adapter.findById(id));
    if (!record) {
      if (forget) verifier.invalidate(id);
      throw notFound(id);
    }
    if (only !== undefined && record.scope !== only) throw notFound(id);
    return record;
  }

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

  const verifier = createVerifier({
    adapter,
    hasher,
    roles,
    prefix,
    allowNonExpiring,
    nowMs,
    cache,
    limiter,
    attempts,
    lastUsed,
    lastUsedIntervalMs,
    report: reportBackground,
    fromStore,
    fromHasher,
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

  /** Hashes a new secret within the hashing bound; BUSY past maxWait or the queue's cap. */
  async function hashNew(secret: string): Promise<string> {
    const hashed = await fromHasher('hash a new secret', () =>
      limiter ? limiter.run(() => hasher.hash(secret)) : hasher.hash(secret),
    );
    if (hashed instanceof Busy) {
      throw new KeymintError(
        'BUSY',
        'Too many keys are being hashed right now (the wait would pass hashing.maxWait): retry in a moment.',
        { retryAfterMs: hashed.retryAfterMs },
      );
    }
    return hashed;
  }

  /**
   * After a conflict, or an insert that threw: whether the record stored under this id is this
   * very insert (run twice, or committed before its answer was lost). A
   * driver may send a command again after the connection dropped before its reply came (ioredis
   * does, by default, once it reconnects): the second run then conflicts with the first, and the
   * caller would get NAME_TAKEN for the name its own key holds, a key nobody could ever use. The
   * secret hash comes from a fresh random secret, so an equal one proves it. A failed read proves
   * nothing: the conflict stands.
   */
  async function insertedEarlier(record: StoredApiKey): Promise<boolean> {
    try {
      const stored = await adapter.findById(record.id);
      return (
        stored?.secretHash === record.secretHash &&
        stored.scope === record.scope &&
        stored.name === record.name
      );
    } catch {
      return false;
    }
  }

  const instance: Keymint<Actor> = {
    roles: roles.names,
    maxTtlSeconds,
    checksPermissions: authorize !== undefined,

    async createApiKey(
      input: CreateApiKeyInput,
      context?: CallContext<Actor>,
    ): Promise<CreatedApiKey> {
      const parsed = parseWith(createInputSchema, input, 'INVALID_INPUT', 'createApiKey() input');
      const role = roles.require(parsed.role);
      let ttlSeconds: number | null;
      if (parsed.ttl === null && allowNonExpiring) {
        ttlSeconds = null;
      } else if (parsed.ttl === null || parsed.ttl === undefined) {
        const orNull = allowNonExpiring ? ', or null for a key that never expires' : '';
        throw new KeymintError('INVALID_TTL', `A time to live is required: ${HOW_TO}${orNull}.`);
      } else {
        ttlSeconds = parseTtlWithMax(parsed.ttl, maxTtlSeconds);
      }
      const scope = scopeFor(parsed.scope, context);
      await checkAccess(context, 'apikeys:create', scope, { role });

      const createdAt = clock();
      const expiresAt =
        ttlSeconds === null ? null : new Date(createdAt.getTime() + ttlSeconds * 1000);
      if (expiresAt && Number.isNaN(expiresAt.getTime())) {
        throw new KeymintError(
          'CONFIG',
          'now() is so late that the expiry is past the last valid Date.',
        );
      }
      for (let attempt = 0; ; attempt++) {
        const id = generateKeyId();
        const { key, secret } = formatKey(prefix, id);
        const secretHash = await hashNew(secret);
        const record: StoredApiKey = {
          id,
          name: parsed.name,
          role,
          scope,
          secretHash,
          createdAt,
          expiresAt,
          lastUsedAt: null,
          revokedAt: null,
          metadata: parsed.metadata ?? null,
        };
        let result: Awaited<ReturnType<KeyAdapter['insert']>>;
        try {
          result = await fromStore('insert', () => adapter.insert(record));
        } catch (error) {
          // The connection may have dropped after the store committed (the answer was lost): one
          // read by id tells. This very record (its secret hash is from a fresh random secret)
          // means the create succeeded; no record, another one, or a failed read: the failure
          // stands, and a committed record nobody has the key of may remain.
          if (await insertedEarlier(record)) return { key, apiKey: toApiKey(record) };
          throw error;
        }
        if (result.ok || (await insertedEarlier(record))) return { key, apiKey: toApiKey(record) };
        if (result.conflict === 'name') {
          throw new KeymintError(
            'NAME_TAKEN',
            `An API key named ${JSON.stringify(parsed.name)} already exists in scope ${JSON.stringify(scope)}: choose another name, or delete the old key first (an expired key keeps its name until it is deleted or purged with purgeExpired()).`,
          );
        }
        // An id collision (about 2^-71 per pair): draw again, but never loop forever on a broken store.
        if (attempt >= 2) {
          throw new KeymintError(
            'STORE_FAILURE',
            'The key store reported an id conflict three times in a row.',
          );
        }
      }
    },

    verifyKey: verifier.verifyKey,

    async getApiKey(id: string, context?: CallContext<Actor>): Promise<ApiKey> {
      const record = await findOrThrow(id, 'findById', context);
      await checkAccess(context, 'apikeys:read', record.scope, { keyId: record.id });
      return toApiKey(record);
    },

    async listApiKeys(input?: ListApiKeysInput, context?: CallContext<Actor>): Promise<ApiKey[]> {
      const parsed =
        parseWith(listInputSchema, input, 'INVALID_INPUT', 'listApiKeys() input') ?? {};
      const scope = scopeFor(parsed.scope, context);
      await checkAccess(context, 'apikeys:read', scope);
      const records = await fromStore('list', () =>
        adapter.list({
          scope,
          limit: parsed.limit ?? DEFAULT_LIST_LIMIT,
          ...(parsed.after !== undefined && { after: parsed.after }),
          ...(parsed.includeExpired !== true && { activeAt: clock() }),
        }),
      );
      return records.map(toApiKey);
    },

    async revokeApiKey(id: string, context?: CallContext<Actor>): Promise<ApiKey> {
      const record = await findOrThrow(id, 'findById', context, true);
      await checkAccess(context, 'apikeys:delete', record.scope, { keyId: record.id });
      if (record.revokedAt) {
        // Revoked elsewhere (perhaps by a process that could not push it): forget it here too.
        verifier.invalidate(record.id);
        return toApiKey(record);
      }
      let updated: StoredApiKey | null;
      try {
        updated = await fromStore('update', () =>
          adapter.update(record.id, { revokedAt: clock() }),
        );
      } finally {
        // Even when the store failed: the revoke may have landed, and forgetting is always safe.
        verifier.invalidate(record.id);
      }
      if (!updated) throw notFound(id);
      return toApiKey(updated);
    },

    async deleteApiKey(id: string, context?: CallContext<Actor>): Promise<void> {
      const record = await findOrThrow(id, 'findById', context, true);
      await checkAccess(context, 'apikeys:delete', record.scope, { keyId: record.id });
      let deleted: boolean;
      try {
        deleted = await fromStore('delete', () => adapter.delete(record.id));
      } finally {
        verifier.invalidate(record.id);
      }
      if (!deleted) throw notFound(id);
    },

    async purgeExpired(input?: PurgeExpiredInput, context?: CallContext<Actor>): Promise<number> {
      const parsed = parseWith(purgeInputSchema, input, 'INVALID_INPUT', 'purgeExpired() input');
      const olderThanMs = parseOlderThan(parsed?.olderThan) * 1000;
      if (contextScope(context) !== undefined) {
        throw new KeymintError(
          'INVALID_INPUT',
          'purgeExpired() works across every scope: leave scope out of its context.',
        );
      }
      await checkAccess(context, 'apikeys:purge', '*');
      const before = new Date(clock().getTime() - olderThanMs);
      return fromStore('deleteExpired', () => adapter.deleteExpired(before));
    },

    async close(): Promise<void> {
      await subscription?.close();
      await lastUsed.flush();
      verifier.reset();
    },
  };
  return instance;
}
