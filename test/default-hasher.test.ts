import { describe, expect, it, vi } from 'vitest';
import { ARGON2ID_OWASP_PARAMETERS, argon2idHasher, createKeymint } from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { formatKey } from '../src/core/key-format.js';

// End-to-end with the default argon2id hasher: no `hasher` option anywhere in this file.

const KEY_PREFIX = '$argon2id$v=19$m=256,t=8,p=1$';

describe('default argon2id hasher', () => {
  it('verifies a freshly created key', async () => {
    const keymint = createKeymint({ adapter: memoryAdapter() });
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(await keymint.verifyKey(key)).toEqual({ valid: true, apiKey });
  });

  it('reports not_found for the right id with a wrong secret', async () => {
    const keymint = createKeymint({ adapter: memoryAdapter() });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(await keymint.verifyKey(formatKey('km', apiKey.id).key)).toEqual({
      valid: false,
      reason: 'not_found',
    });
  });

  it('stores an argon2id hash with the key parameters (m=256, t=8, p=1)', async () => {
    const adapter = memoryAdapter();
    const keymint = createKeymint({ adapter });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    const stored = await adapter.findById(apiKey.id);
    expect(stored!.secretHash.startsWith(KEY_PREFIX)).toBe(true);
  });

  it('rehashes a key made with other parameters after a successful verify, and the key still verifies', async () => {
    const adapter = memoryAdapter();
    const weak = createKeymint({
      adapter,
      hasher: argon2idHasher({ memoryCost: 4096, timeCost: 1 }),
    });
    const { key, apiKey } = await weak.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    const before = (await adapter.findById(apiKey.id))!.secretHash;
    expect(before.startsWith('$argon2id$v=19$m=4096,t=1,p=1$')).toBe(true);

    const keymint = createKeymint({ adapter });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    await vi.waitFor(
      async () => {
        expect((await adapter.findById(apiKey.id))!.secretHash.startsWith(KEY_PREFIX)).toBe(true);
      },
      { timeout: 5_000, interval: 10 },
    );
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it("a key stored with OWASP's parameters (the earlier default) still verifies, is rehashed to the key parameters, and verifies after", async () => {
    const adapter = memoryAdapter();
    const before = createKeymint({ adapter, hasher: argon2idHasher(ARGON2ID_OWASP_PARAMETERS) });
    const { key, apiKey } = await before.createApiKey({ name: 'old', role: 'Editor', ttl: '1h' });
    expect((await adapter.findById(apiKey.id))!.secretHash).toMatch(
      /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/,
    );
    const keymint = createKeymint({ adapter });
    expect(await keymint.verifyKey(key)).toEqual({ valid: true, apiKey });
    await vi.waitFor(
      async () => {
        expect((await adapter.findById(apiKey.id))!.secretHash.startsWith(KEY_PREFIX)).toBe(true);
      },
      { timeout: 10_000, interval: 10 },
    );
    // A fresh instance (no proof, no cache) checks the new hash with the hasher.
    expect((await createKeymint({ adapter }).verifyKey(key)).valid).toBe(true);
  });

  it('a key stored with the earlier key parameters (2 MiB, t=1) still verifies, and is rehashed to 256 KiB, t=8', async () => {
    const adapter = memoryAdapter();
    const before = createKeymint({
      adapter,
      hasher: argon2idHasher({ memoryCost: 2_048, timeCost: 1, parallelism: 1 }),
    });
    const { key, apiKey } = await before.createApiKey({ name: 'old', role: 'Editor', ttl: '1h' });
    expect((await adapter.findById(apiKey.id))!.secretHash).toMatch(
      /^\$argon2id\$v=19\$m=2048,t=1,p=1\$/,
    );
    const keymint = createKeymint({ adapter });
    expect(await keymint.verifyKey(key)).toEqual({ valid: true, apiKey });
    await vi.waitFor(
      async () => {
        expect((await adapter.findById(apiKey.id))!.secretHash.startsWith(KEY_PREFIX)).toBe(true);
      },
      { timeout: 5_000, interval: 10 },
    );
    expect((await createKeymint({ adapter }).verifyKey(key)).valid).toBe(true);
  });

  it('does not rehash a key whose hash already has the current parameters', async () => {
    const adapter = memoryAdapter();
    const keymint = createKeymint({ adapter });
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    const before = (await adapter.findById(apiKey.id))!.secretHash;
    // A barrier: a key with other parameters, verified after this one, is rehashed; a rehash of
    // this key would have been started first (the check is made on verify), so it has landed too.
    const other = createKeymint({
      adapter,
      hasher: argon2idHasher({ memoryCost: 4096, timeCost: 1 }),
    });
    const stale = await other.createApiKey({ name: 'stale', role: 'Editor', ttl: '1h' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect((await keymint.verifyKey(stale.key)).valid).toBe(true);
    await vi.waitFor(
      async () => {
        const rehashed = (await adapter.findById(stale.apiKey.id))!.secretHash;
        expect(rehashed.startsWith(KEY_PREFIX)).toBe(true);
      },
      { timeout: 5_000, interval: 10 },
    );
    expect((await adapter.findById(apiKey.id))!.secretHash).toBe(before);
  });
});
