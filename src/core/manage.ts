import type { KeyAdapter, KeyChanges, ModifyResult, StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { listInputSchema, purgeInputSchema, updateInputSchema } from '../schemas.js';
import { echo } from '../internal/echo.js';
import type { Access } from './access.js';
import {
  expiryFrom,
  fromStore,
  isZero,
  notFound,
  parseWith,
  resolveTtl,
  type TtlRules,
} from './parse.js';
import { keyPermissions } from './create.js';
import { checkPermissionList, intersectPermissions, type PermissionMap } from './permissions.js';
import type { RoleSet } from './roles.js';
import { mergeLimits, requireUsage } from './limits.js';
import { HOW_TO, parseTtlWithMax } from './ttl.js';
import type {
  ApiKey,
  CallContext,
  ListApiKeysInput,
  PurgeExpiredInput,
  UpdateApiKeyInput,
} from './types.js';
import type { Events } from './events.js';
import { toApiKey } from './verify-record.js';

const DEFAULT_LIST_LIMIT = 100;
const MAX_PURGE_AGE_SECONDS = 100 * 365 * 86_400;

/** What the managing operations need from the instance. */
export interface ManageParts<Actor> extends TtlRules {
  adapter: KeyAdapter;
  roles: RoleSet;
  /** The `permissions` option, or null without it. */
  permissions: PermissionMap | null;
  access: Access<Actor>;
  clock: () => Date;
  /** Drops a key from this instance's verify cache (and its lookups in flight). */
  forget: (id: string) => void;
  /** The onEvent emitter (src/core/events.ts). */
  events: Events<Actor>;
}

const CHANGED = ['name', 'role', 'expiresAt', 'metadata', 'permissions', 'limits'] as const;

/** What an update changed, field by field (dates and JSON compared by value). */
function changesOf(before: StoredApiKey, after: StoredApiKey) {
  const changes: Partial<Record<(typeof CHANGED)[number], { from: unknown; to: unknown }>> = {};
  for (const field of CHANGED) {
    const from = before[field] ?? null;
    const to = after[field] ?? null;
    if (JSON.stringify(from) !== JSON.stringify(to)) changes[field] = { from, to };
  }
  return changes;
}

/**
 * Revokes a record found by id (idempotent), without asking authorize: revokeApiKey checks
 * access first, a leak report has the key itself as proof. Every instance's cache forgets it.
 */
export async function revokeRecord<Actor>(
  parts: ManageParts<Actor>,
  record: StoredApiKey,
  context: unknown,
): Promise<ApiKey> {
  const { adapter, clock, forget } = parts;
  if (record.revokedAt) {
    // Revoked elsewhere (perhaps by a process that could not push it): forget it here too.
    forget(record.id);
    return toApiKey(record, parts.permissions);
  }
  let updated: StoredApiKey | null;
  try {
    updated = await fromStore('update', () => adapter.update(record.id, { revokedAt: clock() }));
  } finally {
    // Even when the store failed: the revoke may have landed, and forgetting is always safe.
    forget(record.id);
  }
  if (!updated) throw notFound(record.id);
  if (updated.revokedAt) {
    parts.events.key(updated, context, { type: 'key.revoked', revokedAt: updated.revokedAt });
  }
  return toApiKey(updated, parts.permissions);
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

/** The adapter's `modify`, or CONFIG naming the operation that needs it. */
export function modifyOf(
  adapter: KeyAdapter,
  operation: string,
): NonNullable<KeyAdapter['modify']> {
  if (typeof adapter.modify !== 'function') {
    throw new KeymintError(
      'CONFIG',
      `${operation}() needs an adapter with modify() (every adapter keymint ships has it since 0.2.0): update your adapter.`,
    );
  }
  return adapter.modify.bind(adapter);
}

/** Refuses a revoked or expired key: neither may change again. */
export function requireActive(record: StoredApiKey, atMs: number, operation: string): void {
  if (record.revokedAt) throw revokedError(record.id, operation);
  if (record.expiresAt && atMs >= record.expiresAt.getTime()) {
    throw new KeymintError(
      'EXPIRED',
      `The API key ${JSON.stringify(record.id)} has expired: an expired key cannot be ${operation}; create a new key.`,
    );
  }
}

export const revokedError = (id: string, operation: string) =>
  new KeymintError(
    'REVOKED',
    `The API key ${JSON.stringify(id)} is revoked: a revoked key cannot be ${operation}; create a new key.`,
  );

export const nameTaken = (name: string, scope: string) =>
  new KeymintError(
    'NAME_TAKEN',
    `An API key named ${JSON.stringify(name)} already exists in scope ${JSON.stringify(scope)}: choose another name, or delete the old key first (an expired key keeps its name until it is deleted or purged with purgeExpired()).`,
  );

/** A modify refused for a reason the call did not ask for: the adapter broke its contract. */
export const unexpectedRefusal = (result: ModifyResult) =>
  new KeymintError(
    'STORE_FAILURE',
    `The key store refused a change for a reason it was not asked about (${JSON.stringify(
      result.ok ? 'ok' : result.reason,
    )}).`,
  );

/**
 * The explicit list an update stores: the patch's, narrowed to the (new) role; without one, a
 * role change narrows the stored list to the new role (refused when nothing would be left, so
 * that a key never loses its permissions without being asked to). `undefined`: unchanged.
 */
function nextPermissions(
  map: PermissionMap | null,
  record: StoredApiKey,
  role: string | undefined,
  value: unknown,
): string[] | null | undefined {
  if (value !== undefined) return keyPermissions(map, role ?? record.role, value, 'updateApiKey()');
  const stored = record.permissions;
  if (!map || role === undefined || role === record.role || stored == null) return undefined;
  const narrowed = intersectPermissions(stored, map.grantsOf(role));
  if (narrowed.length === 0 && stored.length > 0) {
    throw new KeymintError(
      'INVALID_INPUT',
      `Invalid updateApiKey() patch: the role ${role} grants none of the key's permissions (${stored.map((p) => JSON.stringify(p)).join(', ')}); give permissions in the same patch (a list within ${role}, [] for none, or null for everything ${role} grants).`,
    );
  }
  return narrowed.join('\n') === stored.join('\n') ? undefined : narrowed;
}

/** get, list, update, revoke, delete and purge, over the instance's parts. */
export function manageOperations<Actor>(parts: ManageParts<Actor>) {
  const { adapter, roles, access, clock, forget } = parts;

  return {
    async getApiKey(id: string, context?: CallContext<Actor>): Promise<ApiKey> {
      const record = await access.find(id, context);
      await access.check(context, 'apikeys:read', record.scope, {
        keyId: record.id,
        owner: record.owner,
      });
      return toApiKey(record, parts.permissions);
    },

    async listApiKeys(input?: ListApiKeysInput, context?: CallContext<Actor>): Promise<ApiKey[]> {
      const parsed =
        parseWith(listInputSchema, input, 'INVALID_INPUT', 'listApiKeys() input') ?? {};
      const scope = access.scopeFor(parsed.scope, context);
      await access.check(context, 'apikeys:read', scope, { owner: parsed.owner });
      const records = await fromStore('list', () =>
        adapter.list({
          scope,
          ...(parsed.owner !== undefined && { owner: parsed.owner }),
          limit: parsed.limit ?? DEFAULT_LIST_LIMIT,
          ...(parsed.after !== undefined && { after: parsed.after }),
          ...(parsed.includeExpired !== true && { activeAt: clock() }),
        }),
      );
      return records.map((record) => toApiKey(record, parts.permissions));
    },

    async updateApiKey(
      id: string,
      patch: UpdateApiKeyInput,
      context?: CallContext<Actor>,
    ): Promise<ApiKey> {
      const parsed = parseWith(updateInputSchema, patch, 'INVALID_INPUT', 'updateApiKey() patch');
      if (
        parsed.name === undefined &&
        parsed.role === undefined &&
        parsed.metadata === undefined &&
        parsed.ttl === undefined &&
        parsed.permissions === undefined &&
        parsed.rateLimit === undefined &&
        parsed.credits === undefined
      ) {
        throw new KeymintError(
          'INVALID_INPUT',
          'Invalid updateApiKey() patch: give at least one of name, role, metadata, ttl, permissions, rateLimit, credits.',
        );
      }
      // The form and the spelling now; what the (new) role grants once the record is read.
      if (parsed.permissions != null && parts.permissions) {
        checkPermissionList(
          parts.permissions.known,
          parsed.permissions,
          'updateApiKey() permissions',
        );
      }
      const changesLimits = parsed.rateLimit !== undefined || parsed.credits !== undefined;
      // Checked before any read: bad limits fail as bad input whatever the key.
      if (changesLimits) mergeLimits(null, parsed.rateLimit as never, parsed.credits as never, 0);
      const role = parsed.role === undefined ? undefined : roles.require(parsed.role);
      const ttlSeconds = parsed.ttl === undefined ? undefined : resolveTtl(parsed.ttl, parts);
      const modify = modifyOf(adapter, 'updateApiKey');
      const record = await access.find(id, context, forget);
      await access.check(context, 'apikeys:write', record.scope, {
        ...(role !== undefined && { role }),
        keyId: record.id,
        owner: record.owner,
      });
      const at = clock();
      requireActive(record, at.getTime(), 'updated');
      const permissions = nextPermissions(parts.permissions, record, role, parsed.permissions);
      const changes: KeyChanges = {
        ...(parsed.name !== undefined && { name: parsed.name }),
        ...(role !== undefined && { role }),
        ...(parsed.metadata !== undefined && { metadata: parsed.metadata }),
        ...(ttlSeconds !== undefined && { ttlSeconds, expiresAt: expiryFrom(at, ttlSeconds) }),
        ...(permissions !== undefined && { permissions }),
      };
      if (changesLimits) {
        changes.limits = mergeLimits(
          record.limits,
          parsed.rateLimit as never,
          parsed.credits as never,
          at.getTime(),
        );
        if (changes.limits) requireUsage(adapter, 'A key with rateLimit or credits');
      }
      let result: ModifyResult;
      try {
        result = await fromStore('modify', () => modify(record.id, changes));
      } finally {
        // Even when the store failed: the change may have landed, and forgetting is always safe.
        forget(record.id);
      }
      if (result.ok) {
        parts.events.key(result.record, context, {
          type: 'key.updated',
          changes: changesOf(record, result.record),
        });
        return toApiKey(result.record, parts.permissions);
      }
      switch (result.reason) {
        case 'not_found':
          throw notFound(record.id);
        case 'revoked':
          throw revokedError(record.id, 'updated');
        case 'name':
          throw nameTaken(changes.name ?? record.name, record.scope);
        default:
          throw unexpectedRefusal(result);
      }
    },

    async revokeApiKey(id: string, context?: CallContext<Actor>): Promise<ApiKey> {
      const record = await access.find(id, context, forget);
      await access.check(context, 'apikeys:delete', record.scope, {
        keyId: record.id,
        owner: record.owner,
      });
      return revokeRecord(parts, record, context);
    },

    async deleteApiKey(id: string, context?: CallContext<Actor>): Promise<void> {
      const record = await access.find(id, context, forget);
      await access.check(context, 'apikeys:delete', record.scope, {
        keyId: record.id,
        owner: record.owner,
      });
      let deleted: boolean;
      try {
        deleted = await fromStore('delete', () => adapter.delete(record.id));
      } finally {
        forget(record.id);
      }
      if (!deleted) throw notFound(id);
      parts.events.key(record, context, { type: 'key.deleted' });
    },

    async purgeExpired(input?: PurgeExpiredInput, context?: CallContext<Actor>): Promise<number> {
      const parsed = parseWith(purgeInputSchema, input, 'INVALID_INPUT', 'purgeExpired() input');
      const olderThanMs = parseOlderThan(parsed?.olderThan) * 1000;
      if (access.contextScope(context) !== undefined) {
        throw new KeymintError(
          'INVALID_INPUT',
          'purgeExpired() works across every scope: leave scope out of its context.',
        );
      }
      await access.check(context, 'apikeys:purge', '*');
      const before = new Date(clock().getTime() - olderThanMs);
      const count = await fromStore('deleteExpired', () => adapter.deleteExpired(before));
      parts.events.purged(count, before, context);
      return count;
    },
  };
}
