import type { KeyAdapter, StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import type { Events } from './events.js';
import type { Hasher } from './hasher.js';
import { parseKey } from './key-format.js';
import type { PermissionMap } from './permissions.js';
import { toApiKey } from './verify-record.js';
import type { ApiKey, LeakReport, LeakedKeyResult, VerifyResult } from './types.js';

/** What reporting a leak needs from its instance. */
export interface LeakParts<Actor> {
  prefix: string;
  adapter: KeyAdapter;
  verifyKey: (key: unknown) => Promise<VerifyResult>;
  /** Revokes a record without asking authorize: whoever holds the key may have it revoked. */
  revoke: (record: StoredApiKey) => Promise<ApiKey>;
  fromStore: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
  /** Checks the secret of a revoked or expired key, which verification refuses before hashing. */
  hasher: Hasher;
  fromHasher: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
  events: Events<Actor>;
  permissions: PermissionMap | null;
}

const text = (value: unknown, max: number): string | null =>
  typeof value === 'string' ? value.slice(0, max) : null;

/**
 * `reportLeakedKey`: a key whose secret verifies (valid, or already revoked or expired) is a true
 * positive, reported as `key.leaked`; a valid one is revoked unless `report.revoke` is false.
 * Anything else is a false positive and touches nothing. `busy` and `rate_limited` decide
 * nothing: BUSY, so that the reporter retries.
 */
export function createLeakReporter<Actor>(parts: LeakParts<Actor>) {
  async function secretMatches(record: StoredApiKey, secret: string): Promise<boolean> {
    for (const hash of [record.secretHash, record.previousSecretHash]) {
      if (typeof hash !== 'string') continue;
      const matches = await parts.fromHasher('verify a secret', () =>
        parts.hasher.verify(hash, secret),
      );
      if (matches === true) return true;
    }
    return false;
  }

  return async function reportLeakedKey(
    key: unknown,
    report: LeakReport = {},
  ): Promise<LeakedKeyResult> {
    const result = await parts.verifyKey(key);
    if (!result.valid && (result.reason === 'busy' || result.reason === 'rate_limited')) {
      throw new KeymintError(
        'BUSY',
        'The leaked key could not be checked right now (hashing is saturated, or its id had too many wrong secrets lately): report it again in a minute.',
        { retryAfterMs: result.reason === 'busy' ? result.retryAfterMs : 60_000 },
      );
    }
    if (!result.valid && result.reason !== 'revoked' && result.reason !== 'expired') {
      return { truePositive: false };
    }
    const { id, secret } = parseKey(parts.prefix, key)!;
    const record = await parts.fromStore('findById', () => parts.adapter.findById(id));
    if (!record) return { truePositive: false };
    // A valid key's secret matched. A revoked or expired one is refused from its record before
    // any hashing (and the checksum is no secret): its secret is checked here, so an id alone
    // never makes a true positive, nor shows the key's record.
    if (!result.valid && !(await secretMatches(record, secret))) return { truePositive: false };
    const revoke = result.valid && report.revoke !== false;
    const apiKey = revoke ? await parts.revoke(record) : toApiKey(record, parts.permissions);
    parts.events.key(record, undefined, {
      type: 'key.leaked',
      url: text(report.url, 2_048),
      source: text(report.source, 256),
      revoked: revoke,
    });
    return {
      truePositive: true,
      apiKey,
      revoked: revoke,
    };
  };
}
