import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Hasher, KeyAdapter, StoredApiKey } from '../src/index.js';
import { formatKey } from '../src/core/key-format.js';
import {
  failingAdapter,
  fastKeymint,
  flush,
  keyParts,
  SECOND,
  type FaultyAdapter,
} from './helpers.js';

// Issue 12, items 1 and 2: a stale (or evicted) cache entry is revalidated against the store
// without the hasher when the stored hash is the one this process proved the key against; a hit
// in the last fifth of its freshness renews its entry in the background.

/** A salted hasher (a fresh salt per hash, as argon2id), counting its calls; not `fast`. */
function saltedHasher(): Hasher & { calls: { hash: number; verify: number } } {
  const calls = { hash: 0, verify: 0 };
  const digest = (salt: string, secret: string) =>
    createHash('sha256').update(salt).update(secret).digest('base64url');
  return {
    calls,
    async hash(secret) {
      calls.hash++;
      const salt = randomBytes(12).toString('base64url');
      return `salted$${salt}$${digest(salt, secret)}`;
    },
    async verify(hash, secret) {
      calls.verify++;
      const [scheme, salt, stored] = hash.split('$');
      if (scheme !== 'salted' || salt === undefined || stored === undefined) return false;
      const a = Buffer.from(stored);
      const b = Buffer.from(digest(salt, secret));
      return a.length === b.length && timingSafeEqual(a, b);
    },
  };
}

/** A 10 s cache over a store that pushes nothing (revocations elsewhere are not heard). */
async function setup(adapter: KeyAdapter = failingAdapter().adapter) {
  const hasher = saltedHasher();
  const errors: unknown[] = [];
  const made = fastKeymint({
    adapter,
    hasher,
    cache: { ttl: '10s' },
    onBackgroundError: (error) => errors.push(error),
  });
  const { key, apiKey } = await made.keymint.createApiKey({
    name: 'ci',
    role: 'Editor',
    ttl: '1h',
  });
  return { ...made, hasher, key, apiKey, errors };
}

/**
 * A store whose findById reads the record at once but answers only when released: a slow read
 * (what it returns is as of the call).
 */
function slowReads(faulty: FaultyAdapter) {
  let gate: Promise<void> | undefined;
  let reads = 0;
  const adapter: KeyAdapter = {
    ...faulty.adapter,
    async findById(id) {
      reads++;
      const record = await faulty.inner.findById(id);
      if (gate) await gate;
      return record;
    },
  };
  return {
    adapter,
    reads: () => reads,
    hold() {
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

const settled = <T>(promise: Promise<T>, ms = 1_000) =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(resolve, ms, 'pending'))]);

describe('revalidation without rehashing', () => {
  it('reads the store again after the freshness bound, but calls no hasher when the stored hash is the one proven', async () => {
    const faulty = failingAdapter();
    const { keymint, key, hasher, clock } = await setup(faulty.adapter);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(hasher.calls.verify).toBe(1);
    for (let i = 0; i < 3; i++) {
      clock.advance(11 * SECOND);
      expect((await keymint.verifyKey(key)).valid).toBe(true);
    }
    expect(faulty.calls.findById).toBe(4);
    expect(hasher.calls.verify).toBe(1);
  });

  it('verifies with the hasher, once, when the stored hash changed (rehashed elsewhere), then skips it again', async () => {
    const faulty = failingAdapter();
    const { keymint, key, apiKey, hasher, clock } = await setup(faulty.adapter);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    // Another instance rehashed the same secret: a different hash string, still matching.
    const rehashed = await saltedHasher().hash(keyParts(key).secret);
    await faulty.inner.update(apiKey.id, { secretHash: rehashed });
    clock.advance(11 * SECOND);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(hasher.calls.verify).toBe(2);
    clock.advance(11 * SECOND);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(hasher.calls.verify).toBe(2);
  });

  it('refuses the old key once the stored hash is of another secret (rotated, restored backup)', async () => {
    const faulty = failingAdapter();
    const { keymint, key, apiKey, hasher, clock } = await setup(faulty.adapter);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    await faulty.inner.update(apiKey.id, { secretHash: await hasher.hash('another secret') });
    clock.advance(11 * SECOND);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
    expect(hasher.calls.verify).toBe(2);
  });

  it('refuses a key revoked in the store (no push) when revalidating, without the hasher', async () => {
    const faulty = failingAdapter();
    const { keymint, key, apiKey, hasher, clock } = await setup(faulty.adapter);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    await faulty.inner.update(apiKey.id, { revokedAt: clock.now() });
    clock.advance(11 * SECOND);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    expect(hasher.calls.verify).toBe(1);
  });

  it('refuses an expired key when revalidating', async () => {
    const faulty = failingAdapter();
    const { keymint, hasher, clock } = await setup(faulty.adapter);
    const short = await keymint.createApiKey({ name: 'short', role: 'Viewer', ttl: '15s' });
    expect((await keymint.verifyKey(short.key)).valid).toBe(true);
    clock.advance(16 * SECOND);
    expect(await keymint.verifyKey(short.key)).toEqual({ valid: false, reason: 'expired' });
    expect(faulty.calls.findById).toBe(2);
    expect(hasher.calls.verify).toBe(1);
  });

  it('a key deleted and revoked through this instance loses its proof: a record put back is hashed again', async () => {
    const faulty = failingAdapter();
    const { keymint, key, apiKey, hasher, clock } = await setup(faulty.adapter);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    const record = (await faulty.inner.findById(apiKey.id)) as StoredApiKey;
    await keymint.deleteApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
    await faulty.inner.insert(record); // a restored backup
    clock.advance(11 * SECOND);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(hasher.calls.verify).toBe(2);
  });

  it('with cache: false, every verification still runs the hasher', async () => {
    const hasher = saltedHasher();
    const { keymint } = fastKeymint({ hasher, cache: false });
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    for (let i = 0; i < 3; i++) expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(hasher.calls.verify).toBe(3);
  });

  it('a wrong secret for a proven id is still hashed and refused', async () => {
    const { keymint, key, apiKey, hasher, clock } = await setup();
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    clock.advance(11 * SECOND);
    const wrong = formatKey('km', apiKey.id).key;
    expect(await keymint.verifyKey(wrong)).toEqual({ valid: false, reason: 'not_found' });
    expect(hasher.calls.verify).toBe(2);
  });
});

