import type { KeyAdapter, StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import {
  contextSchema,
  createInputSchema,
  describeIssues,
  listInputSchema,
  optionsSchema,
  purgeInputSchema,
  verifyOptionsSchema,
} from '../schemas.js';
import type { z } from 'zod';
import { argon2idHasher, type Hasher } from './hasher.js';
import { formatKey, generateKeyId, KEY_ALPHABET, KEY_ID_LENGTH, parseKey } from './key-format.js';
import { DEFAULT_ROLES, RoleSet } from './roles.js';
import { HOW_TO, parseTtlWithMax, resolveMaxTtl, type TtlInput } from './ttl.js';
import { echo } from '../internal/echo.js';
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
  VerifyOptions,
  VerifyResult,
} from './types.js';

const DEFAULT_SCOPE = 'default';
const DEFAULT_LIST_LIMIT = 100;
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
      cause: error,
    });
  }
  if (result.success) return result.data;
  throw new KeymintError(code, `Invalid ${what}: ${describeIssues(result.error)}.`, {
    cause: result.error,
  });
}

/** The public view of a stored record: a fresh plain object without `secretHash`. */
function toApiKey(record: StoredApiKey): ApiKey {
  return Object.freeze({
    id: record.id,
    name: record.name,
    role: record.role,
    scope: record.scope,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    lastUsedAt: record.lastUsedAt,
    revokedAt: record.revokedAt,
    metadata: record.metadata,
  });
}

const isDateOrNull = (value: unknown) =>
  value === null || (value instanceof Date && !Number.isNaN(value.getTime()));

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
    isDateOrNull(record.lastUsedAt)
  );
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

