import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { createKeymint, hmacSha256Hasher, KeymintError, type StoredApiKey } from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { formatKey } from '../src/core/key-format.js';
import { crc32 } from '../src/internal/crc32.js';
import {
  changeCharAt,
  expectCode,
  failingAdapter,
  fastKeymint,
  flush,
  HMAC_SECRET,
  HOUR,
  keymintOverBrokenStore,
  keyParts,
  MINUTE,
  SECOND,
  T0,
  testClock,
} from './helpers.js';

async function withKey(overrides: Parameters<typeof fastKeymint>[0] = {}, role = 'Editor') {
  const faulty = failingAdapter();
  const made = fastKeymint({ adapter: faulty.adapter, ...overrides });
  const created = await made.keymint.createApiKey({ name: 'ci', role, ttl: '12h', scope: 'org-1' });
  return { ...made, ...created, faulty };
}

describe('verifyKey() valid keys', () => {
  it('accepts a freshly created key and returns its record', async () => {
    const { keymint, key, apiKey } = await withKey();
    expect(await keymint.verifyKey(key)).toEqual({ valid: true, apiKey });
  });

  it('returns the record without secretHash', async () => {
    const { keymint, key } = await withKey();
    const result = await keymint.verifyKey(key);
    expect(result.valid).toBe(true);
    expect(result.valid && Object.keys(result.apiKey)).not.toContain('secretHash');
  });

  it('accepts a key with a custom prefix', async () => {
    const { keymint, key } = await withKey({ prefix: 'acme' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('calls a key of another prefix malformed', async () => {
    const { key } = await withKey({ prefix: 'acme' });
    const { keymint } = fastKeymint({ prefix: 'acmf' });
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'malformed' });
  });
});

describe('verifyKey() never throws for any presented value', () => {
  it('calls any JavaScript value malformed', async () => {
    const { keymint } = await withKey();
    await fc.assert(
      fc.asyncProperty(
        fc.anything({
          withBigInt: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withTypedArray: true,
        }),
        async (value) => {
          expect(await keymint.verifyKey(value)).toEqual({ valid: false, reason: 'malformed' });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('calls any string malformed', async () => {
    const { keymint } = await withKey();
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), async (value) => {
        expect(await keymint.verifyKey(value)).toEqual({ valid: false, reason: 'malformed' });
      }),
      { numRuns: 300 },
    );
  });

  it('calls any full-Unicode string malformed', async () => {
    const { keymint } = await withKey();
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 80 }), async (value) => {
        expect(await keymint.verifyKey(value)).toEqual({ valid: false, reason: 'malformed' });
      }),
      { numRuns: 300 },
    );
  });

  it('calls strings of a key-like shape (km_ + 12 + _ + 34 base62 characters) malformed', async () => {
    const { keymint } = await withKey();
    const base62 = fc.constantFrom(
      ...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    );
    const part = (n: number) =>
      fc.array(base62, { minLength: n, maxLength: n }).map((a) => a.join(''));
    await fc.assert(
      fc.asyncProperty(part(12), part(34), async (id, rest) => {
        expect(await keymint.verifyKey(`km_${id}_${rest}`)).toEqual({
          valid: false,
          reason: 'malformed',
        });
      }),
      { numRuns: 300 },
    );
  });

  it('calls a 1 MB string malformed', async () => {
    const { keymint } = await withKey();
    expect(await keymint.verifyKey('k'.repeat(1 << 20))).toEqual({
      valid: false,
      reason: 'malformed',
    });
  });

  it('calls a valid key followed by 1 MB of padding malformed', async () => {
    const { keymint, key } = await withKey();
    expect(await keymint.verifyKey(key + 'A'.repeat(1 << 20))).toEqual({
      valid: false,
      reason: 'malformed',
    });
  });
});

