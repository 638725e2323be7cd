// A keymint instance over an adapter that pushes invalidations must (1) keep receiving them as
// long as any method taken from it is in use, and (2) not be kept alive by the adapter once the
// host has dropped it. Both need a real garbage collection.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { createKeymint, hmacSha256Hasher, type KeyAdapter } from '../src/index.js';
import { HMAC_SECRET } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// lastUsedDelayMs 0: a queued last-used write (a timer) would keep an instance alive meanwhile.
const make = (adapter: KeyAdapter) =>
  createKeymint({
    adapter,
    hasher: hmacSha256Hasher(HMAC_SECRET),
    cache: { ttl: '1h' },
    lastUsedDelayMs: 0,
  });

describe('instance lifetime with pushed invalidations', () => {
  it('a host that keeps only verifyKey still gets revocations pushed', async () => {
    const adapter = memoryAdapter();
    const admin = make(adapter);
    const { key, apiKey } = await admin.createApiKey({ name: 'k', role: 'Viewer', ttl: '2h' });
    let collected = false;
    const registry = new FinalizationRegistry(() => (collected = true));
    const verifyKey = (() => {
      const instance = make(adapter);
      registry.register(instance, 'instance');
      return instance.verifyKey;
    })();
    expect((await verifyKey(key)).valid).toBe(true); // cached
    await collect();
    expect(collected).toBe(true); // the instance object is gone, its verifyKey is not
    await admin.revokeApiKey(apiKey.id);
    expect(await verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('dropped instances and their caches are collected although the adapter holds their listeners', async () => {
    const adapter = memoryAdapter();
    const admin = make(adapter);
    const keys: string[] = [];
    for (let i = 0; i < 100; i++) {
      const { key } = await admin.createApiKey({
        name: `k${i}`,
        role: 'Viewer',
        ttl: '2h',
        metadata: { pad: 'x'.repeat(4_000) },
      });
      keys.push(key);
    }
    // In a function of its own, so that no frame of this test keeps the last instance.
    const dropped = async () => {
      const instance = make(adapter);
      for (const key of keys) await instance.verifyKey(key); // 100 entries, about 0.5 MB
      return new WeakRef(instance);
    };
    await collect();
    const before = process.memoryUsage().heapUsed;
    const refs: WeakRef<object>[] = [];
    for (let i = 0; i < 40; i++) refs.push(await dropped()); // about 20 MB if kept
    await new Promise((resolve) => setImmediate(resolve));
    await collect();
    expect(refs.filter((ref) => ref.deref() !== undefined)).toEqual([]);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(5 * 1024 * 1024);
  });
});
