import { expect, it } from 'vitest';
import type { InvalidationListener, KeyAdapter } from '../../adapter.js';
import type { GroupBody } from '../conformance.js';

/** The adapter's optional method, or a failure that says how to leave the group out. */
function capability<M extends 'touchMany' | 'subscribe' | 'countLive'>(
  adapter: KeyAdapter,
  method: M,
  group: string,
): NonNullable<KeyAdapter[M]> {
  const found = adapter[method];
  if (typeof found !== 'function') {
    throw new Error(
      `This adapter has no ${method}(): add '${group}' to the skip option if it is not meant to have one.`,
    );
  }
  return found.bind(adapter) as NonNullable<KeyAdapter[M]>;
}

const touchMany: GroupBody = ({ adapter, record, now }) => {
  it('writes every entry of a batch, only forward in time, and ignores unknown ids', async () => {
    const touch = capability(adapter(), 'touchMany', 'touch many');
    const a = record();
    const b = record({ lastUsedAt: new Date(now() + 120_000) });
    await adapter().insert(a);
    await adapter().insert(b);
    await touch([
      { id: a.id, lastUsedAt: new Date(now() + 60_001) },
      { id: b.id, lastUsedAt: new Date(now() + 60_002) }, // older than b's: ignored
      { id: 'unknownId000', lastUsedAt: new Date(now()) },
    ]);
    expect((await adapter().findById(a.id))?.lastUsedAt).toEqual(new Date(now() + 60_001));
    expect((await adapter().findById(b.id))?.lastUsedAt).toEqual(new Date(now() + 120_000));
    expect(await adapter().findById('unknownId000')).toBeNull();
    expect(await adapter().findById(a.id)).toEqual({
      ...a,
      lastUsedAt: new Date(now() + 60_001),
    });
  });

  it('accepts an empty batch and a batch of 500', async () => {
    const touch = capability(adapter(), 'touchMany', 'touch many');
    await touch([]);
    const records = Array.from({ length: 500 }, () => record());
    for (const r of records) await adapter().insert(r);
    await touch(records.map((r, i) => ({ id: r.id, lastUsedAt: new Date(now() + i) })));
    const last = records[499]!;
    expect((await adapter().findById(last.id))?.lastUsedAt).toEqual(new Date(now() + 499));
  });
};

/** Collects what a subscription delivers. */
function collector() {
  const ids: string[] = [];
  let resets = 0;
  const listener: InvalidationListener = {
    invalidate: (id) => ids.push(id),
    reset: () => resets++,
  };
  return { listener, ids, resets: () => resets };
}