describe('refresh ahead', () => {
  it('a hit in the last fifth of the freshness bound is answered at once and renews the entry in the background', async () => {
    const faulty = failingAdapter();
    const slow = slowReads(faulty);
    const { keymint, key, clock } = await setup(slow.adapter);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(slow.reads()).toBe(1);
    const release = slow.hold();
    clock.advance(8.5 * SECOND);
    // Answered from the entry while the store read it started is still waiting.
    expect(await settled(keymint.verifyKey(key))).toMatchObject({ valid: true });
    expect(slow.reads()).toBe(2);
    release();
    await flush();
    // Past the first read's bound, the renewed entry (read at 8.5 s) answers: no store wait.
    clock.advance(3 * SECOND);
    const hold = slow.hold();
    expect(await settled(keymint.verifyKey(key))).toMatchObject({ valid: true });
    expect(slow.reads()).toBe(2);
    hold();
  });

  it('starts one refresh per entry however many hits land in the zone, and none for an entry not hit', async () => {
    const faulty = failingAdapter();
    const { keymint, key, clock } = await setup(faulty.adapter);
    const other = await keymint.createApiKey({ name: 'idle', role: 'Viewer', ttl: '1h' });
    await keymint.verifyKey(key);
    await keymint.verifyKey(other.key);
    const release = faulty.hold('findById');
    clock.advance(9 * SECOND);
    const hits = await Promise.all(Array.from({ length: 20 }, () => keymint.verifyKey(key)));
    expect(hits.every((r) => r.valid)).toBe(true);
    expect(faulty.calls.findById).toBe(3); // two first reads, one refresh
    release();
    await flush();
    expect(faulty.calls.findById).toBe(3);
  });

  it('a store failure during a refresh goes to onBackgroundError, never to the caller', async () => {
    const faulty = failingAdapter();
    const { keymint, key, clock, errors } = await setup(faulty.adapter);
    await keymint.verifyKey(key);
    faulty.fail('findById');
    clock.advance(9 * SECOND);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    await flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'STORE_FAILURE' });
    // Served until its bound, then the failure is the caller's (fail closed).
    clock.advance(1 * SECOND);
    await expect(keymint.verifyKey(key)).rejects.toMatchObject({ code: 'STORE_FAILURE' });
  });

  it('a refresh that finds the key revoked (no push) refuses it before the bound', async () => {
    const faulty = failingAdapter();
    const { keymint, key, apiKey, clock } = await setup(faulty.adapter);
    await keymint.verifyKey(key);
    await faulty.inner.update(apiKey.id, { revokedAt: clock.now() });
    clock.advance(9 * SECOND);
    expect((await keymint.verifyKey(key)).valid).toBe(true); // the entry; the refresh starts
    await flush();
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('keeps the revocation bound: a revoke elsewhere (no push) during a slow refresh is refused once the bound of the refresh read passes', async () => {
    const faulty = failingAdapter();
    const slow = slowReads(faulty);
    const { keymint, key, apiKey, clock } = await setup(slow.adapter);
    await keymint.verifyKey(key); // read at 0, fresh until 10 s
    const release = slow.hold();
    clock.advance(8.5 * SECOND);
    expect((await keymint.verifyKey(key)).valid).toBe(true); // refresh reads at 8.5 s, slowly
    clock.advance(0.5 * SECOND);
    await faulty.inner.update(apiKey.id, { revokedAt: clock.now() }); // revoked at 9 s
    clock.advance(2 * SECOND); // 11 s: the refresh answers now, with what it read at 8.5 s
    release();
    await flush();
    // Within 10 s of the refresh's read, the key may still pass (the read preceded the revoke)...
    clock.advance(5 * SECOND); // 16 s
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    // ...but never 10 s after it: at 18.5 s (within 10 s of the revoke at 9 s) it is refused.
    clock.advance(2.5 * SECOND);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('a verification that joins a refresh begun more than the bound ago reads the store itself', async () => {
    const faulty = failingAdapter();
    const slow = slowReads(faulty);
    const { keymint, key, apiKey, clock } = await setup(slow.adapter);
    await keymint.verifyKey(key);
    const release = slow.hold();
    clock.advance(8.5 * SECOND);
    await keymint.verifyKey(key); // the refresh reads at 8.5 s and hangs
    await faulty.inner.update(apiKey.id, { revokedAt: clock.now() });
    clock.advance(11 * SECOND); // 19.5 s: the entry is stale, the refresh still in flight
    const late = keymint.verifyKey(key); // joins the refresh
    release();
    expect(await late).toEqual({ valid: false, reason: 'revoked' });
  });
});
