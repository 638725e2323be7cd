/**
 * The in-memory adapter: keymint's embedded default. Keys live in this process only and are gone
 * when it exits; use it for development, tests, and single-process tools. Servers that restart or
 * run as several instances need a database adapter.
 *
 * ```sh
 * npm install keymint
 * ```
 *
 * @example
 * ```ts
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 *
 * const keymint = createKeymint({ adapter: memoryAdapter() });
 * const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
 * ```
 *
 * @module
 */
import type {
  InsertResult,
  InvalidationListener,
  KeyAdapter,
  KeyChanges,
  KeyPatch,
  LastUsedEntry,
  ListQuery,
  ModifyCondition,
  ModifyResult,
  StoredApiKey,
  StoredLimits,
  Subscription,
  UsageOutcome,
  UsageRequest,
} from '../../adapter.js';
import { applyUsage, type UsageState } from '../../internal/usage.js';
import { compareCodePoints } from '../../internal/compare.js';
import { attachTwin, FIND_BY_ID_SYNC } from '../../internal/sync-twin.js';
import { localChannel } from '../../internal/local-channel.js';

const copyDate = (date: Date | null | undefined) => (date ? new Date(date.getTime()) : null);
const copyMetadata = (metadata: Record<string, unknown> | null | undefined) =>
  metadata ? (JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>) : null;

/** A fresh copy; the fields added in 0.2.0 come out as null when they went in absent. */
function copy(record: StoredApiKey): StoredApiKey {
  return {
    ...record,
    createdAt: new Date(record.createdAt.getTime()),
    expiresAt: copyDate(record.expiresAt),
    lastUsedAt: copyDate(record.lastUsedAt),
    revokedAt: copyDate(record.revokedAt),
    metadata: copyMetadata(record.metadata),
    ttlSeconds: record.ttlSeconds ?? null,
    previousSecretHash: record.previousSecretHash ?? null,
    previousSecretExpiresAt: copyDate(record.previousSecretExpiresAt),
    rotatedAt: copyDate(record.rotatedAt),
    owner: record.owner ?? null,
    permissions: record.permissions ? [...record.permissions] : null,
    limits: copyMetadata(
      record.limits as Record<string, unknown> | null | undefined,
    ) as StoredLimits | null,
  };
}

/** Writes the given fields of `changes` into `record` (copies: nothing is shared with the caller). */
function apply(record: StoredApiKey, changes: KeyChanges): void {
  if (changes.name !== undefined) record.name = changes.name;
  if (changes.role !== undefined) record.role = changes.role;
  if (changes.metadata !== undefined) record.metadata = copyMetadata(changes.metadata);
  if (changes.expiresAt !== undefined) record.expiresAt = copyDate(changes.expiresAt);
  if (changes.ttlSeconds !== undefined) record.ttlSeconds = changes.ttlSeconds;
  if (changes.secretHash !== undefined) record.secretHash = changes.secretHash;
  if (changes.previousSecretHash !== undefined) {
    record.previousSecretHash = changes.previousSecretHash;
  }
  if (changes.previousSecretExpiresAt !== undefined) {
    record.previousSecretExpiresAt = copyDate(changes.previousSecretExpiresAt);
  }
  if (changes.rotatedAt !== undefined) record.rotatedAt = copyDate(changes.rotatedAt);
  if (changes.permissions !== undefined) {
    record.permissions = changes.permissions ? [...changes.permissions] : null;
  }
  if (changes.limits !== undefined) {
    record.limits = copyMetadata(
      changes.limits as Record<string, unknown> | null,
    ) as StoredLimits | null;
  }
}

const nameKey = (scope: string, name: string) => `${scope}\u0000${name}`;

/**
 * Creates an in-memory {@link KeyAdapter}. Each call makes an empty, independent store. Every
 * method runs its check and its write in one synchronous step, so concurrent calls cannot
 * break name uniqueness. Records go in and come out as copies. Several keymint instances over
 * one memory adapter see each other's revocations, updates and rotations at once (`subscribe`).
 *
 * @example
 * ```ts
 * import { memoryAdapter } from 'keymint/adapters/memory';
 * const adapter = memoryAdapter();
 * ```
 */
