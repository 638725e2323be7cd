import { describe, expect, it } from 'vitest';
import type { ListApiKeysInput } from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import {
  byCodePoint,
  expectCode,
  failingAdapter,
  fastKeymint,
  flush,
  HOUR,
  keyParts,
  MINUTE,
  T0,
} from './helpers.js';

const badList = (input: unknown) => input as ListApiKeysInput;

function setup() {
  const faulty = failingAdapter();
  return { ...fastKeymint({ adapter: faulty.adapter }), faulty };
}

const MALFORMED_IDS = [
  '',
  'abc',
  'AAAAAAAAAAA',
  'AAAAAAAAAAAAA',
  'AAAAAA_AAAAA',
  'x'.repeat(100_000),
  ' AAAAAAAAAAA',
];

describe('getApiKey()', () => {
  it('returns the record createApiKey returned', async () => {
    const { keymint } = setup();
    const { apiKey } = await keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      metadata: { a: 1 },
    });
    expect(await keymint.getApiKey(apiKey.id)).toEqual(apiKey);
  });

  it('throws NOT_FOUND for an unknown well-formed id', async () => {
    const { keymint } = setup();
    await expectCode(keymint.getApiKey('AAAAAAAAAAAA'), 'NOT_FOUND');
  });

  it.each(
    MALFORMED_IDS.map((id) => [
      id.length > 20 ? `${id.slice(0, 12)}… (${id.length})` : JSON.stringify(id),
      id,
    ]),
  )('throws NOT_FOUND for the malformed id %s without reading the store', async (_shown, id) => {
    const { keymint, faulty } = setup();
    await expectCode(keymint.getApiKey(id), 'NOT_FOUND');
    expect(faulty.calls.findById).toBe(0);
  });

  it('throws NOT_FOUND when given the full key instead of its id', async () => {
    const { keymint } = setup();
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await expectCode(keymint.getApiKey(key), 'NOT_FOUND');
  });

  it.each([42, null, undefined, {}])(
    'throws INVALID_INPUT for the non-string id %j',
    async (id) => {
      const { keymint } = setup();
      await expectCode(keymint.getApiKey(id as string), 'INVALID_INPUT');
    },
  );

  it('returns an expired key', async () => {
    const { keymint, clock } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    clock.advance(2 * HOUR);
    expect((await keymint.getApiKey(apiKey.id)).id).toBe(apiKey.id);
  });

  it('throws STORE_FAILURE with the driver error as cause when findById fails', async () => {
    const { keymint, faulty } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    const driverError = faulty.fail('findById');
    const error = await expectCode(keymint.getApiKey(apiKey.id), 'STORE_FAILURE');
    expect(error.cause).toBe(driverError);
  });
});

