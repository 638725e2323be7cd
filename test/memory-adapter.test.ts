import { describe, expect, it } from 'vitest';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { describeAdapterConformance } from '../src/testing/index.js';
import { byCodePoint, HOUR, storedRecord, T0 } from './helpers.js';

describeAdapterConformance({ name: 'memory', createAdapter: () => memoryAdapter() });

let counter = 0;
/** A record with a fresh, unique, well-formed id. */
function rec(overrides: Parameters<typeof storedRecord>[0] = {}) {
  counter++;
  return storedRecord({ id: `ID${String(counter).padStart(10, '0')}`, ...overrides });
}

describe('memoryAdapter() insert and findById', () => {
  it('returns an inserted record equal to what was inserted', async () => {
    const adapter = memoryAdapter();
    const record = rec({
      metadata: { team: 'infra', tags: ['a'], deep: { n: 1 } },
      lastUsedAt: new Date(T0 + 5),
    });
    expect(await adapter.insert(record)).toEqual({ ok: true });
    expect(await adapter.findById(record.id)).toEqual(record);
  });

  it('returns a fresh copy, not the inserted object', async () => {
    const adapter = memoryAdapter();
    const record = rec({ metadata: { a: 1 } });
    await adapter.insert(record);
    const found = await adapter.findById(record.id);
    expect(found).not.toBe(record);
    expect(found!.createdAt).not.toBe(record.createdAt);
    expect(found!.metadata).not.toBe(record.metadata);
  });

  it('is not changed by mutating a returned record (fields, dates, metadata)', async () => {
    const adapter = memoryAdapter();
    const record = rec({ metadata: { nested: { a: 1 } } });
    await adapter.insert(record);
    const snapshot = structuredClone(record);
    const found = (await adapter.findById(record.id))!;
    found.name = 'changed';
    found.secretHash = 'changed';
    found.createdAt.setTime(0);
    found.expiresAt!.setTime(0);
    (found.metadata!.nested as { a: number }).a = 2;
    expect(await adapter.findById(record.id)).toEqual(snapshot);
  });

  it('is not changed by mutating the inserted object after insert', async () => {
    const adapter = memoryAdapter();
    const record = rec({ metadata: { nested: { a: 1 } } });
    const snapshot = structuredClone(record);
    await adapter.insert(record);
    record.role = 'Admin';
    record.createdAt.setTime(0);
    record.expiresAt!.setTime(0);
    (record.metadata!.nested as { a: number }).a = 2;
    expect(await adapter.findById(record.id)).toEqual(snapshot);
  });

  it('returns null from findById for an unknown id', async () => {
    const adapter = memoryAdapter();
    await adapter.insert(rec());
    expect(await adapter.findById('ZZZZZZZZZZZZ')).toBeNull();
  });

  it("refuses a second record with the same (scope, name) with conflict 'name' and stores nothing", async () => {
    const adapter = memoryAdapter();
    const first = rec({ name: 'ci' });
    const second = rec({ name: 'ci', role: 'Admin' });
    await adapter.insert(first);
    expect(await adapter.insert(second)).toEqual({ ok: false, conflict: 'name' });
    expect(await adapter.findById(second.id)).toBeNull();
    expect(await adapter.findById(first.id)).toEqual(first);
  });

  it("refuses a second record with the same id with conflict 'id' and keeps the first", async () => {
    const adapter = memoryAdapter();
    const first = rec({ name: 'a' });
    await adapter.insert(first);
    expect(await adapter.insert({ ...first, name: 'b' })).toEqual({ ok: false, conflict: 'id' });
    expect((await adapter.findById(first.id))!.name).toBe('a');
    expect((await adapter.list({ scope: 'default', limit: 10 })).map((r) => r.name)).toEqual(['a']);
  });

  it('allows the same name in two scopes', async () => {
    const adapter = memoryAdapter();
    expect(await adapter.insert(rec({ name: 'ci', scope: 'a' }))).toEqual({ ok: true });
    expect(await adapter.insert(rec({ name: 'ci', scope: 'b' }))).toEqual({ ok: true });
  });

  it('lets exactly one of many concurrent inserts with the same name win', async () => {
    const adapter = memoryAdapter();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => adapter.insert(rec({ name: 'race' }))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.conflict === 'name')).toHaveLength(19);
  });

  it('keeps separate stores for separate memoryAdapter() calls', async () => {
    const a = memoryAdapter();
    const b = memoryAdapter();
    const record = rec();
    await a.insert(record);
    expect(await b.findById(record.id)).toBeNull();
  });
});

