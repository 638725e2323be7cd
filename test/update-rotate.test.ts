// updateApiKey() and rotateApiKey() in the core, over the memory adapter (the conformance groups
// 'modify' and 'rotation' run the same operations on every adapter against real servers): input
// rules, authorize and actorRole, failures of the store, the verify cache, and the rehash race.
import { describe, expect, it, vi } from 'vitest';
import type { KeyAdapter, ModifyResult } from '../src/adapter.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { KEY_SECRET_LENGTH, withChecksum } from '../src/core/key-format.js';
import {
  hmacSha256Hasher,
  type AuthorizeRequest,
  type CallContext,
  type Hasher,
} from '../src/index.js';
import {
  DAY,
  DriverError,
  expectCode,
  fastKeymint,
  flush,
  HMAC_SECRET,
  HOUR,
  T0,
} from './helpers.js';

interface User {
  role: string;
}
const as = (role: string): CallContext<User> => ({ actor: { role } });

/** A fast keymint and the key it made: Editor, ttl 2h, with metadata. */
async function withKey(options: Parameters<typeof fastKeymint<User>>[0] = {}) {
  const made = fastKeymint<User>(options);
  const trusted = fastKeymint({ adapter: made.adapter, now: made.clock.now }).keymint;
  const created = await trusted.createApiKey({
    name: 'ci',
    role: 'Editor',
    ttl: '2h',
    metadata: { team: 'ops' },
  });
  return { ...made, trusted, created, id: created.apiKey.id };
}

/** The adapter without modify(): an adapter written for 0.1.0. */
function withoutModify(inner: KeyAdapter): KeyAdapter {
  const { modify: _gone, ...rest } = inner;
  return rest;
}

describe('updateApiKey() input', () => {
  it.each([
    [{}, 'INVALID_INPUT'],
    [{ name: undefined }, 'INVALID_INPUT'],
    [null, 'INVALID_INPUT'],
    ['name', 'INVALID_INPUT'],
    [{ scope: 'other' }, 'INVALID_INPUT'],
    [{ name: '   ' }, 'INVALID_INPUT'],
    [{ name: 'line\nbreak' }, 'INVALID_INPUT'],
    [{ name: 'x'.repeat(191) }, 'INVALID_INPUT'],
    [{ name: 'evil\u202Egpj.exe' }, 'INVALID_INPUT'],
    [{ role: 'Owner' }, 'INVALID_ROLE'],
    [{ ttl: '1.5h' }, 'INVALID_TTL'],
    [{ ttl: '31d' }, 'TTL_TOO_LONG'],
    [{ ttl: null }, 'INVALID_TTL'],
    [{ metadata: [1] }, 'INVALID_INPUT'],
    [{ metadata: { big: 'x'.repeat(9_000) } }, 'INVALID_INPUT'],
    [{ name: 'fine', role: 'Owner' }, 'INVALID_ROLE'],
  ])('refuses %j with %s and changes nothing', async (patch, code) => {
    const { keymint, adapter, id } = await withKey();
    const before = await adapter.findById(id);
    await expectCode(keymint.updateApiKey(id, patch as never), code as never);
    expect(await adapter.findById(id)).toEqual(before);
  });

  it('trims and NFC-normalises a new name, and canonicalises the role', async () => {
    const { keymint, id } = await withKey();
    const updated = await keymint.updateApiKey(id, { name: '  e\u0301 key ', role: 'ADMIN' });
    expect(updated.name).toBe('\u00e9 key');
    expect(updated.role).toBe('Admin');
  });

  it('sets a new expiry from now and keeps it as the time to live of the next rotation', async () => {
    const { keymint, clock, id, adapter } = await withKey();
    clock.advance(HOUR);
    const updated = await keymint.updateApiKey(id, { ttl: '5h' });
    expect(updated.expiresAt).toEqual(new Date(T0 + 6 * HOUR));
    expect((await adapter.findById(id))?.ttlSeconds).toBe(5 * 3_600);
    clock.advance(HOUR);
    const rotated = await keymint.rotateApiKey(id);
    expect(rotated.apiKey.expiresAt).toEqual(new Date(T0 + 7 * HOUR));
  });

  it('makes a key never expire with ttl null when the instance allows it', async () => {
    const { keymint, clock, created, id } = await withKey({ allowNonExpiring: true });
    expect((await keymint.updateApiKey(id, { ttl: null })).expiresAt).toBeNull();
    clock.advance(400 * DAY);
    expect((await keymint.verifyKey(created.key)).valid).toBe(true);
  });

  it('answers NOT_FOUND for an unknown id, a key passed as an id, and another scope', async () => {
    const { keymint, created, id } = await withKey();
    await expectCode(keymint.updateApiKey('AAAAAAAAAAAA', { name: 'x' }), 'NOT_FOUND');
    const error = await expectCode(keymint.updateApiKey(created.key, { name: 'x' }), 'NOT_FOUND');
    expect(error.message).not.toContain(created.key.slice(16));
    await expectCode(
      keymint.updateApiKey(id, { name: 'x' }, { actor: { role: 'Admin' }, scope: 'org-2' }),
      'NOT_FOUND',
    );
    await expectCode(keymint.updateApiKey(42 as never, { name: 'x' }), 'INVALID_INPUT');
  });

  it('throws CONFIG over an adapter without modify(), before reading anything', async () => {
    const inner = memoryAdapter();
    const { keymint } = fastKeymint({ adapter: withoutModify(inner) });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const error = await expectCode(keymint.updateApiKey(apiKey.id, { name: 'x' }), 'CONFIG');
    expect(error.message).toMatch(/modify\(\)/);
    await expectCode(keymint.rotateApiKey(apiKey.id), 'CONFIG');
    expect((await inner.findById(apiKey.id))?.name).toBe('ci');
  });
});