describe('listApiKeys()', () => {
  it('sorts keys by name in code point order', async () => {
    const { keymint } = setup();
    const names = ['b', 'a', 'B', 'ab', '\uFF01', '😀', 'é', 'Z', '10', '9'];
    for (const name of names) await keymint.createApiKey({ name, role: 'Editor', ttl: '1h' });
    const listed = (await keymint.listApiKeys()).map((k) => k.name);
    expect(listed).toEqual([...names].sort(byCodePoint));
    // U+FF01 comes before the astral emoji in code point order (not in UTF-16 order).
    expect(listed.indexOf('\uFF01')).toBeLessThan(listed.indexOf('😀'));
  });

  it("lists only the 'default' scope when no scope is given", async () => {
    const { keymint } = setup();
    await keymint.createApiKey({ name: 'a', role: 'Editor', ttl: '1h' });
    await keymint.createApiKey({ name: 'b', role: 'Editor', ttl: '1h', scope: 'org-1' });
    expect((await keymint.listApiKeys()).map((k) => k.name)).toEqual(['a']);
  });

  it('lists only the given scope', async () => {
    const { keymint } = setup();
    await keymint.createApiKey({ name: 'a', role: 'Editor', ttl: '1h' });
    await keymint.createApiKey({ name: 'b', role: 'Editor', ttl: '1h', scope: 'org-1' });
    expect((await keymint.listApiKeys({ scope: 'org-1' })).map((k) => k.name)).toEqual(['b']);
  });

  it('hides a key from exactly its expiresAt', async () => {
    const { keymint, clock } = setup();
    await keymint.createApiKey({ name: 'short', role: 'Editor', ttl: '1h' });
    await keymint.createApiKey({ name: 'long', role: 'Editor', ttl: '2h' });
    clock.set(T0 + HOUR - 1);
    expect((await keymint.listApiKeys()).map((k) => k.name)).toEqual(['long', 'short']);
    clock.set(T0 + HOUR);
    expect((await keymint.listApiKeys()).map((k) => k.name)).toEqual(['long']);
  });

  it('shows expired keys with includeExpired: true', async () => {
    const { keymint, clock } = setup();
    await keymint.createApiKey({ name: 'short', role: 'Editor', ttl: '1h' });
    await keymint.createApiKey({ name: 'long', role: 'Editor', ttl: '2h' });
    clock.advance(3 * HOUR);
    expect((await keymint.listApiKeys({ includeExpired: true })).map((k) => k.name)).toEqual([
      'long',
      'short',
    ]);
  });

  it('shows non-expiring keys', async () => {
    const { keymint, clock } = fastKeymint({ allowNonExpiring: true });
    await keymint.createApiKey({ name: 'forever', role: 'Editor', ttl: null });
    clock.advance(1000 * 24 * HOUR);
    expect((await keymint.listApiKeys()).map((k) => k.name)).toEqual(['forever']);
  });

  it('shows revoked keys', async () => {
    const { keymint } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await keymint.revokeApiKey(apiKey.id);
    expect((await keymint.listApiKeys()).map((k) => k.revokedAt?.getTime())).toEqual([T0]);
  });

  it('returns every one of 250 keys exactly once across pages of 100', async () => {
    const { keymint } = setup();
    const names = Array.from({ length: 250 }, (_, i) => `key-${(i * 7919) % 250}`);
    for (const name of names) await keymint.createApiKey({ name, role: 'Viewer', ttl: '1h' });
    const pages: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await keymint.listApiKeys({ limit: 100, ...(after !== undefined && { after }) });
      if (page.length === 0) break;
      pages.push(page.map((k) => k.name));
      after = page.at(-1)!.name;
    }
    expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
    const all = pages.flat();
    expect(new Set(all).size).toBe(250);
    expect(all).toEqual([...names].sort(byCodePoint));
  });

  it('returns at most 100 keys by default', async () => {
    const { keymint } = setup();
    for (let i = 0; i < 101; i++)
      await keymint.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' });
    expect(await keymint.listApiKeys()).toHaveLength(100);
  });

  it('accepts limit 1 and limit 1000', async () => {
    const { keymint } = setup();
    await keymint.createApiKey({ name: 'a', role: 'Viewer', ttl: '1h' });
    await keymint.createApiKey({ name: 'b', role: 'Viewer', ttl: '1h' });
    expect((await keymint.listApiKeys({ limit: 1 })).map((k) => k.name)).toEqual(['a']);
    expect(await keymint.listApiKeys({ limit: 1000 })).toHaveLength(2);
  });

  it('returns names strictly after `after`', async () => {
    const { keymint } = setup();
    for (const name of ['a', 'b', 'c'])
      await keymint.createApiKey({ name, role: 'Viewer', ttl: '1h' });
    expect((await keymint.listApiKeys({ after: 'a' })).map((k) => k.name)).toEqual(['b', 'c']);
    expect((await keymint.listApiKeys({ after: 'bb' })).map((k) => k.name)).toEqual(['c']);
  });

  it.each<[string, unknown]>([
    ['limit 0', { limit: 0 }],
    ['limit 1001', { limit: 1001 }],
    ['limit 1.5', { limit: 1.5 }],
    ["limit '10'", { limit: '10' }],
    ["includeExpired 'yes'", { includeExpired: 'yes' }],
    ['after 42', { after: 42 }],
    ['after with U+0000 (PostgreSQL text cannot hold it)', { after: 'a\u0000' }],
    ['after with a lone surrogate (stores would order it differently)', { after: '\ud800' }],
    ['after of 191 characters', { after: '𝒜'.repeat(191) }],
    ['after with a line break', { after: 'a\nb' }],
    ["scope ''", { scope: '' }],
    ["scope '*' (reserved for purgeExpired)", { scope: '*' }],
    ["the input 'x'", 'x'],
    ['the input null', null],
  ])('throws INVALID_INPUT for %s', async (_what, input) => {
    const { keymint } = setup();
    await expectCode(keymint.listApiKeys(badList(input)), 'INVALID_INPUT');
  });

  it('normalises after as names are (trimmed, NFC), so a typed-in cursor pages as expected', async () => {
    const { keymint } = setup();
    for (const name of ['a', 'caf\u00e9', 'z']) {
      await keymint.createApiKey({ name, role: 'Viewer', ttl: '1h' });
    }
    expect((await keymint.listApiKeys({ after: ' a ' })).map((k) => k.name)).toEqual([
      'caf\u00e9',
      'z',
    ]);
    expect((await keymint.listApiKeys({ after: 'cafe\u0301' })).map((k) => k.name)).toEqual(['z']);
  });

  it('accepts an after of 190 astral characters and reads nothing from the store for a bad one', async () => {
    const { keymint, faulty } = setup();
    expect(await keymint.listApiKeys({ after: '𝒜'.repeat(190) })).toEqual([]);
    expect(faulty.calls.list).toBe(1);
    await expectCode(keymint.listApiKeys({ after: '\ud800' }), 'INVALID_INPUT');
    expect(faulty.calls.list).toBe(1);
  });

  it('throws STORE_FAILURE with the driver error as cause when list fails', async () => {
    const { keymint, faulty } = setup();
    const driverError = faulty.fail('list');
    const error = await expectCode(keymint.listApiKeys(), 'STORE_FAILURE');
    expect(error.cause).toBe(driverError);
  });
});

