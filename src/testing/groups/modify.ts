import { expect, it } from 'vitest';
import type { KeyAdapter, ModifyResult, StoredApiKey } from '../../adapter.js';
import type { GroupBody } from '../conformance.js';

const HOUR = 3_600_000;

/** The adapter's modify(), or a failure that says how to leave the groups out. */
export function modifyOf(adapter: KeyAdapter): NonNullable<KeyAdapter['modify']> {
  if (typeof adapter.modify !== 'function') {
    throw new Error(
      "This adapter has no modify(): updateApiKey() and rotateApiKey() need it. Add 'modify' and 'rotation' to the skip option if it is not meant to have one.",
    );
  }
  return adapter.modify.bind(adapter);
}

const okWith = (record: StoredApiKey): ModifyResult => ({ ok: true, record });

const modify: GroupBody = ({ adapter, record, now, slowTimeout }) => {
  it('applies every field of a change at once, returns the record and keeps the rest', async () => {
    const change = modifyOf(adapter());
    const stored = record({ metadata: { a: 1 }, lastUsedAt: new Date(now() + 9) });
    await adapter().insert(stored);
    const changes = {
      name: 'renamed ü 🔑',
      role: 'Admin',
      metadata: { b: [1, 2], c: { d: null } },
      expiresAt: new Date(now() + 5 * HOUR + 1),
      ttlSeconds: 18_000,
      secretHash: 'hash-new',
      previousSecretHash: stored.secretHash,
      previousSecretExpiresAt: new Date(now() + 60_001),
      rotatedAt: new Date(now() + 1),
    };
    const expected = { ...stored, ...changes };
    expect(await change(stored.id, changes)).toEqual(okWith(expected));
    expect(await adapter().findById(stored.id)).toEqual(expected);
    expect(await adapter().list({ scope: 'default', limit: 10 })).toEqual([expected]);
  });

  it('stores null where a change says null, and leaves absent fields alone', async () => {
    const change = modifyOf(adapter());
    const stored = record({
      metadata: { a: 1 },
      ttlSeconds: 3_600,
      previousSecretHash: 'hash-old',
      previousSecretExpiresAt: new Date(now() + 7),
      rotatedAt: new Date(now() + 3),
    });
    await adapter().insert(stored);
    const cleared = {
      metadata: null,
      expiresAt: null,
      ttlSeconds: null,
      previousSecretHash: null,
      previousSecretExpiresAt: null,
      rotatedAt: null,
    };
    expect(await change(stored.id, cleared)).toEqual(okWith({ ...stored, ...cleared }));
    expect(await adapter().findById(stored.id)).toEqual({ ...stored, ...cleared });
    expect(await change(stored.id, { role: 'Editor' })).toEqual(
      okWith({ ...stored, ...cleared, role: 'Editor' }),
    );
  });

  it('reports not_found for an unknown id and creates nothing', async () => {
    const change = modifyOf(adapter());
    expect(await change('unknownId000', { name: 'ghost' })).toEqual({
      ok: false,
      reason: 'not_found',
    });
    expect(await adapter().findById('unknownId000')).toBeNull();
    expect(await adapter().list({ scope: 'default', limit: 10 })).toEqual([]);
    expect(await adapter().insert(record({ name: 'ghost' }))).toEqual({ ok: true });
  });

  it('refuses to change a revoked record, leaving it and the new name untouched', async () => {
    const change = modifyOf(adapter());
    const stored = record({ revokedAt: new Date(now()) });
    await adapter().insert(stored);
    expect(
      await change(stored.id, { name: 'free name', role: 'Admin', secretHash: 'other' }),
    ).toEqual({ ok: false, reason: 'revoked' });
    expect(await adapter().findById(stored.id)).toEqual(stored);
    expect(await adapter().insert(record({ name: 'free name' }))).toEqual({ ok: true });
  });

  it('refuses a name another record of the scope has, and changes nothing else of that call', async () => {
    const change = modifyOf(adapter());
    const holder = record({ name: 'taken' });
    const other = record({ name: 'mine', metadata: { keep: true } });
    await adapter().insert(holder);
    await adapter().insert(other);
    expect(
      await change(other.id, {
        name: 'taken',
        role: 'Admin',
        metadata: null,
        expiresAt: new Date(now() + 2 * HOUR),
      }),
    ).toEqual({ ok: false, reason: 'name' });
    expect(await adapter().findById(other.id)).toEqual(other);
    expect(await adapter().findById(holder.id)).toEqual(holder);
    expect((await adapter().list({ scope: 'default', limit: 10 })).map((r) => r.name)).toEqual([
      'mine',
      'taken',
    ]);
  });

  it('renames: frees the old name, takes the new one, keeps the scope in list order', async () => {
    const change = modifyOf(adapter());
    const a = record({ name: 'a' });
    const c = record({ name: 'c' });
    const elsewhere = record({ name: 'z', scope: 'org-b' });
    for (const r of [a, c, elsewhere]) await adapter().insert(r);
    expect(await change(a.id, { name: 'z' })).toEqual(okWith({ ...a, name: 'z' }));
    expect(await change(c.id, { name: 'c' })).toEqual(okWith(c)); // its own name
    expect((await adapter().list({ scope: 'default', limit: 10 })).map((r) => r.name)).toEqual([
      'c',
      'z',
    ]);
    expect(await adapter().list({ scope: 'default', limit: 10, after: 'c' })).toEqual([
      { ...a, name: 'z' },
    ]);
    expect(await adapter().insert(record({ name: 'z' }))).toEqual({ ok: false, conflict: 'name' });
    const reuse = record({ name: 'a' });
    expect(await adapter().insert(reuse)).toEqual({ ok: true });
    expect(await adapter().findById(elsewhere.id)).toEqual(elsewhere);
  });

  it('changes only while the secret hash is the one the condition names', async () => {
    const change = modifyOf(adapter());
    const stored = record();
    await adapter().insert(stored);
    expect(await change(stored.id, { secretHash: 'two' }, { secretHash: 'not it' })).toEqual({
      ok: false,
      reason: 'secret',
    });
    expect(await adapter().findById(stored.id)).toEqual(stored);
    expect(
      await change(stored.id, { secretHash: 'two' }, { secretHash: stored.secretHash }),
    ).toEqual(okWith({ ...stored, secretHash: 'two' }));
    expect(
      await change(stored.id, { secretHash: 'three' }, { secretHash: stored.secretHash }),
    ).toEqual({ ok: false, reason: 'secret' });
    expect((await adapter().findById(stored.id))?.secretHash).toBe('two');
  });

  it('reports revoked before secret, and secret before name', async () => {
    const change = modifyOf(adapter());
    const holder = record({ name: 'held' });
    const revoked = record({ revokedAt: new Date(now()) });
    const live = record();
    for (const r of [holder, revoked, live]) await adapter().insert(r);
    const all = { name: 'held', secretHash: 'x' };
    expect(await change(revoked.id, all, { secretHash: 'wrong' })).toEqual({
      ok: false,
      reason: 'revoked',
    });
    expect(await change(live.id, all, { secretHash: 'wrong' })).toEqual({
      ok: false,
      reason: 'secret',
    });
    expect(await change(live.id, all, { secretHash: live.secretHash })).toEqual({
      ok: false,
      reason: 'name',
    });
    expect(await adapter().findById(live.id)).toEqual(live);
  });

  it('moves a new expiry into deleteExpired() and list(activeAt)', async () => {
    const change = modifyOf(adapter());
    const extended = record({ name: 'extended', expiresAt: new Date(now() + HOUR) });
    const shortened = record({ name: 'shortened', expiresAt: new Date(now() + 3 * HOUR) });
    const forever = record({ name: 'forever', expiresAt: new Date(now() + HOUR) });
    for (const r of [extended, shortened, forever]) await adapter().insert(r);
    await change(extended.id, { expiresAt: new Date(now() + 4 * HOUR), ttlSeconds: 14_400 });
    await change(shortened.id, { expiresAt: new Date(now() + 30 * 60_000) });
    await change(forever.id, { expiresAt: null, ttlSeconds: null });
    const active = await adapter().list({
      scope: 'default',
      limit: 10,
      activeAt: new Date(now() + 2 * HOUR),
    });
    expect(active.map((r) => r.name)).toEqual(['extended', 'forever']);
    expect(await adapter().deleteExpired(new Date(now() + 2 * HOUR))).toBe(1);
    expect(await adapter().findById(shortened.id)).toBeNull();
    expect(await adapter().deleteExpired(new Date(now() + 100 * HOUR))).toBe(1);
    expect(await adapter().findById(extended.id)).toBeNull();
    expect((await adapter().findById(forever.id))?.expiresAt).toBeNull();
  });

  it('purges a renamed key by its new name, freeing both names', async () => {
    const change = modifyOf(adapter());
    const stored = record({ name: 'before', expiresAt: new Date(now() + HOUR) });
    await adapter().insert(stored);
    await change(stored.id, { name: 'after' });
    expect(await adapter().deleteExpired(new Date(now() + 2 * HOUR))).toBe(1);
    expect(await adapter().findById(stored.id)).toBeNull();
    expect(await adapter().list({ scope: 'default', limit: 10 })).toEqual([]);
    expect(await adapter().insert(record({ name: 'after' }))).toEqual({ ok: true });
    expect(await adapter().insert(record({ name: 'before' }))).toEqual({ ok: true });
  });

  it('returns fresh objects from modify()', async () => {
    const change = modifyOf(adapter());
    const stored = record({ metadata: { a: { b: 1 } } });
    await adapter().insert(stored);
    const metadata = { x: { y: 1 } };
    const result = await change(stored.id, { metadata });
    metadata.x.y = 2;
    if (!result.ok) throw new Error('modify failed');
    (result.record.metadata as { x: { y: number } }).x.y = 3;
    result.record.name = 'mutated';
    expect(await adapter().findById(stored.id)).toEqual({ ...stored, metadata: { x: { y: 1 } } });
  });

  it(
    'lets exactly one of 50 concurrent renames to one name win',
    async () => {
      const change = modifyOf(adapter());
      const racers = Array.from({ length: 50 }, (_, i) => record({ name: `racer ${i}` }));
      for (const r of racers) await adapter().insert(r);
      const results = await Promise.all(racers.map((r) => change(r.id, { name: 'contested' })));
      const winners = racers.filter((_, i) => results[i]!.ok);
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => !r.ok)).toEqual(
        Array.from({ length: 49 }, () => ({ ok: false, reason: 'name' })),
      );
      const listed = await adapter().list({ scope: 'default', limit: 100 });
      expect(listed.filter((r) => r.name === 'contested').map((r) => r.id)).toEqual([
        winners[0]!.id,
      ]);
      expect(listed).toHaveLength(50);
      const freed = record({ name: winners[0]!.name });
      expect(await adapter().insert(freed)).toEqual({ ok: true });
    },
    slowTimeout,
  );

  it(
    'lets exactly one of 25 renames and 25 inserts of one name win',
    async () => {
      const change = modifyOf(adapter());
      const renamed = Array.from({ length: 25 }, (_, i) => record({ name: `old ${i}` }));
      for (const r of renamed) await adapter().insert(r);
      const inserted = Array.from({ length: 25 }, () => record({ name: 'contested' }));
      const outcomes = await Promise.all([
        ...renamed.map(async (r) => (await change(r.id, { name: 'contested' })).ok),
        ...inserted.map(async (r) => (await adapter().insert(r)).ok),
      ]);
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const listed = await adapter().list({ scope: 'default', limit: 100 });
      expect(listed.filter((r) => r.name === 'contested')).toHaveLength(1);
      expect(listed).toHaveLength(25 + (outcomes.slice(25).some(Boolean) ? 1 : 0));
    },
    slowTimeout,
  );

  it('gives 20 concurrent changes under one condition one winner', async () => {
    const change = modifyOf(adapter());
    const stored = record();
    await adapter().insert(stored);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        change(stored.id, { secretHash: `next ${i}` }, { secretHash: stored.secretHash }),
      ),
    );
    const won = results.flatMap((r, i) => (r.ok ? [i] : []));
    expect(won).toHaveLength(1);
    expect(results.filter((r) => !r.ok)).toEqual(
      Array.from({ length: 19 }, () => ({ ok: false, reason: 'secret' })),
    );
    expect((await adapter().findById(stored.id))?.secretHash).toBe(`next ${won[0]}`);
  });

  it('keeps a revocation that races 20 changes: no change undoes it', async () => {
    const change = modifyOf(adapter());
    const stored = record();
    await adapter().insert(stored);
    const revokedAt = new Date(now() + 500);
    const changes: Promise<unknown>[] = Array.from({ length: 20 }, (_, i) =>
      change(stored.id, { role: `Role ${i}`, metadata: { i } }),
    );
    changes.splice(10, 0, adapter().update(stored.id, { revokedAt }));
    await Promise.all(changes);
    const found = await adapter().findById(stored.id);
    expect(found?.revokedAt).toEqual(revokedAt);
    expect(await change(stored.id, { role: 'Admin' })).toEqual({ ok: false, reason: 'revoked' });
    expect(await adapter().findById(stored.id)).toEqual(found);
  });
};

export const modifyGroups = { modify };