describe('rotateApiKey() input', () => {
  it.each([
    [{ gracePeriod: '8d' }, 'TTL_TOO_LONG'],
    [{ gracePeriod: '1.5h' }, 'INVALID_TTL'],
    [{ gracePeriod: -5 }, 'INVALID_TTL'],
    [{ ttl: '31d' }, 'TTL_TOO_LONG'],
    [{ ttl: null }, 'INVALID_TTL'],
    [{ grace: '1h' }, 'INVALID_INPUT'],
    ['1h', 'INVALID_INPUT'],
  ])('refuses %j with %s and changes nothing', async (options, code) => {
    const { keymint, adapter, id, created } = await withKey();
    const before = await adapter.findById(id);
    await expectCode(keymint.rotateApiKey(id, options as never), code as never);
    expect(await adapter.findById(id)).toEqual(before);
    expect((await keymint.verifyKey(created.key)).valid).toBe(true);
  });

  it.each([0, '0', '0s', ' 0d ', '7d', 604_800])('accepts gracePeriod %j', async (gracePeriod) => {
    const { keymint, id } = await withKey({ maxTtl: '30d' });
    // Seven days of grace reach past the key's own 2h expiry: capped there.
    const rotated = await keymint.rotateApiKey(id, { gracePeriod, ttl: '10d' });
    const ends = rotated.apiKey.previousKeyExpiresAt!.getTime();
    expect([T0, T0 + 2 * HOUR]).toContain(ends);
  });

  it('refuses a default time to live over a maximum lowered since, and accepts a given one', async () => {
    const adapter = memoryAdapter();
    const wide = fastKeymint({ adapter, maxTtl: '90d' });
    const { apiKey } = await wide.keymint.createApiKey({
      name: 'long',
      role: 'Viewer',
      ttl: '60d',
    });
    const narrow = fastKeymint({ adapter, maxTtl: '30d' }).keymint;
    const error = await expectCode(narrow.rotateApiKey(apiKey.id), 'TTL_TOO_LONG');
    expect(error.message).toMatch(/pass a shorter ttl/);
    expect((await narrow.rotateApiKey(apiKey.id, { ttl: '30d' })).apiKey.expiresAt).toEqual(
      new Date(T0 + 30 * DAY),
    );
  });

  it('keeps a key that never expires so, and needs a ttl once such keys are not allowed', async () => {
    const adapter = memoryAdapter();
    const open = fastKeymint({ adapter, allowNonExpiring: true }).keymint;
    const { apiKey } = await open.createApiKey({ name: 'forever', role: 'Viewer', ttl: null });
    expect((await open.rotateApiKey(apiKey.id)).apiKey.expiresAt).toBeNull();
    const strict = fastKeymint({ adapter }).keymint;
    await expectCode(strict.rotateApiKey(apiKey.id), 'INVALID_TTL');
    expect((await strict.rotateApiKey(apiKey.id, { ttl: '1h' })).apiKey.expiresAt).toEqual(
      new Date(T0 + HOUR),
    );
  });

  it('returns a new key of the same id once; the store keeps only hashes', async () => {
    const { keymint, adapter, created, id } = await withKey();
    const rotated = await keymint.rotateApiKey(id, { gracePeriod: '1h' });
    expect(rotated.key.split('_')[1]).toBe(id);
    expect(rotated.key).not.toBe(created.key);
    const stored = JSON.stringify(await adapter.findById(id));
    for (const key of [created.key, rotated.key]) {
      expect(stored).not.toContain(key.split('_')[2]!.slice(0, 20));
    }
    expect(JSON.stringify(rotated.apiKey)).not.toContain(rotated.key);
  });
});