describe('revokeApiKey()', () => {
  it('sets revokedAt to the current time and returns the record', async () => {
    const { keymint, clock } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    clock.advance(MINUTE);
    const revoked = await keymint.revokeApiKey(apiKey.id);
    expect(revoked).toEqual({ ...apiKey, revokedAt: new Date(T0 + MINUTE) });
    expect((await keymint.getApiKey(apiKey.id)).revokedAt?.getTime()).toBe(T0 + MINUTE);
  });

  it('keeps the first revokedAt when revoked a second time', async () => {
    const { keymint, clock } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await keymint.revokeApiKey(apiKey.id);
    clock.advance(MINUTE);
    const again = await keymint.revokeApiKey(apiKey.id);
    expect(again.revokedAt?.getTime()).toBe(T0);
    expect((await keymint.getApiKey(apiKey.id)).revokedAt?.getTime()).toBe(T0);
  });

  it('keeps the first revokedAt when two revokes of the same key overlap', async () => {
    const { keymint, clock, faulty } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    const release = faulty.hold('update');
    const first = keymint.revokeApiKey(apiKey.id);
    await flush();
    clock.advance(MINUTE);
    const second = keymint.revokeApiKey(apiKey.id);
    await flush();
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(a.revokedAt?.getTime()).toBe(T0);
    expect(b.revokedAt?.getTime()).toBe(T0);
    expect((await keymint.getApiKey(apiKey.id)).revokedAt?.getTime()).toBe(T0);
  });

  it('makes verifyKey report revoked', async () => {
    const { keymint } = setup();
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await keymint.revokeApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('keeps the name taken', async () => {
    const { keymint } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await keymint.revokeApiKey(apiKey.id);
    await expectCode(keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }), 'NAME_TAKEN');
  });

  it('throws NOT_FOUND for an unknown id', async () => {
    const { keymint } = setup();
    await expectCode(keymint.revokeApiKey('AAAAAAAAAAAA'), 'NOT_FOUND');
  });

  it.each(MALFORMED_IDS.slice(0, 4))('throws NOT_FOUND for the malformed id %j', async (id) => {
    const { keymint } = setup();
    await expectCode(keymint.revokeApiKey(id), 'NOT_FOUND');
  });

  it.each([42, null, undefined])('throws INVALID_INPUT for the non-string id %j', async (id) => {
    const { keymint } = setup();
    await expectCode(keymint.revokeApiKey(id as unknown as string), 'INVALID_INPUT');
  });

  it('throws NOT_FOUND when the key disappears between the read and the update', async () => {
    const inner = memoryAdapter();
    const { keymint } = fastKeymint({ adapter: { ...inner, update: async () => null } });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await expectCode(keymint.revokeApiKey(apiKey.id), 'NOT_FOUND');
  });

  it('throws STORE_FAILURE with the driver error as cause when the update fails', async () => {
    const { keymint, faulty } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    const driverError = faulty.fail('update');
    const error = await expectCode(keymint.revokeApiKey(apiKey.id), 'STORE_FAILURE');
    expect(error.cause).toBe(driverError);
  });
});

