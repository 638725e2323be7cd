import { expect, it } from 'vitest';
import type { InvalidationListener, KeyAdapter, StoredApiKey } from '../../adapter.js';
import { compareCodePoints } from '../../internal/compare.js';
import type { GroupBody } from '../conformance.js';

function required<M extends 'modify' | 'revokeByOwner'>(
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

async function insertAll(adapter: KeyAdapter, records: StoredApiKey[], batch = 200) {
  for (let i = 0; i < records.length; i += batch) {
    const results = await Promise.all(records.slice(i, i + batch).map((r) => adapter.insert(r)));
    expect(results.every((r) => r.ok)).toBe(true);
  }
}

/** Every name of one owner in `scope`, page by page. */
async function ownerPages(adapter: KeyAdapter, scope: string, owner: string, limit: number) {
  const seen: string[] = [];
  for (let after: string | undefined; ;) {
    const page = await adapter.list({ scope, owner, limit, ...(after && { after }) });
    for (const r of page) {
      expect(r.owner).toBe(owner);
      expect(r.scope).toBe(scope);
    }
    seen.push(...page.map((r) => r.name));
    if (page.length < limit) return seen;
    after = page[page.length - 1]!.name;
  }
}

const byName = (names: string[]) => [...names].sort(compareCodePoints);

const owners: GroupBody = ({ adapter, record, now, slowTimeout }) => {
  it('stores owner and permissions and returns them as given, null when not given', async () => {
    const owned = record({
      owner: 'user-42 ÿ 😀',
      permissions: ['dashboards:read', 'folders:*'],
    });
    const plain = record();
    await adapter().insert(owned);
    await adapter().insert(plain);
    expect(await adapter().findById(owned.id)).toEqual(owned);
    expect(await adapter().findById(plain.id)).toEqual({
      ...plain,
      owner: null,
      permissions: null,
    });
    const empty = record({ owner: 'o', permissions: [] });
    await adapter().insert(empty);
    expect((await adapter().findById(empty.id))?.permissions).toEqual([]);
  });

  it(
    'lists only one owner of one scope, in code point order, page by page over many keys',
    async () => {
      const records: StoredApiKey[] = [];
      for (let i = 0; i < 1_200; i++) {
        const owner = ['alice', 'bob', 'Alice'][i % 3]!;
        const scope = i % 5 === 0 ? 'other' : 'default';
        records.push(
          record({
            owner,
            scope,
            name: `k ${String((i * 7_919) % 1_200).padStart(4, '0')} ${i % 2 ? 'é' : '🔑'}`,
          }),
        );
      }
      records.push(record({ name: 'no owner' }));
      await insertAll(adapter(), records);
      for (const [scope, owner] of [
        ['default', 'alice'],
        ['default', 'Alice'],
        ['other', 'bob'],
      ] as const) {
        const expected = byName(
          records.filter((r) => r.owner === owner && r.scope === scope).map((r) => r.name),
        );
        expect(expected.length).toBeGreaterThan(50);
        expect(await ownerPages(adapter(), scope, owner, 37)).toEqual(expected);
      }
      expect(await adapter().list({ scope: 'default', owner: 'nobody', limit: 10 })).toEqual([]);
      // Without owner, list is unchanged: every key of the scope.
      const all = await adapter().list({ scope: 'default', limit: 1000 });
      expect(all).toHaveLength(records.filter((r) => r.scope === 'default').length);
    },
    slowTimeout,
  );

  it('applies after and activeAt to an owner listing as to a scope listing', async () => {
    const at = now() + 3_600_000;
    const expired = record({ owner: 'o', name: 'a expired', expiresAt: new Date(at - 1) });
    const live = record({ owner: 'o', name: 'b live', expiresAt: new Date(at + 1) });
    const never = record({ owner: 'o', name: 'c never', expiresAt: null });
    await insertAll(adapter(), [expired, live, never, record({ owner: 'p', name: 'b other' })]);
    const names = async (query: { after?: string; activeAt?: Date }) =>
      (await adapter().list({ scope: 'default', owner: 'o', limit: 10, ...query })).map(
        (r) => r.name,
      );
    expect(await names({})).toEqual(['a expired', 'b live', 'c never']);
    expect(await names({ activeAt: new Date(at) })).toEqual(['b live', 'c never']);
    expect(await names({ after: 'b live' })).toEqual(['c never']);
  });

  it('keeps an owner listing right through renames and deletes', async () => {
    const change = required(adapter(), 'modify', 'owners');
    const a = record({ owner: 'o', name: 'a' });
    const b = record({ owner: 'o', name: 'b' });
    await insertAll(adapter(), [a, b, record({ owner: 'p', name: 'c' })]);
    expect(await change(a.id, { name: 'z renamed' })).toMatchObject({ ok: true });
    expect(await adapter().delete(b.id)).toBe(true);
    await adapter().insert(record({ owner: 'p', name: 'b' }));
    const listed = await adapter().list({ scope: 'default', owner: 'o', limit: 10 });
    expect(listed.map((r) => [r.id, r.name])).toEqual([[a.id, 'z renamed']]);
  });

  it('modify() sets, replaces and clears permissions, and keeps the owner', async () => {
    const change = required(adapter(), 'modify', 'owners');
    const stored = record({ owner: 'o', permissions: ['dashboards:read'] });
    await adapter().insert(stored);
    const next = ['dashboards:read', 'dashboards:write'];
    expect(await change(stored.id, { permissions: next })).toEqual({
      ok: true,
      record: { ...stored, permissions: next },
    });
    expect(await adapter().findById(stored.id)).toEqual({ ...stored, permissions: next });
    expect(await change(stored.id, { role: 'Editor' })).toEqual({
      ok: true,
      record: { ...stored, permissions: next, role: 'Editor' },
    });
    expect(await change(stored.id, { permissions: null })).toEqual({
      ok: true,
      record: { ...stored, permissions: null, role: 'Editor' },
    });
    expect((await adapter().findById(stored.id))?.owner).toBe('o');
  });
};

const revokeByOwner: GroupBody = ({ adapter, record, now }) => {
  it('revokes every live key of that owner in that scope, returns their ids, touches nothing else', async () => {
    const revoke = required(adapter(), 'revokeByOwner', 'revoke by owner');
    const earlier = new Date(now() - 60_000);
    const mine = Array.from({ length: 25 }, (_, i) => record({ owner: 'leaver', name: `m ${i}` }));
    const already = record({ owner: 'leaver', name: 'already', revokedAt: earlier });
    const otherScope = record({ owner: 'leaver', scope: 'other', name: 'm 0' });
    const otherOwner = record({ owner: 'stayer', name: 's' });
    const caseOwner = record({ owner: 'Leaver', name: 'L' });
    const noOwner = record({ name: 'n' });
    await insertAll(adapter(), [...mine, already, otherScope, otherOwner, caseOwner, noOwner]);
    const at = new Date(now() + 5);
    const ids = await revoke('default', 'leaver', at);
    expect([...ids].sort()).toEqual(mine.map((r) => r.id).sort());
    for (const r of mine) expect(await adapter().findById(r.id)).toEqual({ ...r, revokedAt: at });
    expect(await adapter().findById(already.id)).toEqual(already);
    for (const r of [otherScope, otherOwner, caseOwner, noOwner]) {
      expect(await adapter().findById(r.id)).toEqual(r);
    }
    // Once more: nothing left to revoke.
    expect(await revoke('default', 'leaver', new Date(now() + 9))).toEqual([]);
    expect(await revoke('default', 'nobody', at)).toEqual([]);
  });

  it('is atomic against itself: racing calls revoke each key exactly once', async () => {
    const revoke = required(adapter(), 'revokeByOwner', 'revoke by owner');
    const mine = Array.from({ length: 60 }, (_, i) => record({ owner: 'o', name: `k ${i}` }));
    await insertAll(adapter(), mine);
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, i) => revoke('default', 'o', new Date(now() + i))),
    );
    const all = results.flat();
    expect(all.sort()).toEqual(mine.map((r) => r.id).sort());
  });

  it('publishes every revoked id to subscribers, within a second', async () => {
    const revoke = required(adapter(), 'revokeByOwner', 'revoke by owner');
    const subscribe = adapter().subscribe?.bind(adapter());
    if (!subscribe) return; // an adapter without subscribe has nobody to tell
    const ids: string[] = [];
    const listener: InvalidationListener = { invalidate: (id) => ids.push(id), reset() {} };
    const subscription = await subscribe(listener);
    try {
      const mine = Array.from({ length: 10 }, (_, i) => record({ owner: 'o', name: `k ${i}` }));
      const other = record({ owner: 'p' });
      await insertAll(adapter(), [...mine, other]);
      const revoked = await revoke('default', 'o', new Date(now()));
      const marker = record();
      await adapter().insert(marker);
      await adapter().delete(marker.id);
      const deadline = Date.now() + 1_000;
      while (!ids.includes(marker.id) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(ids).toContain(marker.id);
      expect(ids.filter((id) => id !== marker.id).sort()).toEqual([...revoked].sort());
      expect(revoked).toHaveLength(10);
    } finally {
      await subscription.close();
    }
  });
};

export const ownerGroups = { owners, 'revoke by owner': revokeByOwner };