describe('verifyKey() checksum', () => {
  it('calls a key with any one character of the secret changed malformed, without reading the store', async () => {
    const { keymint, key, faulty } = await withKey();
    const start = key.length - 34;
    for (let i = start; i < start + 28; i++) {
      const tampered = changeCharAt(key, i);
      expect(tampered).not.toBe(key);
      expect(await keymint.verifyKey(tampered)).toEqual({ valid: false, reason: 'malformed' });
    }
    expect(faulty.calls.findById).toBe(0);
  });

  it('calls a key with any one character of the checksum changed malformed, without reading the store', async () => {
    const { keymint, key, faulty } = await withKey();
    for (let i = key.length - 6; i < key.length; i++) {
      expect(await keymint.verifyKey(changeCharAt(key, i))).toEqual({
        valid: false,
        reason: 'malformed',
      });
    }
    expect(faulty.calls.findById).toBe(0);
  });

  it('calls a key with one character of the id changed malformed, without reading the store', async () => {
    const { keymint, key, faulty } = await withKey();
    expect(await keymint.verifyKey(changeCharAt(key, 5))).toEqual({
      valid: false,
      reason: 'malformed',
    });
    expect(faulty.calls.findById).toBe(0);
  });
});

describe('verifyKey() not_found', () => {
  it('reports not_found for a well-formed key whose id is unknown', async () => {
    const { keymint, faulty } = await withKey();
    const other = fastKeymint();
    const { key: foreign } = await other.keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
    });
    expect(await keymint.verifyKey(foreign)).toEqual({ valid: false, reason: 'not_found' });
    expect(faulty.calls.findById).toBe(1);
  });

  it('reports not_found for the right id with a wrong secret', async () => {
    const { keymint, key, apiKey } = await withKey();
    const { key: forged } = formatKey('km', apiKey.id);
    expect(keyParts(forged).id).toBe(apiKey.id);
    expect(keyParts(forged).secret).not.toBe(keyParts(key).secret);
    expect(await keymint.verifyKey(forged)).toEqual({ valid: false, reason: 'not_found' });
  });

  it('reports not_found for a hand-built key with a real id, another secret and a correct checksum', async () => {
    // A hand-built key with this key's id, another secret, and a correct CRC-32 checksum.
    const { keymint, key, apiKey } = await withKey();
    const secret = keyParts(key).secret.split('').reverse().join('');
    const body = `km_${apiKey.id}_${secret}`;
    let checksum = '';
    let rest = crc32(body);
    const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    for (let i = 0; i < 6; i++) {
      checksum = alphabet[rest % 62]! + checksum;
      rest = Math.floor(rest / 62);
    }
    expect(await keymint.verifyKey(body + checksum)).toEqual({ valid: false, reason: 'not_found' });
  });

  it('reports not_found when options.scope is not the key’s scope', async () => {
    const { keymint, key } = await withKey();
    expect(await keymint.verifyKey(key, { scope: 'org-2' })).toEqual({
      valid: false,
      reason: 'not_found',
    });
  });

  it('accepts the key when options.scope is the key’s scope', async () => {
    const { keymint, key } = await withKey();
    expect((await keymint.verifyKey(key, { scope: 'org-1' })).valid).toBe(true);
  });

  it('reports not_found after the key was deleted', async () => {
    const { keymint, key, apiKey } = await withKey();
    await keymint.deleteApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
  });
});