describe('deleteApiKey()', () => {
  it('removes the key so getApiKey throws NOT_FOUND', async () => {
    const { keymint } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await keymint.deleteApiKey(apiKey.id);
    await expectCode(keymint.getApiKey(apiKey.id), 'NOT_FOUND');
  });

  it('makes verifyKey report not_found', async () => {
    const { keymint } = setup();
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await keymint.deleteApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
  });

  it('frees the name for a new key', async () => {
    const { keymint } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await keymint.deleteApiKey(apiKey.id);
    const again = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(again.apiKey.id).not.toBe(apiKey.id);
  });

  it('removes the key from the list', async () => {
    const { keymint } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'a', role: 'Editor', ttl: '1h' });
    await keymint.createApiKey({ name: 'b', role: 'Editor', ttl: '1h' });
    await keymint.deleteApiKey(apiKey.id);
    expect((await keymint.listApiKeys({ includeExpired: true })).map((k) => k.name)).toEqual(['b']);
  });

  it('throws NOT_FOUND when deleting the same key twice', async () => {
    const { keymint } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await keymint.deleteApiKey(apiKey.id);
    await expectCode(keymint.deleteApiKey(apiKey.id), 'NOT_FOUND');
  });

  it('throws NOT_FOUND for an unknown id', async () => {
    const { keymint } = setup();
    await expectCode(keymint.deleteApiKey('AAAAAAAAAAAA'), 'NOT_FOUND');
  });

  it.each(MALFORMED_IDS.slice(0, 4))('throws NOT_FOUND for the malformed id %j', async (id) => {
    const { keymint } = setup();
    await expectCode(keymint.deleteApiKey(id), 'NOT_FOUND');
  });

  it.each([42, null, undefined])('throws INVALID_INPUT for the non-string id %j', async (id) => {
    const { keymint } = setup();
    await expectCode(keymint.deleteApiKey(id as unknown as string), 'INVALID_INPUT');
  });

  it('throws NOT_FOUND when the store reports nothing was deleted', async () => {
    const inner = memoryAdapter();
    const { keymint } = fastKeymint({ adapter: { ...inner, delete: async () => false } });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await expectCode(keymint.deleteApiKey(apiKey.id), 'NOT_FOUND');
  });

  it('throws STORE_FAILURE with the driver error as cause and keeps the key when delete fails', async () => {
    const { keymint, faulty } = setup();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    const driverError = faulty.fail('delete');
    const error = await expectCode(keymint.deleteApiKey(apiKey.id), 'STORE_FAILURE');
    expect(error.cause).toBe(driverError);
    expect(await faulty.inner.findById(apiKey.id)).not.toBeNull();
  });
});

describe('NOT_FOUND messages', () => {
  it.each(['getApiKey', 'revokeApiKey', 'deleteApiKey'] as const)(
    '%s() given the plaintext key instead of an id puts none of its secret in the error message',
    async (method) => {
      const { keymint } = setup();
      const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
      const { secret } = keyParts(key);
      const error = await expectCode(keymint[method](key), 'NOT_FOUND');
      for (let i = 0; i + 8 <= secret.length; i++) {
        expect(error.message).not.toContain(secret.slice(i, i + 8));
      }
    },
  );
});

