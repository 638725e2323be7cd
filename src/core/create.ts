import type { KeyAdapter, StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { createInputSchema } from '../schemas.js';
import type { Access } from './access.js';
import type { Lane } from './fair-queue.js';
import { Busy, type HashLimiter } from './hash-limiter.js';
import type { Hasher } from './hasher.js';
import { formatKey, generateKeyId } from './key-format.js';
import {
  expiryFrom,
  fromHasher,
  fromStore,
  parseWith,
  resolveTtl,
  type TtlRules,
} from './parse.js';
import { nameTaken } from './manage.js';
import type { PermissionMap } from './permissions.js';
import { mergeLimits, requireUsage } from './limits.js';
import type { RoleSet } from './roles.js';
import type { ScopeCap } from './scope-cap.js';
import type { CallContext, CreateApiKeyInput, CreatedApiKey } from './types.js';
import type { Events } from './events.js';
import { toApiKey } from './verify-record.js';

/** What creating (and rotating) keys needs from the instance. */
export interface CreateParts<Actor> extends TtlRules {
  adapter: KeyAdapter;
  hasher: Hasher;
  limiter: HashLimiter | null;
  roles: RoleSet;
  /** The `permissions` option, or null without it. */
  permissions: PermissionMap | null;
  prefix: string;
  access: Access<Actor>;
  clock: () => Date;
  /** `maxKeysPerScope`, or null without it. */
  cap: ScopeCap | null;
  /** The onEvent emitter (src/core/events.ts). */
  events: Events<Actor>;
}

/** Hashes a new secret within the hashing bound; BUSY past maxWait or the queue's cap. */
export async function hashNew(
  parts: Pick<CreateParts<unknown>, 'hasher' | 'limiter'>,
  secret: string,
  lane: Lane,
): Promise<string> {
  const { hasher, limiter } = parts;
  const hashed = await fromHasher('hash a new secret', () =>
    limiter ? limiter.run(() => hasher.hash(secret), lane) : hasher.hash(secret),
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
 * After a conflict, or a write that threw: whether the record stored under this id holds this
 * very secret hash (the write ran twice, or committed before its answer was lost). A driver may
 * send a command again after the connection dropped before its reply came (ioredis does, by
 * default, once it reconnects): the second run then conflicts with the first, and the caller
 * would get an error for a change that happened, with a key nobody could ever use. The secret
 * hash comes from a fresh random secret, so an equal one proves it. A failed read proves
 * nothing: the failure stands.
 */
export async function holdsHash(
  adapter: KeyAdapter,
  record: Pick<StoredApiKey, 'id' | 'secretHash' | 'scope' | 'name'>,
  checkName = true,
): Promise<boolean> {
  try {
    const stored = await adapter.findById(record.id);
    return (
      stored?.secretHash === record.secretHash &&
      stored.scope === record.scope &&
      (!checkName || stored.name === record.name)
    );
  } catch {
    return false;
  }
}

/**
 * A key's explicit list as given to create or update: `null` (everything the role grants) when
 * absent or null, else narrowed to the role (INVALID_INPUT naming what it does not grant).
 */
export function keyPermissions(
  map: PermissionMap | null,
  role: string,
  value: unknown,
  operation: string,
): string[] | null {
  if (value === undefined) return null;
  if (!map) {
    throw new KeymintError(
      'INVALID_INPUT',
      `Invalid ${operation} input: permissions need the permissions option of createKeymint() (this instance has none).`,
    );
  }
  return value === null ? null : map.narrow(role, value, `${operation} permissions`);
}

/** `createApiKey`, over the instance's parts. */
export function createOperation<Actor>(parts: CreateParts<Actor>) {
  const { adapter, roles, prefix, access, clock, cap } = parts;
  const created = (record: StoredApiKey, key: string, context: unknown): CreatedApiKey => {
    parts.events.key(record, context, {
      type: 'key.created',
      role: record.role,
      expiresAt: record.expiresAt,
    });
    return { key, apiKey: toApiKey(record, parts.permissions) };
  };

  return async function createApiKey(
    input: CreateApiKeyInput,
    context?: CallContext<Actor>,
  ): Promise<CreatedApiKey> {
    const parsed = parseWith(createInputSchema, input, 'INVALID_INPUT', 'createApiKey() input');
    const role = roles.require(parsed.role);
    const permissions = keyPermissions(
      parts.permissions,
      role,
      parsed.permissions,
      'createApiKey()',
    );
    const ttlSeconds = resolveTtl(parsed.ttl, parts);
    const scope = access.scopeFor(parsed.scope, context);
    await access.check(context, 'apikeys:create', scope, {
      role,
      ...(parsed.owner !== undefined && { owner: parsed.owner }),
    });

    const createdAt = clock();
    const limits = mergeLimits(
      null,
      parsed.rateLimit as never,
      parsed.credits as never,
      createdAt.getTime(),
    );
    if (limits) requireUsage(adapter, 'A key with rateLimit or credits');
    // A full scope is refused before anything is hashed.
    await cap?.check(scope, createdAt);
    const expiresAt = expiryFrom(createdAt, ttlSeconds);
    for (let attempt = 0; ; attempt++) {
      const id = generateKeyId();
      const { key, secret } = formatKey(prefix, id);
      const secretHash = await hashNew(parts, secret, { scope, id });
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
        ttlSeconds,
        previousSecretHash: null,
        previousSecretExpiresAt: null,
        rotatedAt: null,
        owner: parsed.owner ?? null,
        permissions,
        limits,
      };
      let result: Awaited<ReturnType<KeyAdapter['insert']>>;
      try {
        const insert = () => fromStore('insert', () => adapter.insert(record));
        result = await (cap ? cap.guard(scope, createdAt, insert) : insert());
      } catch (error) {
        if (error instanceof KeymintError && error.code === 'KEYS_LIMIT') throw error;
        // The connection may have dropped after the store committed (the answer was lost): one
        // read by id tells. This very record means the create succeeded; no record, another one,
        // or a failed read: the failure stands, and a committed record nobody has the key of
        // may remain.
        if (await holdsHash(adapter, record)) return created(record, key, context);
        throw error;
      }
      if (result.ok || (await holdsHash(adapter, record))) return created(record, key, context);
      if (result.conflict === 'name') {
        throw nameTaken(parsed.name, scope);
      }
      // An id collision (about 2^-71 per pair): draw again, but never loop forever on a broken store.
      if (attempt >= 2) {
        throw new KeymintError(
          'STORE_FAILURE',
          'The key store reported an id conflict three times in a row.',
        );
      }
    }
  };
}
