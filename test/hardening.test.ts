// Failure modes found in review: each test here failed before its fix.
import { describe, expect, it } from 'vitest';
import {
  createKeymint,
  hmacSha256Hasher,
  type Hasher,
  type KeyAdapter,
  type KeyChanges,
  type KeyPatch,
} from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import {
  expectCode,
  expectThrowsCode,
  fastKeymint,
  flush,
  HMAC_SECRET,
  keymintOverBrokenStore,
} from './helpers.js';

const hmac = () => hmacSha256Hasher(HMAC_SECRET);

describe('misspelt options fail instead of switching a check off', () => {
  it('createKeymint() refuses an unknown option such as authorise', () => {
    const error = expectThrowsCode(
      () =>
        createKeymint({
          adapter: memoryAdapter(),
          authorise: () => false,
        } as unknown as Parameters<typeof createKeymint>[0]),
      'CONFIG',
    );
    expect(error.message).toContain('authorise');
  });

  it('verifyKey() refuses an unknown option such as minRole rather than skipping the role check', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({ name: 'v', role: 'Viewer', ttl: '1h' });
    await expectCode(keymint.verifyKey(key, { minRole: 'Admin' } as never), 'INVALID_INPUT');
  });

  it('createApiKey() refuses a misspelt scope rather than creating the key in the default scope', async () => {
    const { keymint } = fastKeymint();
    await expectCode(
      keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h', scop: 'org-2' } as never),
      'INVALID_INPUT',
    );
    expect(await keymint.listApiKeys({ includeExpired: true })).toEqual([]);
  });

  it('listApiKeys() refuses a misspelt scope rather than listing the default scope', async () => {
    const { keymint } = fastKeymint();
    await expectCode(keymint.listApiKeys({ scop: 'org-2' } as never), 'INVALID_INPUT');
  });
});

describe('expiry fails closed', () => {
  it('verifyKey() throws STORE_FAILURE when the store returns an invalid expiresAt Date', async () => {
    const { keymint, key } = await keymintOverBrokenStore((r) => ({
      ...r,
      expiresAt: new Date('garbage'),
    }));
    await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
  });

  it('verifyKey() throws STORE_FAILURE when the store returns an invalid createdAt', async () => {
    const { keymint, key } = await keymintOverBrokenStore((r) => ({
      ...r,
      createdAt: new Date(Number.NaN),
    }));
    await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
  });

  it('verifyKey() throws STORE_FAILURE when the store returns lastUsedAt as a string', async () => {
    const { keymint, key } = await keymintOverBrokenStore((r) => ({
      ...r,
      lastUsedAt: '2030-01-01',
    }));
    await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
  });

  it('createApiKey() refuses when the expiry would be past the last valid Date', async () => {
    const adapter = memoryAdapter();
    const keymint = createKeymint({
      adapter,
      hasher: hmac(),
      now: () => new Date(8.64e15 - 1_000),
    });
    await expectCode(keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h' }), 'CONFIG');
    expect(await adapter.list({ scope: 'default', limit: 10 })).toEqual([]);
  });

  it('a non-expiring key reports expired once the host no longer allows non-expiring keys', async () => {
    const adapter = memoryAdapter();
    const allowing = createKeymint({ adapter, hasher: hmac(), allowNonExpiring: true });
    const { key } = await allowing.createApiKey({ name: 'forever', role: 'Viewer', ttl: null });
    expect((await allowing.verifyKey(key)).valid).toBe(true);
    const strict = createKeymint({ adapter, hasher: hmac() });
    expect(await strict.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
  });
});

describe('messages never carry a key passed in the wrong place', () => {
  it('INVALID_ROLE does not echo a key passed as the minimum role', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '1h' });
    const error = await expectCode(keymint.verifyKey(key, { role: key }), 'INVALID_ROLE');
    expect(error.message).not.toContain(key.slice(16, 24));
    expect(error.message).toContain('Viewer, Editor, Admin');
  });

  it('INVALID_ROLE does not echo a key passed as the role of a new key', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '1h' });
    const error = await expectCode(
      keymint.createApiKey({ name: 'j', role: key, ttl: '1h' }),
      'INVALID_ROLE',
    );
    expect(error.message).not.toContain(key.slice(16, 24));
  });

  it('INVALID_TTL does not echo a key passed as the time to live, but does echo a short input', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '1h' });
    const error = await expectCode(
      keymint.createApiKey({ name: 'j', role: 'Viewer', ttl: key }),
      'INVALID_TTL',
    );
    expect(error.message).not.toContain(key.slice(16, 24));
    const short = await expectCode(
      keymint.createApiKey({ name: 'j', role: 'Viewer', ttl: '1h30m' }),
      'INVALID_TTL',
    );
    expect(short.message).toContain('"1h30m"');
  });
});

