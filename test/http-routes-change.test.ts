// PATCH /api/auth/keys/:id and POST /api/auth/keys/:id/rotate (issue 15).
import { describe, expect, it } from 'vitest';
import { DAY, failingAdapter, HOUR, T0 } from './helpers.js';
import { routesFixture } from './http-fixtures.js';

const KEYS = '/api/auth/keys';
const json = { 'content-type': 'application/json' };

describe('PATCH /api/auth/keys/:id', () => {
  it('renames and changes the role; answers the key as the list shows it, and the key verifies with the new role', async () => {
    const { call, create, keymint } = routesFixture();
    const { id, key } = await create({ name: 'ci', role: 'Editor', ttl: '1h' });
    const response = await call('PATCH', `${KEYS}/${id}`, {
      json: { name: 'ci (read-only)', role: 'viewer' },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.body).toEqual({
      id,
      name: 'ci (read-only)',
      role: 'Viewer',
      expiration: new Date(T0 + HOUR).toISOString(),
      isRevoked: false,
    });
    const list = await call('GET', KEYS);
    expect(list.body).toEqual([response.body]);
    expect(await keymint.verifyKey(key, { role: 'Editor' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });
    expect(response.text).not.toContain(key);
  });

  it('sets a new expiry from now with ttl or secondsToLive', async () => {
    const { call, create, clock } = routesFixture();
    const { id } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    clock.advance(30 * 60_000);
    const byTtl = await call('PATCH', `${KEYS}/${id}`, { json: { ttl: '2d' } });
    expect(byTtl.body.expiration).toBe(new Date(T0 + 30 * 60_000 + 2 * DAY).toISOString());
    const bySeconds = await call('PATCH', `${KEYS}/${id}`, { json: { secondsToLive: 60 } });
    expect(bySeconds.body.expiration).toBe(new Date(T0 + 31 * 60_000).toISOString());
    // Grafana's zero value next to a ttl is "not set", as on create.
    const zeroAndTtl = await call('PATCH', `${KEYS}/${id}`, {
      json: { secondsToLive: 0, ttl: '1h' },
    });
    expect(zeroAndTtl.status).toBe(200);
  });

  it('makes a key never expire with secondsToLive 0 only when the instance allows it', async () => {
    const strict = routesFixture();
    const a = await strict.create({ name: 'a', role: 'Viewer', ttl: '1h' });
    const refused = await strict.call('PATCH', `${KEYS}/${a.id}`, { json: { secondsToLive: 0 } });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(/time to live is required/i);
    const lax = routesFixture({ allowNonExpiring: true });
    const b = await lax.create({ name: 'b', role: 'Viewer', ttl: '1h' });
    const forever = await lax.call('PATCH', `${KEYS}/${b.id}`, { json: { secondsToLive: 0 } });
    expect(forever.status).toBe(200);
    expect(forever.body).not.toHaveProperty('expiration');
  });

  it.each([
    ['an empty object', {}, /^Nothing to change/],
    ['only nulls', { name: null, role: null, ttl: null }, /^Nothing to change/],
    ['only unknown fields', { metadata: { a: 1 } }, /^Nothing to change/],
    ['an array', [], /^The request body must be a JSON object/],
    ['a name that is not a string', { name: 7 }, /^name must be a string/],
    ['an empty name', { name: ' ' }, /^Invalid updateApiKey\(\) patch: name/],
    ['an unknown role', { role: 'Owner' }, /^Invalid role specified$/],
    ['a bad ttl', { ttl: '1h30m' }, /^Invalid time to live "1h30m"/],
    ['a ttl over the maximum', { ttl: '31d' }, /is too long: the maximum is 30 days/],
    ['ttl of another type', { ttl: true }, /^ttl must be a string/],
    ['secondsToLive as a string', { secondsToLive: '60' }, /^secondsToLive must be/],
    ['both secondsToLive and ttl', { secondsToLive: 60, ttl: '1h' }, /^Give either/],
  ])('answers 400 for %s and changes nothing', async (_what, body, message) => {
    const { call, create } = routesFixture();
    const { id } = await create({ name: 'ci', role: 'Editor', ttl: '1h' });
    const before = (await call('GET', KEYS)).body;
    const response = await call('PATCH', `${KEYS}/${id}`, { json: body });
    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(message);
    expect((await call('GET', KEYS)).body).toEqual(before);
  });

  it('answers 409 for a name taken in the scope, and for a revoked key', async () => {
    const { call, create } = routesFixture();
    const a = await create({ name: 'a', role: 'Viewer', ttl: '1h' });
    await create({ name: 'b', role: 'Viewer', ttl: '1h' });
    const taken = await call('PATCH', `${KEYS}/${a.id}`, { json: { name: 'b' } });
    expect(taken.status).toBe(409);
    expect(taken.body.message).toMatch(/name/i);
    await call('POST', `${KEYS}/${a.id}/revoke`, { headers: json });
    const revoked = await call('PATCH', `${KEYS}/${a.id}`, { json: { name: 'c' } });
    expect(revoked.status).toBe(409);
    expect(Object.keys(revoked.body)).toEqual(['message']);
  });

  it('answers 403 for a role above the caller own, and when authorize refuses apikeys:write', async () => {
    const asked: string[] = [];
    const { call, create } = routesFixture({
      authorize: ({ actor, scope, action }) => {
        asked.push(action);
        return actor.org === scope && !(actor.name === 'bob' && action === 'apikeys:write');
      },
    });
    const { id } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const above = await call('PATCH', `${KEYS}/${id}`, { as: 'bob', json: { role: 'Admin' } });
    expect(above.status).toBe(403);
    const refused = await call('PATCH', `${KEYS}/${id}`, { as: 'bob', json: { name: 'x' } });
    expect(refused.status).toBe(403);
    expect(asked).toContain('apikeys:write');
    const list = await call('GET', KEYS);
    expect(list.body[0]).toMatchObject({ name: 'ci', role: 'Viewer' });
  });

  it('answers 415 without a JSON content type (a cross-site form cannot send it)', async () => {
    const { call, create } = routesFixture();
    const { id } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    for (const headers of <Record<string, string>[]>[
      {},
      { 'content-type': 'application/x-www-form-urlencoded' },
    ]) {
      const response = await call('PATCH', `${KEYS}/${id}`, { headers, body: 'name=x' });
      expect(response.status).toBe(415);
    }
    expect((await call('GET', KEYS)).body[0].name).toBe('ci');
  });
});

describe('POST /api/auth/keys/:id/rotate', () => {
  it('answers 200 { id, name, key }: the new key verifies at once, the old one stops (no grace)', async () => {
    const { call, create, keymint } = routesFixture();
    const old = await create({ name: 'ci', role: 'Editor', ttl: '1h' });
    const response = await call('POST', `${KEYS}/${old.id}/rotate`, { headers: json });
    expect(response.status).toBe(200);
    expect(Object.keys(response.body)).toEqual(['id', 'name', 'key']);
    expect(response.body).toMatchObject({ id: old.id, name: 'ci' });
    expect(response.body.key).not.toBe(old.key);
    expect(await keymint.verifyKey(old.key)).toEqual({ valid: false, reason: 'rotated' });
    expect(await keymint.verifyKey(response.body.key)).toMatchObject({
      valid: true,
      apiKey: { id: old.id, role: 'Editor' },
    });
  });

  it('keeps the old key valid for gracePeriod, then answers rotated', async () => {
    const { call, create, keymint, clock } = routesFixture();
    const old = await create({ name: 'ci', role: 'Viewer', ttl: '1d' });
    const response = await call('POST', `${KEYS}/${old.id}/rotate`, {
      json: { gracePeriod: '10m', ttl: '2d' },
    });
    expect(response.status).toBe(200);
    clock.advance(9 * 60_000);
    expect((await keymint.verifyKey(old.key)).valid).toBe(true);
    clock.advance(60_001);
    expect(await keymint.verifyKey(old.key)).toEqual({ valid: false, reason: 'rotated' });
    const list = await call('GET', KEYS);
    expect(list.body[0].expiration).toBe(new Date(T0 + 2 * DAY).toISOString());
  });

  it('puts the new key in this response only', async () => {
    const { call, create, texts } = routesFixture();
    const old = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const { body } = await call('POST', `${KEYS}/${old.id}/rotate`, { json: {} });
    await call('GET', KEYS);
    await call('PATCH', `${KEYS}/${old.id}`, { json: { name: 'renamed' } });
    expect(texts.filter((text) => text.includes(body.key))).toHaveLength(1);
  });

  it.each([
    ['a bad gracePeriod', { gracePeriod: 'soon' }, /gracePeriod/],
    ['a gracePeriod over 7 days', { gracePeriod: '8d' }, /7 days/],
    ['gracePeriod of another type', { gracePeriod: [] }, /^gracePeriod must be a string/],
    ['a ttl over the maximum', { ttl: '31d' }, /the maximum is 30 days/],
    ['an array', [], /^The request body must be empty or a JSON object/],
  ])('answers 400 for %s, and the old key stays the only one', async (_what, body, message) => {
    const { call, create, keymint } = routesFixture();
    const old = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const response = await call('POST', `${KEYS}/${old.id}/rotate`, { json: body });
    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(message);
    const result = await keymint.verifyKey(old.key);
    expect(result.valid && result.apiKey.rotatedAt).toBeNull();
  });

  it('answers 409 for a revoked or an expired key', async () => {
    const { call, create, clock } = routesFixture();
    const revoked = await create({ name: 'a', role: 'Viewer', ttl: '1h' });
    await call('POST', `${KEYS}/${revoked.id}/revoke`, { headers: json });
    expect((await call('POST', `${KEYS}/${revoked.id}/rotate`, { headers: json })).status).toBe(
      409,
    );
    const expired = await create({ name: 'b', role: 'Viewer', ttl: '1h' });
    clock.advance(HOUR);
    const response = await call('POST', `${KEYS}/${expired.id}/rotate`, { headers: json });
    expect(response.status).toBe(409);
  });

  it('answers 415 without a JSON content type, and rotates nothing', async () => {
    const { call, create, keymint } = routesFixture();
    const old = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const response = await call('POST', `${KEYS}/${old.id}/rotate`, { body: 'gracePeriod=1h' });
    expect(response.status).toBe(415);
    expect((await keymint.verifyKey(old.key)).valid).toBe(true);
  });

  it('answers 403 when authorize refuses apikeys:write, and 401 without a signed-in actor', async () => {
    const { call, create, keymint } = routesFixture({
      authorize: ({ actor, scope, action }) => actor.org === scope && action !== 'apikeys:write',
    });
    const old = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect((await call('POST', `${KEYS}/${old.id}/rotate`, { headers: json })).status).toBe(403);
    const anonymous = await call('POST', `${KEYS}/${old.id}/rotate`, { headers: json, as: null });
    expect(anonymous.status).toBe(401);
    expect((await keymint.verifyKey(old.key)).valid).toBe(true);
  });

  it.each(['GET', 'DELETE', 'PATCH'])('answers 405 with Allow: POST for %s', async (method) => {
    const { call } = routesFixture();
    const response = await call(method, `${KEYS}/AAAAAAAAAAAA/rotate`, { as: null });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('answers 503 without the driver error when the store fails', async () => {
    const faulty = failingAdapter();
    const { call, create, onError } = routesFixture({ adapter: faulty.adapter });
    const old = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    faulty.fail('findById');
    const response = await call('POST', `${KEYS}/${old.id}/rotate`, { headers: json });
    expect(response.status).toBe(503);
    expect(response.body).toEqual({ message: 'The key store is unavailable; try again later' });
    expect(onError).toHaveBeenCalledTimes(1);
  });
});

describe("PATCH and rotate on another tenant's key", () => {
  it.each([
    ['PATCH', '', { name: 'mine now' }],
    ['POST', '/rotate', { gracePeriod: '1h' }],
  ])(
    '%s %s answers exactly like an unknown id, before authorize, and changes nothing',
    async (method, suffix, body) => {
      const asked: string[] = [];
      const { call, create, keymint } = routesFixture({
        authorize: ({ actor, scope, action }) => {
          asked.push(`${action} ${scope}`);
          return actor.org === scope;
        },
      });
      const theirs = await create({ name: 'secret-b', role: 'Viewer', ttl: '1h' }, 'carol');
      asked.length = 0;
      const other = await call(method, `${KEYS}/${theirs.id}${suffix}`, { json: body });
      const unknown = await call(method, `${KEYS}/AAAAAAAAAAAA${suffix}`, { json: body });
      expect(other.status).toBe(404);
      expect(other.text).toBe(unknown.text);
      expect(asked.filter((entry) => entry.endsWith('org-2'))).toEqual([]);
      const result = await keymint.verifyKey(theirs.key);
      expect(result).toMatchObject({ valid: true, apiKey: { name: 'secret-b', rotatedAt: null } });
    },
  );
});
