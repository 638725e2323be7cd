import { expect, it } from 'vitest';
import { hmacSha256Hasher } from '../../core/hasher.js';
import { createKeymint } from '../../core/keymint.js';
import { isKeymintError } from '../../errors.js';
import type { GroupBody } from '../conformance.js';

const HOUR = 3_600_000;

const UNICODE_NAMES = [
  'Ünïcödé façade',
  '日本語のキー',
  'emoji 🔑🚀 key',
  'עברית ومرحبا',
  'e\u0301 decomposed',
  '𝒜'.repeat(190),
  'quotes \' " ` and \\ back',
  '%_ like wildcards *?[]',
];

const insertAndFind: GroupBody = ({ adapter, record, now }) => {
  it('insert() stores a record and findById() returns it field for field', async () => {
    const stored = record({
      role: 'Editor',
      scope: 'org-42',
      lastUsedAt: new Date(now() + 5),
      revokedAt: new Date(now() + 7),
      metadata: { team: 'infra', tags: ['a', 'b'], deep: { n: 1, ok: true, none: null } },
    });
    expect(await adapter().insert(stored)).toEqual({ ok: true });
    expect(await adapter().findById(stored.id)).toEqual(stored);
  });

  it('keeps every timestamp to the millisecond', async () => {
    const stored = record({
      createdAt: new Date(now() - 1_999),
      expiresAt: new Date(now() + 30 * 24 * HOUR + 1),
      lastUsedAt: new Date(now() + 999),
      revokedAt: new Date(now() + 1_001),
    });
    await adapter().insert(stored);
    const found = await adapter().findById(stored.id);
    for (const field of ['createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt'] as const) {
      expect(found?.[field]).toBeInstanceOf(Date);
      expect(found?.[field]?.getTime(), field).toBe(stored[field]?.getTime());
    }
  });

  it('keeps instants before 1970 and far in the future', async () => {
    const stored = record({
      createdAt: new Date(Date.UTC(1969, 11, 31, 23, 59, 59, 999)),
      lastUsedAt: new Date(Date.UTC(1900, 0, 1, 0, 0, 0, 1)),
      expiresAt: new Date(Date.UTC(2999, 11, 31, 23, 59, 59, 999)),
      revokedAt: new Date(Date.UTC(2999, 0, 1, 0, 0, 0, 7)),
    });
    await adapter().insert(stored);
    expect(await adapter().findById(stored.id)).toEqual(stored);
  });

  it('round-trips Unicode names and scopes exactly', async () => {
    const records = UNICODE_NAMES.map((name, i) => record({ name, scope: `tenant ü ${i} 🔑` }));
    for (const r of records) expect(await adapter().insert(r)).toEqual({ ok: true });
    for (const r of records) expect(await adapter().findById(r.id)).toEqual(r);
  });

  it('round-trips metadata as JSON (nesting, arrays, numbers, Unicode, escapes)', async () => {
    const metadata = {
      nested: { deeper: { deepest: [1, [2, [3]]] } },
      numbers: [0, -5, 0.1, 1e21, 2 ** 53 - 1, -1.5e-7],
      flags: [true, false, null],
      text: 'line\nbreak\ttab "quoted" \\ back 🔑 ü 日本',
      'key.with.dots': 1,
      $dollar: 'x',
      empty: {},
      list: [],
    };
    const stored = record({ metadata });
    await adapter().insert(stored);
    expect((await adapter().findById(stored.id))?.metadata).toEqual(metadata);
  });

  it('keeps null metadata, expiry, last use and revocation as null', async () => {
    const stored = record({ expiresAt: null, metadata: null });
    await adapter().insert(stored);
    const found = await adapter().findById(stored.id);
    expect(found).toEqual(stored);
    expect(found?.expiresAt).toBeNull();
    expect(found?.lastUsedAt).toBeNull();
    expect(found?.revokedAt).toBeNull();
    expect(found?.metadata).toBeNull();
  });

  it('returns fresh objects: changing a returned or inserted record changes nothing stored', async () => {
    const stored = record({ metadata: { nested: { a: 1 } } });
    const snapshot = structuredClone(stored);
    await adapter().insert(stored);
    stored.name = 'changed after insert';
    stored.createdAt.setTime(0);
    (stored.metadata!.nested as { a: number }).a = 2;
    const found = (await adapter().findById(snapshot.id))!;
    found.secretHash = 'changed';
    found.expiresAt!.setTime(0);
    (found.metadata!.nested as { a: number }).a = 3;
    expect(await adapter().findById(snapshot.id)).toEqual(snapshot);
  });
  it('returns fresh objects from list() and update() too', async () => {
    const stored = record({ metadata: { nested: { a: 1 } } });
    await adapter().insert(stored);
    const snapshot = structuredClone(stored);
    const [listed] = await adapter().list({ scope: stored.scope, limit: 10 });
    listed!.name = 'changed';
    listed!.expiresAt!.setTime(0);
    (listed!.metadata!.nested as { a: number }).a = 2;
    const at = new Date(now() + 5);
    const updated = (await adapter().update(stored.id, { lastUsedAt: at }))!;
    updated.secretHash = 'changed';
    updated.lastUsedAt!.setTime(0);
    at.setTime(0);
    expect(await adapter().findById(stored.id)).toEqual({
      ...snapshot,
      lastUsedAt: new Date(now() + 5),
    });
  });
};