describe('verifyKey() expiry and revocation', () => {
  it('accepts a key 1 ms before expiresAt', async () => {
    const { keymint, key, apiKey, clock } = await withKey();
    clock.set(apiKey.expiresAt!.getTime() - 1);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('reports expired at exactly expiresAt', async () => {
    const { keymint, key, apiKey, clock } = await withKey();
    clock.set(apiKey.expiresAt!);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
  });

  it('reports expired long after expiresAt', async () => {
    const { keymint, key, clock } = await withKey();
    clock.advance(400 * 24 * HOUR);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
  });

  it('reports revoked for a revoked key', async () => {
    const { keymint, key, apiKey } = await withKey();
    await keymint.revokeApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });
});

describe('verifyKey() minimum role', () => {
  it('reports insufficient_role for a Viewer key when Editor is required', async () => {
    const { keymint, key } = await withKey({}, 'Viewer');
    expect(await keymint.verifyKey(key, { role: 'Editor' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });
  });

  it("accepts an Admin key for the minimum role 'editor' (any letter case)", async () => {
    const { keymint, key } = await withKey({}, 'Admin');
    expect((await keymint.verifyKey(key, { role: 'editor' })).valid).toBe(true);
  });

  it('accepts a key whose role equals the minimum role', async () => {
    const { keymint, key } = await withKey({}, 'Editor');
    expect((await keymint.verifyKey(key, { role: 'Editor' })).valid).toBe(true);
  });

  it('orders custom roles as given, lowest first', async () => {
    const { keymint, key } = await withKey({ roles: ['Owner', 'Reader'] }, 'Owner');
    expect(await keymint.verifyKey(key, { role: 'Reader' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });
  });

  it('throws INVALID_ROLE for an unknown minimum role', async () => {
    const { keymint, key } = await withKey();
    await expectCode(keymint.verifyKey(key, { role: 'Owner' }), 'INVALID_ROLE');
  });

  it('throws INVALID_INPUT for options that are not an object', async () => {
    const { keymint, key } = await withKey();
    await expectCode(keymint.verifyKey(key, 'Editor' as never), 'INVALID_INPUT');
  });
});

describe('verifyKey() store failures', () => {
  it('throws STORE_FAILURE with the driver error as cause when findById fails', async () => {
    const { keymint, key, faulty } = await withKey();
    const driverError = faulty.fail('findById');
    const error = await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
    expect(error.cause).toBe(driverError);
  });

  /** Runs verify and asserts it is never valid: it resolves not_found or throws STORE_FAILURE. */
  async function expectFailClosed(run: Promise<unknown>) {
    let outcome: unknown;
    try {
      outcome = await run;
    } catch (error) {
      expect(error).toBeInstanceOf(KeymintError);
      expect((error as KeymintError).code).toBe('STORE_FAILURE');
      return;
    }
    expect(outcome).toEqual({ valid: false, reason: 'not_found' });
  }

  it('is never valid when the store returns a record without secretHash (STORE_FAILURE or not_found)', async () => {
    const { keymint, key } = await keymintOverBrokenStore(({ secretHash: _drop, ...rest }) => rest);
    await expectFailClosed(keymint.verifyKey(key));
  });

  it('throws STORE_FAILURE when the store returns a record with a different id', async () => {
    const { keymint, key } = await keymintOverBrokenStore((record) => ({
      ...record,
      id: 'ZZZZZZZZZZZZ',
    }));
    await expect(keymint.verifyKey(key)).rejects.toMatchObject({ code: 'STORE_FAILURE' });
  });

  it('throws STORE_FAILURE when the store returns a string instead of a record', async () => {
    const { keymint, key } = await keymintOverBrokenStore(() => 'garbage');
    await expect(keymint.verifyKey(key)).rejects.toMatchObject({ code: 'STORE_FAILURE' });
  });

  it('is never valid when the store returns expiresAt as a string (STORE_FAILURE or not_found)', async () => {
    const { keymint, key } = await keymintOverBrokenStore((record) => ({
      ...record,
      expiresAt: record.expiresAt!.toISOString(),
    }));
    await expectFailClosed(keymint.verifyKey(key));
  });
});

describe('verifyKey() lastUsedAt', () => {
  it('sets lastUsedAt to the verification time after a valid verify', async () => {
    const { keymint, key, apiKey, clock, faulty } = await withKey();
    clock.advance(MINUTE);
    await keymint.verifyKey(key);
    await vi.waitFor(async () => {
      expect((await faulty.inner.findById(apiKey.id))?.lastUsedAt?.getTime()).toBe(T0 + MINUTE);
    });
  });

  it('answers before the lastUsedAt write completes', async () => {
    const { keymint, key, apiKey, faulty } = await withKey();
    const release = faulty.hold('update');
    const result = await keymint.verifyKey(key);
    expect(result.valid).toBe(true);
    expect((await faulty.inner.findById(apiKey.id))?.lastUsedAt).toBeNull();
    release();
    await vi.waitFor(async () => {
      expect((await faulty.inner.findById(apiKey.id))?.lastUsedAt).not.toBeNull();
    });
  });

  it('does not write lastUsedAt after a failed verify', async () => {
    const { keymint, key, faulty } = await withKey({}, 'Viewer');
    await keymint.verifyKey(key, { role: 'Admin' });
    await keymint.verifyKey(formatKey('km', keyParts(key).id).key);
    await flush();
    expect(faulty.calls.update).toBe(0);
  });

  it('does not write lastUsedAt again for a verify 1 minute after the last write', async () => {
    const { keymint, key, apiKey, clock, faulty } = await withKey();
    await keymint.verifyKey(key);
    await flush();
    expect(faulty.calls.update).toBe(1);
    clock.advance(MINUTE);
    await keymint.verifyKey(key);
    await flush();
    expect(faulty.calls.update).toBe(1);
    expect((await faulty.inner.findById(apiKey.id))?.lastUsedAt?.getTime()).toBe(T0);
  });

  it('writes lastUsedAt again for a verify 5 minutes after the last write', async () => {
    const { keymint, key, apiKey, clock, faulty } = await withKey();
    await keymint.verifyKey(key);
    await flush();
    clock.advance(5 * MINUTE);
    await keymint.verifyKey(key);
    await flush();
    expect(faulty.calls.update).toBe(2);
    expect((await faulty.inner.findById(apiKey.id))?.lastUsedAt?.getTime()).toBe(T0 + 5 * MINUTE);
  });

  it('writes lastUsedAt once for many concurrent verifies of one key', async () => {
    const { keymint, key, faulty } = await withKey();
    const release = faulty.hold('update');
    await Promise.all(Array.from({ length: 20 }, () => keymint.verifyKey(key)));
    release();
    await flush();
    expect(faulty.calls.update).toBe(1);
  });

  it('follows a custom lastUsedInterval', async () => {
    const { keymint, key, clock, faulty } = await withKey({ lastUsedInterval: '30s' });
    await keymint.verifyKey(key);
    await flush();
    clock.advance(30 * SECOND);
    await keymint.verifyKey(key);
    await flush();
    expect(faulty.calls.update).toBe(2);
  });

  it('stays valid when the lastUsedAt write fails, and reports the failure to onBackgroundError', async () => {
    const onBackgroundError = vi.fn();
    const { keymint, key, faulty } = await withKey({ onBackgroundError });
    const driverError = faulty.fail('update');
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    await vi.waitFor(() => expect(onBackgroundError).toHaveBeenCalledTimes(1));
    const reported = onBackgroundError.mock.calls[0]![0] as KeymintError;
    expect(reported).toBeInstanceOf(KeymintError);
    expect(reported.code).toBe('STORE_FAILURE');
    expect(reported.cause).toBe(driverError);
  });

  it('retries the lastUsedAt write on the next verify after a failed one', async () => {
    const { keymint, key, apiKey, faulty } = await withKey({ onBackgroundError: () => {} });
    faulty.fail('update');
    await keymint.verifyKey(key);
    await flush();
    faulty.heal('update');
    await keymint.verifyKey(key);
    await flush();
    expect((await faulty.inner.findById(apiKey.id))?.lastUsedAt?.getTime()).toBe(T0);
  });

  it('stays valid when onBackgroundError itself throws', async () => {
    const { keymint, key, faulty } = await withKey({
      onBackgroundError: () => {
        throw new Error('hook failed');
      },
    });
    faulty.fail('update');
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    await flush();
    // A second verify still works (the failed write released its per-key slot).
    faulty.heal('update');
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    await flush();
    expect(faulty.calls.update).toBe(2);
  });
});
