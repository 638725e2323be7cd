import { expect, it } from 'vitest';
import type { GroupBody } from '../conformance.js';

const HOUR = 3_600_000;

const update: GroupBody = ({ adapter, record, now }) => {
  it('sets lastUsedAt, returns the updated record and changes nothing else', async () => {
    const stored = record({ metadata: { a: 1 } });
    await adapter().insert(stored);
    const at = new Date(now() + 61_001);
    const updated = await adapter().update(stored.id, { lastUsedAt: at });
    expect(updated).toEqual({ ...stored, lastUsedAt: at });
    expect(await adapter().findById(stored.id)).toEqual({ ...stored, lastUsedAt: at });
    const later = new Date(now() + 3_600_001);
    expect((await adapter().update(stored.id, { lastUsedAt: later }))?.lastUsedAt).toEqual(later);
  });

  it('keeps the later lastUsedAt: an older write that lands late changes nothing', async () => {
    const stored = record();
    await adapter().insert(stored);
    const newer = new Date(now() + 120_000);
    const older = new Date(now() + 60_000);
    expect((await adapter().update(stored.id, { lastUsedAt: newer }))?.lastUsedAt).toEqual(newer);
    expect((await adapter().update(stored.id, { lastUsedAt: older }))?.lastUsedAt).toEqual(newer);
    expect((await adapter().findById(stored.id))?.lastUsedAt).toEqual(newer);
  });

  it('keeps a revocation that races 20 last-used writes', async () => {
    const stored = record();
    await adapter().insert(stored);
    const revokedAt = new Date(now() + 500);
    const writes = Array.from({ length: 20 }, (_, i) =>
      adapter().update(stored.id, { lastUsedAt: new Date(now() + 1_000 + i) }),
    );
    writes.splice(10, 0, adapter().update(stored.id, { revokedAt }));
    await Promise.all(writes);
    const found = await adapter().findById(stored.id);
    expect(found?.revokedAt).toEqual(revokedAt);
    expect(found?.lastUsedAt).toEqual(new Date(now() + 1_019));
  });

  it('does not bring back a record deleted while last-used writes were in flight', async () => {
    const stored = record();
    await adapter().insert(stored);
    const writes = Array.from({ length: 10 }, (_, i) =>
      adapter().update(stored.id, { lastUsedAt: new Date(now() + 1_000 + i) }),
    );
    const [deleted] = await Promise.all([adapter().delete(stored.id), ...writes]);
    expect(deleted).toBe(true);
    expect(await adapter().findById(stored.id)).toBeNull();
    expect(await adapter().list({ scope: stored.scope, limit: 10 })).toEqual([]);
  });

  it('keeps the first revokedAt: a second revocation changes nothing', async () => {
    const stored = record();
    await adapter().insert(stored);
    const first = new Date(now() + 1_001);
    expect((await adapter().update(stored.id, { revokedAt: first }))?.revokedAt).toEqual(first);
    const second = await adapter().update(stored.id, { revokedAt: new Date(now() + 9_999) });
    expect(second?.revokedAt).toEqual(first);
    expect((await adapter().findById(stored.id))?.revokedAt).toEqual(first);
  });

  it('gives 20 concurrent revocations one winner that every caller sees', async () => {
    const stored = record();
    await adapter().insert(stored);
    const times = Array.from({ length: 20 }, (_, i) => new Date(now() + 1_000 + i));
    const results = await Promise.all(
      times.map((t) => adapter().update(stored.id, { revokedAt: t })),
    );
    const winner = (await adapter().findById(stored.id))?.revokedAt;
    expect(times.map((t) => t.getTime())).toContain(winner?.getTime());
    for (const result of results) expect(result?.revokedAt).toEqual(winner);
  });

  it('replaces secretHash (a rehash), and applies a combined patch at once', async () => {
    const stored = record();
    await adapter().insert(stored);
    expect((await adapter().update(stored.id, { secretHash: 'rehashed' }))?.secretHash).toBe(
      'rehashed',
    );
    const at = new Date(now() + 5);
    const both = await adapter().update(stored.id, { lastUsedAt: at, revokedAt: at });
    expect(both).toEqual({ ...stored, secretHash: 'rehashed', lastUsedAt: at, revokedAt: at });
  });

  it('returns the record unchanged for an empty patch', async () => {
    const stored = record({ lastUsedAt: new Date(now() + 1) });
    await adapter().insert(stored);
    expect(await adapter().update(stored.id, {})).toEqual(stored);
  });
};

const remove: GroupBody = ({ adapter, record }) => {
  it('deletes a record once: true, then gone, then false', async () => {
    const stored = record();
    const other = record();
    await adapter().insert(stored);
    await adapter().insert(other);
    expect(await adapter().delete(stored.id)).toBe(true);
    expect(await adapter().findById(stored.id)).toBeNull();
    expect(await adapter().delete(stored.id)).toBe(false);
    expect(await adapter().update(stored.id, { lastUsedAt: new Date() })).toBeNull();
    expect(await adapter().list({ scope: 'default', limit: 10 })).toEqual([other]);
    expect(await adapter().findById(other.id)).toEqual(other);
  });
};

const purge: GroupBody = ({ adapter, record, now }) => {
  it('deleteExpired() removes keys expired at or before the instant, in every scope', async () => {
    const cutoff = now() + 2 * HOUR;
    const gone = [
      record({ name: 'long ago', expiresAt: new Date(now() - HOUR) }),
      record({ name: 'just before', expiresAt: new Date(cutoff - 1), scope: 'org-b' }),
      record({ name: 'exactly then', expiresAt: new Date(cutoff) }),
    ];
    const kept = [
      record({ name: 'just after', expiresAt: new Date(cutoff + 1) }),
      record({ name: 'never', expiresAt: null }),
      record({
        name: 'revoked, not expired',
        revokedAt: new Date(now()),
        expiresAt: new Date(cutoff + HOUR),
      }),
    ];
    for (const r of [...gone, ...kept]) expect(await adapter().insert(r)).toEqual({ ok: true });
    expect(await adapter().deleteExpired(new Date(cutoff))).toBe(3);
    for (const r of gone) expect(await adapter().findById(r.id)).toBeNull();
    for (const r of kept) expect(await adapter().findById(r.id)).toEqual(r);
    expect(await adapter().deleteExpired(new Date(cutoff))).toBe(0);
  });

  it('frees the names of purged keys', async () => {
    const old = record({ name: 'nightly', expiresAt: new Date(now() - 1) });
    await adapter().insert(old);
    expect(await adapter().insert(record({ name: 'nightly' }))).toEqual({
      ok: false,
      conflict: 'name',
    });
    expect(await adapter().deleteExpired(new Date(now()))).toBe(1);
    const fresh = record({ name: 'nightly' });
    expect(await adapter().insert(fresh)).toEqual({ ok: true });
    expect(await adapter().list({ scope: 'default', limit: 10 })).toEqual([fresh]);
  });

  it('purges more keys than fit in one batch', async () => {
    const many = Array.from({ length: 1_200 }, (_, i) =>
      record({ name: `old ${i}`, expiresAt: new Date(now() - 1_000 - i) }),
    );
    for (let i = 0; i < many.length; i += 200) {
      await Promise.all(many.slice(i, i + 200).map((r) => adapter().insert(r)));
    }
    const keep = record({ name: 'keep' });
    await adapter().insert(keep);
    expect(await adapter().deleteExpired(new Date(now()))).toBe(1_200);
    expect(await adapter().list({ scope: 'default', limit: 1000 })).toEqual([keep]);
  });
};

export const changesGroups = { update, delete: remove, purge };