const notFound: GroupBody = ({ adapter, now }) => {
  it('findById() of an unknown id is null', async () => {
    expect(await adapter().findById('000000000000')).toBeNull();
  });

  it('update() of an unknown id is null and creates nothing', async () => {
    const patch = { lastUsedAt: new Date(now()), revokedAt: new Date(now()), secretHash: 'h' };
    expect(await adapter().update('000000000000', patch)).toBeNull();
    expect(await adapter().findById('000000000000')).toBeNull();
  });

  it('delete() of an unknown id is false', async () => {
    expect(await adapter().delete('000000000000')).toBe(false);
  });

  it('list() of an empty scope is [] and deleteExpired() of an empty store is 0', async () => {
    expect(await adapter().list({ scope: 'nobody', limit: 100 })).toEqual([]);
    expect(await adapter().deleteExpired(new Date(now() + 1_000 * HOUR))).toBe(0);
  });
};

const scopes: GroupBody = ({ adapter, record }) => {
  it('treats ids that differ only in case as different ids', async () => {
    const upper = record({ id: 'ABCDEFGHIJKL' });
    const lower = record({ id: 'abcdefghijkl' });
    expect(await adapter().insert(upper)).toEqual({ ok: true });
    expect(await adapter().insert(lower)).toEqual({ ok: true });
    expect(await adapter().findById('ABCDEFGHIJKL')).toEqual(upper);
    expect(await adapter().findById('abcdefghijkl')).toEqual(lower);
    expect(await adapter().findById('AbCdEfGhIjKl')).toBeNull();
  });

  it('allows the same name in two scopes and lists each scope alone', async () => {
    const a = record({ name: 'ci', scope: 'org-a' });
    const b = record({ name: 'ci', scope: 'org-b' });
    expect(await adapter().insert(a)).toEqual({ ok: true });
    expect(await adapter().insert(b)).toEqual({ ok: true });
    expect(await adapter().list({ scope: 'org-a', limit: 10 })).toEqual([a]);
    expect(await adapter().list({ scope: 'org-b', limit: 10 })).toEqual([b]);
    expect(await adapter().list({ scope: 'org-c', limit: 10 })).toEqual([]);
  });

  it('refuses a second record with the same id, even in another scope', async () => {
    const a = record({ scope: 'org-a' });
    expect(await adapter().insert(a)).toEqual({ ok: true });
    const clash = record({ id: a.id, scope: 'org-b', name: 'other' });
    expect(await adapter().insert(clash)).toEqual({ ok: false, conflict: 'id' });
    expect(await adapter().findById(a.id)).toEqual(a);
    expect(await adapter().list({ scope: 'org-b', limit: 10 })).toEqual([]);
  });

  it('deleting a key in one scope leaves the same name in another scope alone', async () => {
    const a = record({ name: 'deploy', scope: 'org-a' });
    const b = record({ name: 'deploy', scope: 'org-b' });
    await adapter().insert(a);
    await adapter().insert(b);
    expect(await adapter().delete(a.id)).toBe(true);
    expect(await adapter().findById(b.id)).toEqual(b);
    expect(await adapter().list({ scope: 'org-b', limit: 10 })).toEqual([b]);
  });
};

const uniqueNames: GroupBody = ({ adapter, record, slowTimeout }) => {
  it('refuses a second key with a taken name in the same scope and keeps the first', async () => {
    const first = record({ name: 'ci' });
    await adapter().insert(first);
    const second = record({ name: 'ci' });
    expect(await adapter().insert(second)).toEqual({ ok: false, conflict: 'name' });
    expect(await adapter().findById(first.id)).toEqual(first);
    expect(await adapter().findById(second.id)).toBeNull();
  });

  it('treats names that differ in case or normalisation as different names', async () => {
    for (const name of ['Key', 'key', 'KEY', '\u00e9', 'e\u0301']) {
      expect(await adapter().insert(record({ name })), name).toEqual({ ok: true });
    }
    expect(await adapter().list({ scope: 'default', limit: 10 })).toHaveLength(5);
  });

  it(
    'lets exactly one of 50 concurrent inserts of one name win',
    async () => {
      const racers = Array.from({ length: 50 }, () => record({ name: 'contested' }));
      const results = await Promise.all(racers.map((r) => adapter().insert(r)));
      const winners = racers.filter((_, i) => results[i]!.ok);
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => !r.ok)).toEqual(
        Array.from({ length: 49 }, () => ({ ok: false, conflict: 'name' })),
      );
      const found = await Promise.all(racers.map((r) => adapter().findById(r.id)));
      expect(found.filter(Boolean)).toEqual(winners);
      expect(await adapter().list({ scope: 'default', limit: 100 })).toEqual(winners);
    },
    slowTimeout,
  );

  it(
    'through createKeymint, 50 concurrent creates of one name give one key and 49 NAME_TAKEN',
    async () => {
      const keymint = createKeymint({
        adapter: adapter(),
        hasher: hmacSha256Hasher('k'.repeat(32)),
      });
      const outcomes = await Promise.allSettled(
        Array.from({ length: 50 }, () =>
          keymint.createApiKey({ name: 'deploy', role: 'Editor', ttl: '1h' }),
        ),
      );
      const created = outcomes.filter((o) => o.status === 'fulfilled');
      const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
      expect(created).toHaveLength(1);
      expect(refused).toHaveLength(49);
      for (const error of refused) {
        expect(isKeymintError(error) && error.code).toBe('NAME_TAKEN');
      }
      const listed = await keymint.listApiKeys();
      expect(listed.map((k) => k.name)).toEqual(['deploy']);
    },
    slowTimeout,
  );

  it('frees a name when its key is deleted', async () => {
    const first = record({ name: 'reused' });
    await adapter().insert(first);
    expect(await adapter().delete(first.id)).toBe(true);
    const second = record({ name: 'reused' });
    expect(await adapter().insert(second)).toEqual({ ok: true });
    expect(await adapter().findById(second.id)).toEqual(second);
  });
};

export const recordGroups = {
  'insert and find': insertAndFind,
  'not found': notFound,
  scopes,
  'unique names': uniqueNames,
};