describe('memoryAdapter() list', () => {
  it('returns only the given scope', async () => {
    const adapter = memoryAdapter();
    await adapter.insert(rec({ name: 'a', scope: 'one' }));
    await adapter.insert(rec({ name: 'b', scope: 'two' }));
    expect((await adapter.list({ scope: 'one', limit: 10 })).map((r) => r.name)).toEqual(['a']);
  });

  it('sorts by name in code point order (U+FF01 before an astral emoji, unlike UTF-16 order)', async () => {
    const adapter = memoryAdapter();
    const names = ['😀', '\uFF01', 'b', 'B', 'a', 'é', '\uD7FF', 'ab', 'z'];
    for (const name of names) await adapter.insert(rec({ name }));
    const listed = (await adapter.list({ scope: 'default', limit: 100 })).map((r) => r.name);
    expect(listed).toEqual([...names].sort(byCodePoint));
    expect(listed.slice(-2)).toEqual(['\uFF01', '😀']);
    // Plain string comparison (UTF-16 units) would have put the emoji first.
    expect([...names].sort().slice(-2)).toEqual(['😀', '\uFF01']);
  });

  it('returns at most limit records, the first ones by name', async () => {
    const adapter = memoryAdapter();
    for (const name of ['d', 'b', 'a', 'c']) await adapter.insert(rec({ name }));
    expect((await adapter.list({ scope: 'default', limit: 2 })).map((r) => r.name)).toEqual([
      'a',
      'b',
    ]);
  });

  it('returns only names strictly after `after` in code point order', async () => {
    const adapter = memoryAdapter();
    for (const name of ['a', 'b', '\uFF01', '😀']) await adapter.insert(rec({ name }));
    expect(
      (await adapter.list({ scope: 'default', limit: 10, after: 'b' })).map((r) => r.name),
    ).toEqual(['\uFF01', '😀']);
    expect(
      (await adapter.list({ scope: 'default', limit: 10, after: '\uFF01' })).map((r) => r.name),
    ).toEqual(['😀']);
  });

  it('with activeAt, leaves out records whose expiresAt is at or before it, and keeps non-expiring ones', async () => {
    const adapter = memoryAdapter();
    await adapter.insert(rec({ name: 'past', expiresAt: new Date(T0 - 1) }));
    await adapter.insert(rec({ name: 'now', expiresAt: new Date(T0) }));
    await adapter.insert(rec({ name: 'later', expiresAt: new Date(T0 + 1) }));
    await adapter.insert(rec({ name: 'never', expiresAt: null }));
    const listed = await adapter.list({ scope: 'default', limit: 10, activeAt: new Date(T0) });
    expect(listed.map((r) => r.name)).toEqual(['later', 'never']);
  });

  it('without activeAt, includes expired records', async () => {
    const adapter = memoryAdapter();
    await adapter.insert(rec({ name: 'past', expiresAt: new Date(T0 - HOUR) }));
    expect(await adapter.list({ scope: 'default', limit: 10 })).toHaveLength(1);
  });

  it('returns copies the caller may mutate without touching the store', async () => {
    const adapter = memoryAdapter();
    const record = rec({ metadata: { a: 1 } });
    await adapter.insert(record);
    const [listed] = await adapter.list({ scope: 'default', limit: 10 });
    listed!.name = 'changed';
    listed!.createdAt.setTime(0);
    listed!.metadata!.a = 2;
    expect(await adapter.findById(record.id)).toEqual(record);
  });
});