describe('authorize and actorRole', () => {
  function guarded(allow = true) {
    const authorize = vi.fn<(request: AuthorizeRequest<User>) => boolean>(() => allow);
    return { authorize, options: { authorize, actorRole: (actor: User) => actor.role } };
  }

  it('asks apikeys:write with the key, and the new role of an update that changes it', async () => {
    const { authorize, options } = guarded();
    const { keymint, id } = await withKey(options);
    await keymint.updateApiKey(id, { name: 'renamed' }, as('Admin'));
    await keymint.updateApiKey(id, { role: 'viewer' }, as('Admin'));
    expect(authorize.mock.calls.map(([request]) => request)).toStrictEqual([
      { actor: { role: 'Admin' }, action: 'apikeys:write', scope: 'default', keyId: id },
      {
        actor: { role: 'Admin' },
        action: 'apikeys:write',
        scope: 'default',
        role: 'Viewer',
        keyId: id,
      },
    ]);
  });

  it('asks apikeys:write with the role of the key to rotate', async () => {
    const { authorize, options } = guarded();
    const { keymint, id } = await withKey(options);
    await keymint.rotateApiKey(id, {}, as('Admin'));
    expect(authorize.mock.calls[0]![0]).toStrictEqual({
      actor: { role: 'Admin' },
      action: 'apikeys:write',
      scope: 'default',
      role: 'Editor',
      keyId: id,
    });
  });

  it('refuses with FORBIDDEN when authorize says no, or without an actor, changing nothing', async () => {
    const { options } = guarded(false);
    const { keymint, adapter, id } = await withKey(options);
    const before = await adapter.findById(id);
    await expectCode(keymint.updateApiKey(id, { name: 'x' }, as('Admin')), 'FORBIDDEN');
    await expectCode(keymint.rotateApiKey(id, {}, as('Admin')), 'FORBIDDEN');
    await expectCode(keymint.updateApiKey(id, { name: 'x' }), 'FORBIDDEN');
    expect(await adapter.findById(id)).toEqual(before);
  });

  it('lets no actor raise a key above their own role, nor rotate a key above it', async () => {
    const { options } = guarded();
    const { keymint, trusted, adapter, id } = await withKey(options);
    await expectCode(keymint.updateApiKey(id, { role: 'Admin' }, as('Editor')), 'FORBIDDEN');
    await expectCode(keymint.rotateApiKey(id, {}, as('Viewer')), 'FORBIDDEN');
    expect((await adapter.findById(id))?.role).toBe('Editor');
    // Lowering, and changes that leave the role alone, are the actor's to make.
    const admin = await trusted.createApiKey({ name: 'admin', role: 'Admin', ttl: '1h' });
    expect(
      (await keymint.updateApiKey(admin.apiKey.id, { role: 'Viewer' }, as('Editor'))).role,
    ).toBe('Viewer');
    expect((await keymint.updateApiKey(id, { name: 'mine' }, as('Viewer'))).name).toBe('mine');
    expect((await keymint.rotateApiKey(id, {}, as('Editor'))).apiKey.role).toBe('Editor');
  });
});

