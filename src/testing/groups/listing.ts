import { expect, it } from 'vitest';
import type { KeyAdapter, StoredApiKey } from '../../adapter.js';
import { compareCodePoints } from '../../internal/compare.js';
import type { GroupBody } from '../conformance.js';

// UTF-16 code unit order differs from code point order for U+FF21 against the emoji (a
// surrogate pair), so a store sorting by UTF-16 units or by a locale fails here.
const MIXED_NAMES = [
  'b',
  'B',
  'a',
  'Z',
  'a b',
  'ab',
  'a-b',
  '10',
  '9',
  '\u00e9',
  '\uff21 fullwidth',
  '😀 emoji',
  '\u00e9t\u00e9',
  'z',
];

async function insertAll(adapter: KeyAdapter, records: StoredApiKey[], batch = 200) {
  for (let i = 0; i < records.length; i += batch) {
    const results = await Promise.all(records.slice(i, i + batch).map((r) => adapter.insert(r)));
    expect(results.every((r) => r.ok)).toBe(true);
  }
}

const names = (records: StoredApiKey[]) => records.map((r) => r.name);

/** Every name of the default scope, page by page; `between` runs after each full page. */
async function pageThrough(adapter: KeyAdapter, limit: number, between?: () => Promise<void>) {
  const seen: string[] = [];
  for (let after: string | undefined; ;) {
    const page = await adapter.list({ scope: 'default', limit, ...(after && { after }) });
    seen.push(...names(page));
    if (page.length < limit) return seen;
    after = page[page.length - 1]!.name;
    await between?.();
  }
}

const list: GroupBody = ({ adapter, record, now }) => {
  it('sorts a scope by name in code point order', async () => {
    const records = MIXED_NAMES.map((name) => record({ name }));
    await insertAll(adapter(), records);
    const listed = await adapter().list({ scope: 'default', limit: 100 });
    expect(names(listed)).toEqual([...MIXED_NAMES].sort(compareCodePoints));
    expect(listed).toEqual([...records].sort((a, b) => compareCodePoints(a.name, b.name)));
  });

  it('returns at most limit records, the first ones in order', async () => {
    await insertAll(
      adapter(),
      MIXED_NAMES.map((name) => record({ name })),
    );
    const sorted = [...MIXED_NAMES].sort(compareCodePoints);
    expect(names(await adapter().list({ scope: 'default', limit: 1 }))).toEqual(sorted.slice(0, 1));
    expect(names(await adapter().list({ scope: 'default', limit: 5 }))).toEqual(sorted.slice(0, 5));
  });

  it('starts strictly after `after`, whether or not that name exists', async () => {
    await insertAll(
      adapter(),
      MIXED_NAMES.map((name) => record({ name })),
    );
    const sorted = [...MIXED_NAMES].sort(compareCodePoints);
    expect(names(await adapter().list({ scope: 'default', limit: 100, after: 'a' }))).toEqual(
      sorted.slice(sorted.indexOf('a') + 1),
    );
    const missing = 'a c'; // not stored; sorts between 'a b' and 'a-b'
    expect(names(await adapter().list({ scope: 'default', limit: 100, after: missing }))).toEqual(
      sorted.filter((n) => compareCodePoints(n, missing) > 0),
    );
    expect(await adapter().list({ scope: 'default', limit: 100, after: '\u{10ffff}' })).toEqual([]);
  });

  it('applies limit together with after', async () => {
    await insertAll(
      adapter(),
      MIXED_NAMES.map((name) => record({ name })),
    );
    const sorted = [...MIXED_NAMES].sort(compareCodePoints);
    const from = sorted.indexOf('a') + 1;
    expect(names(await adapter().list({ scope: 'default', limit: 2, after: 'a' }))).toEqual(
      sorted.slice(from, from + 2),
    );
  });

  it('with activeAt, leaves out keys expired at that instant and keeps keys without expiry', async () => {
    const at = now() + 2 * 3_600_000;
    const expired = record({ name: 'expired', expiresAt: new Date(at - 1) });
    const boundary = record({ name: 'expires exactly then', expiresAt: new Date(at) });
    const later = record({ name: 'later', expiresAt: new Date(at + 1) });
    const never = record({ name: 'never', expiresAt: null });
    const revoked = record({
      name: 'revoked',
      revokedAt: new Date(now()),
      expiresAt: new Date(at + 5),
    });
    await insertAll(adapter(), [expired, boundary, later, never, revoked]);
    const active = await adapter().list({ scope: 'default', limit: 100, activeAt: new Date(at) });
    expect(names(active)).toEqual(['later', 'never', 'revoked']);
    const all = await adapter().list({ scope: 'default', limit: 100 });
    expect(names(all)).toEqual(['expired', 'expires exactly then', 'later', 'never', 'revoked']);
  });

  it('fills a page past expired keys when activeAt is set', async () => {
    const at = now() + 3_600_000;
    const expired = Array.from({ length: 30 }, (_, i) =>
      record({ name: `a expired ${String(i).padStart(2, '0')}`, expiresAt: new Date(at - 1000) }),
    );
    const active = Array.from({ length: 5 }, (_, i) => record({ name: `b active ${i}` }));
    active.forEach((r) => (r.expiresAt = new Date(at + 1000)));
    await insertAll(adapter(), [...expired, ...active]);
    const page = await adapter().list({ scope: 'default', limit: 3, activeAt: new Date(at) });
    expect(names(page)).toEqual(['b active 0', 'b active 1', 'b active 2']);
  });
};

const paging: GroupBody = ({ adapter, record, slowTimeout }) => {
  it(
    'pages through 10,000 keys in order, each exactly once, also while keys are added',
    async () => {
      const records = Array.from({ length: 10_000 }, (_, i) =>
        // Zero-padded numbers in a shuffled insertion order, plus non-ASCII tails.
        record({
          name: `key ${String((i * 7_919) % 10_000).padStart(5, '0')} ${i % 3 ? 'é' : '🔑'}`,
        }),
      );
      await insertAll(adapter(), records);
      const expected = names(records).sort(compareCodePoints);

      expect(await pageThrough(adapter(), 1000)).toEqual(expected);

      // Keyset paging is stable: keys added mid-way never make a page repeat or skip an old key.
      let added = 0;
      const again = await pageThrough(adapter(), 777, async () => {
        const before = record({ name: `key 0 added ${added}` });
        const beyond = record({ name: `key 99999 added ${added++}` });
        expect(await adapter().insert(before)).toEqual({ ok: true });
        expect(await adapter().insert(beyond)).toEqual({ ok: true });
      });
      const old = new Set(expected);
      expect(again.filter((n) => old.has(n))).toEqual(expected);
      expect(new Set(again).size).toBe(again.length);
      expect([...again].sort(compareCodePoints)).toEqual(again);
    },
    slowTimeout,
  );
};

export const listingGroups = { list, paging };