describe('background work after verify', () => {
  /** v1 hashes are upgraded to v2; both verify. Counts hash() calls. */
  function versionedHasher(version: 'v1' | 'v2', calls: { hash: number }): Hasher {
    const inner = hmac();
    return {
      async hash(secret) {
        calls.hash++;
        return `${version}:${await inner.hash(secret)}`;
      },
      async verify(hash, secret) {
        return inner.verify(hash.slice(3), secret);
      },
      needsRehash: (hash) => !hash.startsWith(`${version}:`),
    };
  }

  it('50 concurrent verifies of a key that needs a rehash hash it once and write it once', async () => {
    const inner = memoryAdapter();
    const calls = { hash: 0 };
    const old = createKeymint({ adapter: inner, hasher: versionedHasher('v1', calls) });
    const { key, apiKey } = await old.createApiKey({ name: 'r', role: 'Viewer', ttl: '1h' });
    const writes: (KeyPatch | KeyChanges)[] = [];
    const adapter: KeyAdapter = {
      ...inner,
      update: (id, patch) => {
        writes.push(patch);
        return inner.update(id, patch);
      },
      // The rehash is written with modify(), conditional on the old hash.
      modify: (id, changes, condition) => {
        writes.push(changes);
        expect(condition?.secretHash?.startsWith('v1:')).toBe(true);
        return inner.modify!(id, changes, condition);
      },
    };
    calls.hash = 0;
    const upgraded = createKeymint({ adapter, hasher: versionedHasher('v2', calls) });
    const results = await Promise.all(Array.from({ length: 50 }, () => upgraded.verifyKey(key)));
    expect(results.every((r) => r.valid)).toBe(true);
    for (let i = 0; i < 5; i++) await flush();
    expect(calls.hash).toBe(1);
    expect(writes.filter((w) => w.secretHash !== undefined)).toHaveLength(1);
    expect((await inner.findById(apiKey.id))!.secretHash.startsWith('v2:')).toBe(true);
    expect((await upgraded.verifyKey(key)).valid).toBe(true);
  });

  it('a throwing needsRehash() does not fail a valid verify; it is reported as HASHER_FAILURE', async () => {
    const reported: unknown[] = [];
    const base = hmac();
    const { keymint } = fastKeymint({
      hasher: {
        hash: (s) => base.hash(s),
        verify: (h, s) => base.verify(h, s),
        needsRehash: () => {
          throw new Error('boom');
        },
      },
      onBackgroundError: (error) => reported.push(error),
    });
    const { key } = await keymint.createApiKey({ name: 'n', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ code: 'HASHER_FAILURE' });
  });
});

describe('input that breaks JSON checks is still INVALID_INPUT', () => {
  it('cyclic metadata is INVALID_INPUT and stores nothing', async () => {
    const { keymint } = fastKeymint();
    const metadata: Record<string, unknown> = {};
    metadata.self = metadata;
    await expectCode(
      keymint.createApiKey({ name: 'c', role: 'Viewer', ttl: '1h', metadata }),
      'INVALID_INPUT',
    );
    expect(await keymint.listApiKeys()).toEqual([]);
  });

  it('metadata nested 20,000 levels deep is INVALID_INPUT', async () => {
    const { keymint } = fastKeymint();
    let metadata: Record<string, unknown> = {};
    for (let i = 0; i < 20_000; i++) metadata = { a: metadata };
    await expectCode(
      keymint.createApiKey({ name: 'd', role: 'Viewer', ttl: '1h', metadata }),
      'INVALID_INPUT',
    );
  });
});

it('createKeymint() reports a bad lastUsedInterval by its own name', () => {
  const error = expectThrowsCode(
    () => createKeymint({ adapter: memoryAdapter(), lastUsedInterval: '1.5m' }),
    'CONFIG',
  );
  expect(error.message).toContain('lastUsedInterval');
});