describe('purgeExpired()', () => {
  async function withKeys() {
    const context = setup();
    const { keymint, clock } = context;
    const short = await keymint.createApiKey({ name: 'short', role: 'Viewer', ttl: '1h' });
    const long = await keymint.createApiKey({ name: 'long', role: 'Viewer', ttl: '2d' });
    const other = await keymint.createApiKey({
      name: 'other scope',
      role: 'Viewer',
      ttl: '1h',
      scope: 'org-2',
    });
    const revoked = await keymint.createApiKey({ name: 'revoked', role: 'Viewer', ttl: '2d' });
    await keymint.revokeApiKey(revoked.apiKey.id);
    clock.advance(3 * HOUR);
    return { ...context, short, long, other, revoked };
  }

  it('deletes every expired key in every scope by default, and keeps the rest', async () => {
    const { keymint, short, long, other, revoked } = await withKeys();
    expect(await keymint.purgeExpired()).toBe(2);
    await expectCode(keymint.getApiKey(short.apiKey.id), 'NOT_FOUND');
    await expectCode(keymint.getApiKey(other.apiKey.id), 'NOT_FOUND');
    expect((await keymint.getApiKey(long.apiKey.id)).name).toBe('long');
    expect((await keymint.getApiKey(revoked.apiKey.id)).revokedAt).not.toBeNull();
    expect(await keymint.purgeExpired({ olderThan: 0 })).toBe(0);
  });

  it.each([0, '0', '0s', '0d', '00M', ' 0s '])('reads olderThan %j as zero', async (olderThan) => {
    const { keymint } = await withKeys();
    expect(await keymint.purgeExpired({ olderThan })).toBe(2);
  });

  it('keeps keys expired for less than olderThan', async () => {
    const { keymint, short } = await withKeys();
    expect(await keymint.purgeExpired({ olderThan: '3h' })).toBe(0);
    expect(await keymint.purgeExpired({ olderThan: 7200 })).toBe(2);
    await expectCode(keymint.getApiKey(short.apiKey.id), 'NOT_FOUND');
  });

  it('frees the names of purged keys', async () => {
    const { keymint } = await withKeys();
    await expectCode(
      keymint.createApiKey({ name: 'short', role: 'Viewer', ttl: '1h' }),
      'NAME_TAKEN',
    );
    await keymint.purgeExpired();
    const again = await keymint.createApiKey({ name: 'short', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(again.key)).valid).toBe(true);
  });

  it('says in NAME_TAKEN that an expired key keeps its name until purged', async () => {
    const { keymint } = await withKeys();
    const error = await expectCode(
      keymint.createApiKey({ name: 'short', role: 'Viewer', ttl: '1h' }),
      'NAME_TAKEN',
    );
    expect(error.message).toMatch(/expired key keeps its name.*purgeExpired\(\)/);
  });

  it.each<[string, unknown]>([
    ['a TTL with two units', { olderThan: '1h30m' }],
    ['a fraction', { olderThan: '0.5h' }],
    ['a negative number', { olderThan: -1 }],
    ['a non-number', { olderThan: true }],
    ['an unknown option', { olderthan: '1h' }],
    ['a string', '1h'],
  ])('refuses %s with INVALID_INPUT and deletes nothing', async (_what, input) => {
    const { keymint, faulty } = await withKeys();
    await expectCode(keymint.purgeExpired(input as never), 'INVALID_INPUT');
    expect(faulty.calls.deleteExpired).toBe(0);
  });

  it('reports a store failure as STORE_FAILURE', async () => {
    const { keymint, faulty } = await withKeys();
    const cause = faulty.fail('deleteExpired');
    const error = await expectCode(keymint.purgeExpired(), 'STORE_FAILURE');
    expect(error.cause).toBe(cause);
  });

  it("asks authorize() for 'apikeys:purge' in scope '*', and stops when refused", async () => {
    const requests: unknown[] = [];
    let allow = false;
    const faulty = failingAdapter(memoryAdapter());
    const { keymint } = fastKeymint({
      adapter: faulty.adapter,
      authorize: (request) => {
        requests.push(request);
        return allow;
      },
    });
    await expectCode(keymint.purgeExpired({}, { actor: 'bob' }), 'FORBIDDEN');
    expect(requests).toEqual([{ actor: 'bob', action: 'apikeys:purge', scope: '*' }]);
    expect(faulty.calls.deleteExpired).toBe(0);
    await expectCode(keymint.purgeExpired(), 'FORBIDDEN');
    allow = true;
    expect(await keymint.purgeExpired({}, { actor: 'admin' })).toBe(0);
  });
});