export function memoryAdapter(): KeyAdapter {
  const byId = new Map<string, StoredApiKey>();
  const idByName = new Map<string, string>();
  const channel = localChannel();
  const usage = new Map<string, UsageState>();

  function touch(record: StoredApiKey, lastUsed: number): void {
    if (!(record.lastUsedAt && record.lastUsedAt.getTime() >= lastUsed))
      record.lastUsedAt = new Date(lastUsed);
  }

  const find = (id: string): StoredApiKey | null => {
    const record = byId.get(id);
    return record ? copy(record) : null;
  };

  const adapter = {
    async insert(record: StoredApiKey): Promise<InsertResult> {
      if (byId.has(record.id)) return { ok: false, conflict: 'id' };
      const nk = nameKey(record.scope, record.name);
      if (idByName.has(nk)) return { ok: false, conflict: 'name' };
      byId.set(record.id, copy(record));
      idByName.set(nk, record.id);
      return { ok: true };
    },

    async findById(id: string): Promise<StoredApiKey | null> {
      return find(id);
    },

    async list({ scope, limit, after, activeAt, owner }: ListQuery): Promise<StoredApiKey[]> {
      const active = activeAt?.getTime();
      const matches: StoredApiKey[] = [];
      for (const record of byId.values()) {
        if (record.scope !== scope) continue;
        if (owner !== undefined && record.owner !== owner) continue;
        if (after !== undefined && compareCodePoints(record.name, after) <= 0) continue;
        if (active !== undefined && record.expiresAt && record.expiresAt.getTime() <= active)
          continue;
        matches.push(record);
      }
      matches.sort((a, b) => compareCodePoints(a.name, b.name));
      return matches.slice(0, limit).map(copy);
    },

    async countLive(scope: string, at: Date): Promise<number> {
      const cutoff = at.getTime();
      let live = 0;
      for (const record of byId.values()) {
        if (record.scope !== scope || record.revokedAt) continue;
        if (!record.expiresAt || record.expiresAt.getTime() > cutoff) live++;
      }
      return live;
    },

    async update(id: string, patch: KeyPatch): Promise<StoredApiKey | null> {
      const record = byId.get(id);
      if (!record) return null;
      if (patch.lastUsedAt) touch(record, patch.lastUsedAt.getTime());
      if (patch.revokedAt && !record.revokedAt)
        record.revokedAt = new Date(patch.revokedAt.getTime());
      if (patch.secretHash !== undefined) record.secretHash = patch.secretHash;
      if (patch.revokedAt) channel.publish(id);
      return copy(record);
    },

    async modify(
      id: string,
      changes: KeyChanges,
      condition?: ModifyCondition,
    ): Promise<ModifyResult> {
      const record = byId.get(id);
      if (!record) return { ok: false, reason: 'not_found' };
      if (record.revokedAt) return { ok: false, reason: 'revoked' };
      if (condition?.secretHash !== undefined && record.secretHash !== condition.secretHash) {
        return { ok: false, reason: 'secret' };
      }
      if (changes.name !== undefined && changes.name !== record.name) {
        const taken = nameKey(record.scope, changes.name);
        if (idByName.has(taken)) return { ok: false, reason: 'name' };
        idByName.delete(nameKey(record.scope, record.name));
        idByName.set(taken, id);
      }
      apply(record, changes);
      channel.publish(id);
      return { ok: true, record: copy(record) };
    },

    async revokeByOwner(scope: string, owner: string, at: Date): Promise<string[]> {
      const ids: string[] = [];
      for (const record of byId.values()) {
        if (record.scope !== scope || record.owner !== owner || record.revokedAt) continue;
        record.revokedAt = new Date(at.getTime());
        ids.push(record.id);
      }
      for (const id of ids) channel.publish(id);
      return ids;
    },

    async delete(id: string): Promise<boolean> {
      const record = byId.get(id);
      if (!record) return false;
      byId.delete(id);
      usage.delete(id);
      idByName.delete(nameKey(record.scope, record.name));
      channel.publish(id);
      return true;
    },

    async deleteExpired(before: Date): Promise<number> {
      const cutoff = before.getTime();
      let count = 0;
      for (const [id, record] of byId) {
        if (record.expiresAt && record.expiresAt.getTime() <= cutoff) {
          byId.delete(id);
          usage.delete(id);
          idByName.delete(nameKey(record.scope, record.name));
          count++;
        }
      }
      return count;
    },

    async touchMany(entries: readonly LastUsedEntry[]): Promise<void> {
      for (const { id, lastUsedAt } of entries) {
        const record = byId.get(id);
        if (record) touch(record, lastUsedAt.getTime());
      }
    },

    async consumeUsage(id: string, request: UsageRequest): Promise<UsageOutcome> {
      const [state, outcome] = applyUsage(usage.get(id), request);
      usage.set(id, state);
      return outcome;
    },

    subscribe: (listener: InvalidationListener): Promise<Subscription> =>
      channel.subscribe(listener),
  } satisfies KeyAdapter;
  // Verification calls the lookup without a promise (src/internal/sync-twin.ts).
  return attachTwin(adapter, FIND_BY_ID_SYNC, 'findById', find);
}
