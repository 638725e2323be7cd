import type { KeyChanges, ModifyResult, StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { rotateOptionsSchema } from '../schemas.js';
import type { Access } from './access.js';
import { hashNew, type CreateParts } from './create.js';
import { formatKey } from './key-format.js';
import {
  modifyOf,
  requireActive,
  revokedError,
  unexpectedRefusal,
  type ManageParts,
} from './manage.js';
import { expiryFrom, fromStore, notFound, parseDuration, parseWith, resolveTtl } from './parse.js';
import { describeSeconds } from './ttl.js';
import type { CallContext, RotateApiKeyOptions, RotatedApiKey } from './types.js';
import { toApiKey } from './verify-record.js';

const MAX_GRACE_SECONDS = 7 * 86_400;
/** Rotations retried after a rehash changed the secret hash under them; then CONFLICT. */
const ATTEMPTS = 3;

export type RotateParts<Actor> = CreateParts<Actor> & ManageParts<Actor>;

/**
 * The key's own time to live in seconds: the one it was created with or last given (stored), or,
 * for a record written before 0.2.0 (which could never change), its expiry minus its creation.
 */
function ownTtlSeconds(record: StoredApiKey): number | null {
  if (record.ttlSeconds !== undefined && record.ttlSeconds !== null) return record.ttlSeconds;
  if (!record.expiresAt) return null;
  return Math.max(1, Math.round((record.expiresAt.getTime() - record.createdAt.getTime()) / 1000));
}

/** The default TTL of a rotation, under the instance's current rules. */
function defaultTtl(record: StoredApiKey, parts: RotateParts<unknown>): number | null {
  const own = ownTtlSeconds(record);
  if (own === null) {
    if (parts.allowNonExpiring) return null;
    throw new KeymintError(
      'INVALID_TTL',
      'This key never expires, and this instance no longer allows such keys: pass a ttl to rotateApiKey().',
    );
  }
  if (own > parts.maxTtlSeconds) {
    throw new KeymintError(
      'TTL_TOO_LONG',
      `This key's own time to live (${describeSeconds(own)}) is over the maximum of ${describeSeconds(parts.maxTtlSeconds)}: pass a shorter ttl to rotateApiKey().`,
    );
  }
  return own;
}

/** `rotateApiKey`, over the instance's parts. */
export function rotateOperation<Actor>(parts: RotateParts<Actor>) {
  const { adapter, prefix, clock, forget } = parts;
  const access: Access<Actor> = parts.access;
  const rotated = (record: StoredApiKey, key: string, context: unknown) => {
    parts.events.key(record, context, {
      type: 'key.rotated',
      expiresAt: record.expiresAt,
      previousSecretExpiresAt: record.previousSecretExpiresAt ?? null,
    });
    return { key, apiKey: toApiKey(record, parts.permissions) };
  };

  /** The stored record when it holds this hash (the rotation landed, its answer was lost). */
  async function landed(id: string, secretHash: string): Promise<StoredApiKey | null> {
    try {
      const stored = await adapter.findById(id);
      return stored?.secretHash === secretHash ? stored : null;
    } catch {
      return null;
    }
  }

  return async function rotateApiKey(
    id: string,
    options?: RotateApiKeyOptions,
    context?: CallContext<Actor>,
  ): Promise<RotatedApiKey> {
    const parsed =
      parseWith(rotateOptionsSchema, options, 'INVALID_INPUT', 'rotateApiKey() options') ?? {};
    const graceMs =
      parseDuration(parsed.gracePeriod, 'gracePeriod', MAX_GRACE_SECONDS, '7 days') * 1000;
    const givenTtl = parsed.ttl === undefined ? undefined : resolveTtl(parsed.ttl, parts);
    const modify = modifyOf(adapter, 'rotateApiKey');
    let record = await access.find(id, context, forget);
    await access.check(
      context,
      'apikeys:write',
      record.scope,
      { role: record.role, keyId: record.id, owner: record.owner },
      'Cannot rotate a key whose role is higher than your own role.',
    );
    const { key, secret } = formatKey(prefix, record.id);
    const secretHash = await hashNew(parts, secret, { scope: record.scope, id: record.id });

    for (let attempt = 1; ; attempt++) {
      const at = clock();
      requireActive(record, at.getTime(), 'rotated');
      const ttlSeconds = givenTtl === undefined ? defaultTtl(record, parts) : givenTtl;
      // The grace period never outlasts the old key's own expiry.
      const oldEnds = record.expiresAt?.getTime() ?? Infinity;
      const changes: KeyChanges = {
        secretHash,
        previousSecretHash: record.secretHash,
        previousSecretExpiresAt: new Date(Math.min(at.getTime() + graceMs, oldEnds)),
        rotatedAt: at,
        ttlSeconds,
        expiresAt: expiryFrom(at, ttlSeconds),
      };
      let result: ModifyResult;
      try {
        result = await fromStore('modify', () =>
          modify(record.id, changes, { secretHash: record.secretHash }),
        );
      } catch (error) {
        forget(record.id);
        const stored = await landed(record.id, secretHash);
        if (stored) return rotated(stored, key, context);
        throw error;
      }
      forget(record.id);
      if (result.ok) return rotated(result.record, key, context);
      if (result.reason === 'not_found') throw notFound(record.id);
      if (result.reason === 'revoked') throw revokedError(record.id, 'rotated');
      if (result.reason !== 'secret') throw unexpectedRefusal(result);
      // The secret hash changed since it was read: this very rotation ran twice (a driver sent it
      // again after a reconnect), another rotation won, or a rehash rewrote the hash.
      const stored = await landed(record.id, secretHash);
      if (stored) return rotated(stored, key, context);
      const current = await access.find(record.id, context, forget);
      const rotatedMeanwhile =
        current.rotatedAt?.getTime() !== record.rotatedAt?.getTime() ||
        current.previousSecretHash !== record.previousSecretHash;
      if (rotatedMeanwhile || attempt >= ATTEMPTS) {
        throw new KeymintError(
          'CONFLICT',
          `The API key ${JSON.stringify(record.id)} was rotated by another call at the same time: the key that call returned is the one that works. Rotate again if this caller needs a key of its own.`,
        );
      }
      record = current;
    }
  };
}