function parseOlderThan(value: unknown): number {
  // Zero in any spelling ('0', '0s', '0d') means every expired key.
  if (
    value === undefined ||
    value === 0 ||
    (typeof value === 'string' && /^0+[smhdwM]?$/.test(value.trim()))
  )
    return 0;
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
  // Keys whose last-used write or rehash is in flight: one of each per key at a time.
  const touching = new Set<string>();
  const rehashing = new Set<string>();

  function clock(): Date {
    const date = now();
    if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
      throw new KeymintError('CONFIG', 'The now() option must return a valid Date.');
    }
    return date;
  }

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

  async function findOrThrow(id: unknown, operation: string): Promise<StoredApiKey> {
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
    if (!record) throw notFound(id);
    return record;
  }

  function reportBackground(error: unknown): void {
    try {
      onBackgroundError(error);
    } catch {
      // A failing error hook must not become an unhandled rejection.
    }
  }

  /** Runs `task` off the response path, at most one at a time per key and kind of work. */
  function oncePerKey(inFlight: Set<string>, id: string, task: () => Promise<unknown>): void {
    if (inFlight.has(id)) return;
    inFlight.add(id);
    task()
      .catch(reportBackground)
      .finally(() => inFlight.delete(id));
  }

  function afterVerify(record: StoredApiKey, secret: string, at: Date): void {
    const last = record.lastUsedAt?.getTime();
    if (last === undefined || at.getTime() - last >= lastUsedIntervalMs) {
      oncePerKey(touching, record.id, () =>
        fromStore('last-used update', () => adapter.update(record.id, { lastUsedAt: at })),
      );
    }
    let rehash = false;
    try {
      rehash = hasher.needsRehash?.(record.secretHash) === true;
    } catch (error) {
      reportBackground(
        new KeymintError('HASHER_FAILURE', 'needsRehash() threw; see the cause.', { cause: error }),
      );
    }
    if (rehash) {
      oncePerKey(rehashing, record.id, async () => {
        const secretHash = await fromHasher('rehash a secret', () => hasher.hash(secret));
        await fromStore('rehash update', () => adapter.update(record.id, { secretHash }));
      });
    }
  }

  return {
    roles: roles.names,
    maxTtlSeconds,

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
      const scope = parsed.scope ?? DEFAULT_SCOPE;
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
        const secretHash = await fromHasher('hash a new secret', () => hasher.hash(secret));
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
        const result = await fromStore('insert', () => adapter.insert(record));
        if (result.ok) return { key, apiKey: toApiKey(record) };
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

    async verifyKey(key: unknown, options?: VerifyOptions): Promise<VerifyResult> {
      let minRank = -1;
      let scope: string | undefined;
      if (options !== undefined) {
        const parsed = parseWith(
          verifyOptionsSchema,
          options,
          'INVALID_INPUT',
          'verifyKey() options',
        );
        if (parsed?.role !== undefined)
          minRank = roles.rankOf(roles.require(parsed.role, 'minimum role'));
        scope = parsed?.scope;
      }
      const presented = parseKey(prefix, key);
      if (!presented) return { valid: false, reason: 'malformed' };
      const record = await fromStore('findById', () => adapter.findById(presented.id));
      if (!record) return { valid: false, reason: 'not_found' };
      if (!isReadable(record, presented.id)) {
        throw new KeymintError('STORE_FAILURE', 'The key store returned an unreadable record.');
      }
      const matches = await fromHasher('verify a secret', () =>
        hasher.verify(record.secretHash, presented.secret),
      );
      if (matches !== true) return { valid: false, reason: 'not_found' };
      if (scope !== undefined && record.scope !== scope)
        return { valid: false, reason: 'not_found' };
      if (record.revokedAt) return { valid: false, reason: 'revoked' };
      const at = clock();
      // A key without expiry stops working when the host no longer allows such keys.
      if (
        record.expiresAt === null ? !allowNonExpiring : at.getTime() >= record.expiresAt.getTime()
      ) {
        return { valid: false, reason: 'expired' };
      }
      if (minRank >= 0 && roles.rankOf(record.role) < minRank) {
        return { valid: false, reason: 'insufficient_role' };
      }
      afterVerify(record, presented.secret, at);
      return { valid: true, apiKey: toApiKey(record) };
    },

    async getApiKey(id: string, context?: CallContext<Actor>): Promise<ApiKey> {
      const record = await findOrThrow(id, 'findById');
      await checkAccess(context, 'apikeys:read', record.scope, { keyId: record.id });
      return toApiKey(record);
    },

    async listApiKeys(input?: ListApiKeysInput, context?: CallContext<Actor>): Promise<ApiKey[]> {
      const parsed =
        parseWith(listInputSchema, input, 'INVALID_INPUT', 'listApiKeys() input') ?? {};
      const scope = parsed.scope ?? DEFAULT_SCOPE;
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
      const record = await findOrThrow(id, 'findById');
      await checkAccess(context, 'apikeys:delete', record.scope, { keyId: record.id });
      if (record.revokedAt) return toApiKey(record);
      const updated = await fromStore('update', () =>
        adapter.update(record.id, { revokedAt: clock() }),
      );
      if (!updated) throw notFound(id);
      return toApiKey(updated);
    },

    async deleteApiKey(id: string, context?: CallContext<Actor>): Promise<void> {
      const record = await findOrThrow(id, 'findById');
      await checkAccess(context, 'apikeys:delete', record.scope, { keyId: record.id });
      const deleted = await fromStore('delete', () => adapter.delete(record.id));
      if (!deleted) throw notFound(id);
    },

    async purgeExpired(input?: PurgeExpiredInput, context?: CallContext<Actor>): Promise<number> {
      const parsed = parseWith(purgeInputSchema, input, 'INVALID_INPUT', 'purgeExpired() input');
      const olderThanMs = parseOlderThan(parsed?.olderThan) * 1000;
      await checkAccess(context, 'apikeys:purge', '*');
      const before = new Date(clock().getTime() - olderThanMs);
      return fromStore('deleteExpired', () => adapter.deleteExpired(before));
    },
  };
}