async function eventually(check: () => void, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

const invalidation: GroupBody = ({ adapter, record, now }) => {
  it('delivers the id of a revoked key and of a deleted key, within a second', async () => {
    const subscribe = capability(adapter(), 'subscribe', 'invalidation');
    const seen = collector();
    const subscription = await subscribe(seen.listener);
    try {
      const revoked = record();
      const deleted = record();
      await adapter().insert(revoked);
      await adapter().insert(deleted);
      await adapter().update(revoked.id, { revokedAt: new Date(now()) });
      await adapter().delete(deleted.id);
      await eventually(() => expect(seen.ids).toEqual([revoked.id, deleted.id]), 1_000);
    } finally {
      await subscription.close();
    }
  });

  it('delivers the id of a key changed by modify() (an update, a rotation), within a second', async () => {
    const subscribe = capability(adapter(), 'subscribe', 'invalidation');
    if (typeof adapter().modify !== 'function') {
      throw new Error("This adapter has subscribe() but no modify(): add 'invalidation' to skip.");
    }
    const seen = collector();
    const subscription = await subscribe(seen.listener);
    try {
      const updated = record();
      const rotated = record();
      await adapter().insert(updated);
      await adapter().insert(rotated);
      await adapter().modify!(updated.id, { role: 'Admin' });
      await adapter().modify!(
        rotated.id,
        { secretHash: 'next', previousSecretHash: rotated.secretHash },
        { secretHash: rotated.secretHash },
      );
      // Refused changes publish nothing; a marker shows that anything sent before it arrived.
      await adapter().modify!('unknownId002', { role: 'Admin' });
      await adapter().modify!(rotated.id, { secretHash: 'again' }, { secretHash: 'not it' });
      const marker = record();
      await adapter().insert(marker);
      await adapter().delete(marker.id);
      await eventually(() => expect(seen.ids).toContain(marker.id), 1_000);
      expect(seen.ids).toEqual([updated.id, rotated.id, marker.id]);
    } finally {
      await subscription.close();
    }
  });

  it('delivers nothing for last-used or rehash updates, or for missing ids', async () => {
    const subscribe = capability(adapter(), 'subscribe', 'invalidation');
    const seen = collector();
    const subscription = await subscribe(seen.listener);
    try {
      const stored = record();
      await adapter().insert(stored);
      await adapter().update(stored.id, { lastUsedAt: new Date(now() + 1) });
      await adapter().update(stored.id, { secretHash: 'rehashed' });
      await adapter().delete('unknownId000');
      await adapter().update('unknownId001', { revokedAt: new Date(now()) });
      // A marker change last: once it arrives, anything sent before it has arrived too.
      const marker = record();
      await adapter().insert(marker);
      await adapter().delete(marker.id);
      await eventually(() => expect(seen.ids).toContain(marker.id));
      expect(seen.ids).toEqual([marker.id]);
    } finally {
      await subscription.close();
    }
  });

  it('stops delivering after close()', async () => {
    const subscribe = capability(adapter(), 'subscribe', 'invalidation');
    const closed = collector();
    const open = collector();
    const first = await subscribe(closed.listener);
    const second = await subscribe(open.listener);
    try {
      await first.close();
      const stored = record();
      await adapter().insert(stored);
      await adapter().delete(stored.id);
      await eventually(() => expect(open.ids).toEqual([stored.id]));
      expect(closed.ids).toEqual([]);
    } finally {
      await second.close();
    }
  });
};

const countLive: GroupBody = ({ adapter, record, now }) => {
  it("counts a scope's keys that are neither revoked nor expired at the given instant", async () => {
    const count = capability(adapter(), 'countLive', 'count live');
    const at = new Date(now());
    const live = [
      record({ scope: 'org-a' }),
      record({ scope: 'org-a', expiresAt: null }),
      record({ scope: 'org-a', expiresAt: new Date(now() + 1) }),
    ];
    const dead = [
      record({ scope: 'org-a', revokedAt: new Date(now() - 1) }),
      record({ scope: 'org-a', expiresAt: at }), // expires at the instant exactly: not live
      record({ scope: 'org-a', expiresAt: new Date(now() - 60_000) }),
      record({ scope: 'org-a', revokedAt: new Date(now() - 1), expiresAt: null }),
    ];
    const elsewhere = [record({ scope: 'org-b' }), record({ scope: 'org-a-b' })];
    for (const r of [...live, ...dead, ...elsewhere])
      expect(await adapter().insert(r)).toEqual({ ok: true });
    expect(await count('org-a', at)).toBe(3);
    expect(await count('org-b', at)).toBe(1);
    expect(await count('nobody', at)).toBe(0);
    // Later: the key expiring 1 ms after `at` is no longer live.
    expect(await count('org-a', new Date(now() + 1))).toBe(2);
  });

  it('follows revocations and deletions', async () => {
    const count = capability(adapter(), 'countLive', 'count live');
    const at = new Date(now());
    const a = record();
    const b = record();
    await adapter().insert(a);
    await adapter().insert(b);
    expect(await count('default', at)).toBe(2);
    await adapter().update(a.id, { revokedAt: at });
    expect(await count('default', at)).toBe(1);
    await adapter().delete(b.id);
    expect(await count('default', at)).toBe(0);
  });
};

export const optionalGroups = { 'touch many': touchMany, invalidation, 'count live': countLive };