describe('failures of the store', () => {
  /** A memory adapter whose modify() can be made to fail before or after it commits. */
  function flaky() {
    const inner = memoryAdapter();
    let mode: 'ok' | 'before' | 'after' = 'ok';
    const adapter: KeyAdapter = {
      ...inner,
      async modify(id, changes, condition): Promise<ModifyResult> {
        if (mode === 'before') throw new DriverError();
        const result = await inner.modify!(id, changes, condition);
        if (mode === 'after') throw new DriverError('reply lost');
        return result;
      },
    };
    return { adapter, inner, set: (next: typeof mode) => (mode = next) };
  }

  it('update: STORE_FAILURE with the driver error as cause when modify() throws', async () => {
    const store = flaky();
    const { keymint } = fastKeymint({ adapter: store.adapter });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    store.set('before');
    const error = await expectCode(keymint.updateApiKey(apiKey.id, { name: 'x' }), 'STORE_FAILURE');
    expect(error.cause).toBeInstanceOf(DriverError);
    expect((await store.inner.findById(apiKey.id))?.name).toBe('ci');
  });

  it('rotate: a failure before the change keeps the old key; a lost reply still returns the new key', async () => {
    const store = flaky();
    const { keymint } = fastKeymint({ adapter: store.adapter });
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    store.set('before');
    await expectCode(keymint.rotateApiKey(apiKey.id), 'STORE_FAILURE');
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    store.set('after');
    // The rotation committed and its reply was lost: the read-back finds this rotation's hash.
    const rotated = await keymint.rotateApiKey(apiKey.id);
    store.set('ok');
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'rotated' });
  });

  it('rotate: a change run twice by the driver (the second refused) is this rotation, not a CONFLICT', async () => {
    const inner = memoryAdapter();
    const adapter: KeyAdapter = {
      ...inner,
      async modify(id, changes, condition) {
        await inner.modify!(id, changes, condition);
        // ioredis re-sends after a reconnect: the second run sees the new hash.
        return inner.modify!(id, changes, condition);
      },
    };
    const { keymint } = fastKeymint({ adapter });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const rotated = await keymint.rotateApiKey(apiKey.id);
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
  });
});