describe('memoryAdapter() update', () => {
  it('applies lastUsedAt, revokedAt and secretHash and returns the updated record', async () => {
    const adapter = memoryAdapter();
    const record = rec();
    await adapter.insert(record);
    const patch = {
      lastUsedAt: new Date(T0 + 1),
      revokedAt: new Date(T0 + 2),
      secretHash: 'new-hash',
    };
    const updated = await adapter.update(record.id, patch);
    const expected = { ...record, ...patch };
    expect(updated).toEqual(expected);
    expect(await adapter.findById(record.id)).toEqual(expected);
  });

  it('changes only the patched field', async () => {
    const adapter = memoryAdapter();
    const record = rec();
    await adapter.insert(record);
    await adapter.update(record.id, { lastUsedAt: new Date(T0 + 1) });
    expect(await adapter.findById(record.id)).toEqual({ ...record, lastUsedAt: new Date(T0 + 1) });
  });

  it('is not changed by mutating the patch dates afterwards', async () => {
    const adapter = memoryAdapter();
    const record = rec();
    await adapter.insert(record);
    const at = new Date(T0 + 1);
    await adapter.update(record.id, { revokedAt: at });
    at.setTime(0);
    expect((await adapter.findById(record.id))!.revokedAt).toEqual(new Date(T0 + 1));
  });

  it('returns null for an unknown id and creates nothing', async () => {
    const adapter = memoryAdapter();
    expect(await adapter.update('ZZZZZZZZZZZZ', { revokedAt: new Date(T0) })).toBeNull();
    expect(await adapter.findById('ZZZZZZZZZZZZ')).toBeNull();
  });
});

describe('memoryAdapter() delete', () => {
  it('deletes the record and returns true', async () => {
    const adapter = memoryAdapter();
    const record = rec();
    await adapter.insert(record);
    expect(await adapter.delete(record.id)).toBe(true);
    expect(await adapter.findById(record.id)).toBeNull();
  });

  it('returns false for an unknown id', async () => {
    const adapter = memoryAdapter();
    expect(await adapter.delete('ZZZZZZZZZZZZ')).toBe(false);
  });

  it('frees the name in its scope', async () => {
    const adapter = memoryAdapter();
    const record = rec({ name: 'ci' });
    await adapter.insert(record);
    await adapter.delete(record.id);
    expect(await adapter.insert(rec({ name: 'ci' }))).toEqual({ ok: true });
  });

  it('leaves the same name in another scope taken', async () => {
    const adapter = memoryAdapter();
    const a = rec({ name: 'ci', scope: 'a' });
    await adapter.insert(a);
    await adapter.insert(rec({ name: 'ci', scope: 'b' }));
    await adapter.delete(a.id);
    expect(await adapter.insert(rec({ name: 'ci', scope: 'b' }))).toEqual({
      ok: false,
      conflict: 'name',
    });
  });
});

describe('memoryAdapter() deleteExpired', () => {
  it('removes records with expiresAt at or before `before` and returns how many', async () => {
    const adapter = memoryAdapter();
    const past = rec({ name: 'past', expiresAt: new Date(T0 - 1) });
    const now = rec({ name: 'now', expiresAt: new Date(T0) });
    const later = rec({ name: 'later', expiresAt: new Date(T0 + 1) });
    for (const r of [past, now, later]) await adapter.insert(r);
    expect(await adapter.deleteExpired(new Date(T0))).toBe(2);
    expect(await adapter.findById(past.id)).toBeNull();
    expect(await adapter.findById(now.id)).toBeNull();
    expect(await adapter.findById(later.id)).toEqual(later);
  });

  it('keeps non-expiring records', async () => {
    const adapter = memoryAdapter();
    const never = rec({ name: 'never', expiresAt: null });
    await adapter.insert(never);
    expect(await adapter.deleteExpired(new Date(8.64e15))).toBe(0);
    expect(await adapter.findById(never.id)).toEqual(never);
  });

  it('frees the names of the removed records', async () => {
    const adapter = memoryAdapter();
    await adapter.insert(rec({ name: 'old', expiresAt: new Date(T0 - 1) }));
    await adapter.deleteExpired(new Date(T0));
    expect(await adapter.insert(rec({ name: 'old' }))).toEqual({ ok: true });
  });

  it('removes expired records in every scope', async () => {
    const adapter = memoryAdapter();
    await adapter.insert(rec({ name: 'x', scope: 'a', expiresAt: new Date(T0 - 1) }));
    await adapter.insert(rec({ name: 'x', scope: 'b', expiresAt: new Date(T0 - 1) }));
    expect(await adapter.deleteExpired(new Date(T0))).toBe(2);
  });
});