describe('verification of rotated keys', () => {
  /** An HMAC hasher that counts verify() calls. */
  function counting(): Hasher & { verifies: () => number } {
    const inner = hmacSha256Hasher(HMAC_SECRET);
    let verifies = 0;
    return {
      fast: true,
      hash: (secret) => inner.hash(secret),
      verify: (hash, secret) => {
        verifies++;
        return inner.verify(hash, secret);
      },
      verifies: () => verifies,
    };
  }

  it('caches the old and the new key side by side during the grace period', async () => {
    const hasher = counting();
    const { keymint } = fastKeymint({ hasher });
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const rotated = await keymint.rotateApiKey(apiKey.id, { gracePeriod: '10m' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
    const counted = hasher.verifies();
    for (let i = 0; i < 5; i++) {
      expect((await keymint.verifyKey(key)).valid).toBe(true);
      expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
    }
    expect(hasher.verifies()).toBe(counted);
  });

  it('answers rotated from the cache once the grace period ends, without hashing again', async () => {
    const hasher = counting();
    const { keymint, clock } = fastKeymint({ hasher });
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    // Within the cache's 30 s freshness bound.
    await keymint.rotateApiKey(apiKey.id, { gracePeriod: '10s' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    const counted = hasher.verifies();
    clock.advance(10_000);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'rotated' });
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'rotated' });
    expect(hasher.verifies()).toBe(counted);
  });

  it('reports a wrong secret for a rotated key as not_found', async () => {
    const { keymint } = fastKeymint();
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await keymint.rotateApiKey(apiKey.id, { gracePeriod: '1m' });
    const other = await keymint.createApiKey({ name: 'other', role: 'Viewer', ttl: '1h' });
    const secret = other.key.split('_')[2]!.slice(0, KEY_SECRET_LENGTH);
    const forged = withChecksum(`km_${apiKey.id}_${secret}`);
    expect(forged).not.toBe(key);
    expect(await keymint.verifyKey(forged)).toEqual({ valid: false, reason: 'not_found' });
  });

  it('reaches a second instance over the same adapter at once (pushed)', async () => {
    const adapter = memoryAdapter();
    const a = fastKeymint({ adapter });
    const b = fastKeymint({ adapter, now: a.clock.now }).keymint;
    const { key, apiKey } = await a.keymint.createApiKey({ name: 'ci', role: 'Admin', ttl: '1h' });
    expect((await b.verifyKey(key, { role: 'Admin' })).valid).toBe(true);
    await flush();
    await a.keymint.updateApiKey(apiKey.id, { role: 'Viewer' });
    expect(await b.verifyKey(key, { role: 'Admin' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });
    await a.keymint.rotateApiKey(apiKey.id);
    expect(await b.verifyKey(key)).toEqual({ valid: false, reason: 'rotated' });
  });

  it('a proof of the old secret does not survive a rotation: revalidation hashes and answers rotated', async () => {
    // No push between the two instances: B learns of the rotation when its entry ages out.
    const { subscribe: _none, ...adapter } = memoryAdapter();
    const a = fastKeymint({ adapter });
    const hasher = counting();
    const b = fastKeymint({ adapter, hasher, now: a.clock.now }).keymint;
    const { key, apiKey } = await a.keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect((await b.verifyKey(key)).valid).toBe(true);
    a.clock.advance(31_000);
    const verified = hasher.verifies();
    // Revalidated without hashing: the stored hash is the one B proved.
    expect((await b.verifyKey(key)).valid).toBe(true);
    expect(hasher.verifies()).toBe(verified);
    await a.keymint.rotateApiKey(apiKey.id);
    expect((await b.verifyKey(key)).valid).toBe(true); // cached, within cache.ttl
    a.clock.advance(31_000);
    expect(await b.verifyKey(key)).toEqual({ valid: false, reason: 'rotated' });
    expect(hasher.verifies()).toBe(verified + 2); // the current secret, then the previous one
  });

  it('never lets a rehash of the old secret, landing after a rotation, undo it', async () => {
    const base = hmacSha256Hasher(HMAC_SECRET);
    // Hashes made before the upgrade start with 'old:', and need a rehash; the first hash()
    // (the rehash of the old secret, started by a verification) is slow.
    let slow = true;
    let rehashes = 0;
    const upgraded: Hasher = {
      fast: true,
      needsRehash: (hash) => hash.startsWith('old:'),
      hash: async (secret) => {
        const wait = slow;
        slow = false;
        if (wait) {
          rehashes++;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return base.hash(secret);
      },
      verify: (hash, secret) => base.verify(hash.replace(/^old:/, ''), secret),
    };
    const adapter = memoryAdapter();
    const before = fastKeymint({
      adapter,
      hasher: { ...base, hash: async (s) => `old:${await base.hash(s)}` },
    }).keymint;
    const { key, apiKey } = await before.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const errors: unknown[] = [];
    const { keymint } = fastKeymint({
      adapter,
      hasher: upgraded,
      cache: false,
      onBackgroundError: (error) => errors.push(error),
    });
    expect((await keymint.verifyKey(key)).valid).toBe(true); // starts the slow rehash
    const rotated = await keymint.rotateApiKey(apiKey.id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(rehashes).toBe(1);
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'rotated' });
    expect(errors).toEqual([]);
  });
});
