import { describe, expect, it } from 'vitest';
import { isKeymintError } from '../src/errors.js';
import { createApiKeyRoutes, DEFAULT_MAX_BODY_BYTES } from '../src/http/index.js';
import { countingHasher, DAY, failingAdapter, fastKeymint, flush, HOUR, T0 } from './helpers.js';
import { until } from './fixtures/wait.js';
import { alice, ORIGIN, routesFixture } from './http-fixtures.js';

const KEYS = '/api/auth/keys';

describe('POST /api/auth/keys', () => {
  it('answers 200 { id, name, key } and the key verifies with the role asked', async () => {
    const { call, keymint } = routesFixture();
    const response = await call('POST', KEYS, {
      json: { name: 'ci', role: 'Editor', secondsToLive: 3600 },
    });
    expect(response.status).toBe(200);
    expect(Object.keys(response.body)).toEqual(['id', 'name', 'key']);
    expect(response.body).toMatchObject({ name: 'ci' });
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const result = await keymint.verifyKey(response.body.key, { scope: 'org-1' });
    expect(result).toMatchObject({ valid: true, apiKey: { id: response.body.id, role: 'Editor' } });
    expect(result.valid && result.apiKey.expiresAt).toEqual(new Date(T0 + HOUR));
  });

  it('accepts ttl as a string such as 12h, and a role in any letter case', async () => {
    const { create, keymint } = routesFixture();
    const { id } = await create({ name: 'ci', role: 'editor', ttl: '12h' });
    const apiKey = await keymint.getApiKey(id, {
      actor: { name: 'x', role: 'Admin', org: 'org-1' },
    });
    expect(apiKey.role).toBe('Editor');
    expect(apiKey.expiresAt).toEqual(new Date(T0 + 12 * HOUR));
  });

  it('treats secondsToLive 0 next to a ttl as not set', async () => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, {
      json: { name: 'ci', role: 'Viewer', secondsToLive: 0, ttl: '1h' },
    });
    expect(response.status).toBe(200);
  });

  it.each([
    ['secondsToLive 0', { secondsToLive: 0 }],
    ['no TTL at all', {}],
    ['secondsToLive null', { secondsToLive: null }],
  ])('answers 400 with keymint message for %s without allowNonExpiring', async (_what, ttl) => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, { json: { name: 'ci', role: 'Viewer', ...ttl } });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      message:
        'A time to live is required: enter a whole number followed by s, m, h, d, w or M, for example 12h or 1M.',
    });
  });

  it('creates a key that never expires for secondsToLive 0 when the instance allows it', async () => {
    const { create, call } = routesFixture({ allowNonExpiring: true });
    await create({ name: 'forever', role: 'Viewer', secondsToLive: 0 });
    const list = await call('GET', KEYS);
    expect(list.body).toEqual([
      { id: expect.any(String), name: 'forever', role: 'Viewer', isRevoked: false },
    ]);
  });

  it.each([
    ['secondsToLive', { secondsToLive: 31 * 86_400 }, '2678400'],
    ['ttl', { ttl: '31d' }, '"31d"'],
  ])('answers 400 naming the limit for a %s over the maximum', async (_what, ttl, shown) => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, { json: { name: 'ci', role: 'Viewer', ...ttl } });
    expect(response.status).toBe(400);
    expect(response.body.message).toBe(
      `Time to live ${shown} is too long: the maximum is 30 days (2592000 seconds); enter a whole number followed by s, m, h, d, w or M, for example 12h or 1M.`,
    );
  });

  it.each([
    ['a bad ttl', { ttl: '1h30m' }, /^Invalid time to live "1h30m"/],
    ['a negative secondsToLive', { secondsToLive: -5 }, /^Invalid time to live -5/],
    ['a fractional secondsToLive', { secondsToLive: 1.5 }, /^Invalid time to live 1.5/],
    ['secondsToLive as a string', { secondsToLive: '3600' }, /^secondsToLive must be a whole/],
    ['ttl of another type', { ttl: true }, /^ttl must be a string/],
    ['both secondsToLive and ttl', { secondsToLive: 60, ttl: '1h' }, /^Give either/],
  ])('answers 400 for %s', async (_what, ttl, message) => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, { json: { name: 'ci', role: 'Viewer', ...ttl } });
    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(message);
  });

  it.each([
    ['an unknown role', { role: 'Owner' }],
    ['no role', {}],
    ['a role that is not a string', { role: 2 }],
  ])('answers 400 "Invalid role specified" for %s', async (_what, role) => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, { json: { name: 'ci', ttl: '1h', ...role } });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ message: 'Invalid role specified' });
  });

  it.each([
    ['no name', { role: 'Viewer', ttl: '1h' }, 'name is required and must be a string'],
    ['an empty name', { name: '  ', role: 'Viewer', ttl: '1h' }, /^Invalid createApiKey\(\) input/],
    ['an array', [], /^The request body must be a JSON object/],
    ['null', null, /^The request body must be a JSON object/],
    ['a string', 'ci', /^The request body must be a JSON object/],
  ])('answers 400 for %s', async (_what, json, message) => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, { json });
    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(message);
  });

  it.each([
    ['broken JSON', '{"name": "ci",', 'The request body is not valid JSON'],
    ['an empty body', '', 'The request body is not valid JSON'],
    [
      'bytes that are not UTF-8',
      new Uint8Array([0x7b, 0xff, 0x7d]),
      'The request body is not valid UTF-8',
    ],
  ])('answers 400 for %s', async (_what, body, message) => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, {
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ message });
  });

  it('answers 403 for a role above the caller own (actorRole)', async () => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, {
      as: 'bob',
      json: { name: 'ci', role: 'Editor', ttl: '1h' },
    });
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ message: 'Cannot assign a role higher than your own role.' });
  });

  it('answers 403 when authorize refuses', async () => {
    const { call } = routesFixture({ authorize: ({ actor }) => actor.name !== 'alice' });
    const response = await call('POST', KEYS, { json: { name: 'ci', role: 'Viewer', ttl: '1h' } });
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ message: 'Not allowed to create API keys in scope "org-1".' });
  });

  it('answers 409 for a name taken in the same scope, and creates it in another scope', async () => {
    const { call, create } = routesFixture();
    await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const again = await call('POST', KEYS, { json: { name: 'ci', role: 'Viewer', ttl: '1h' } });
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/^An API key named "ci" already exists in scope "org-1"/);
    await create({ name: 'ci', role: 'Viewer', ttl: '1h' }, 'carol');
  });

  it('answers 409 KEYS_LIMIT when the scope holds maxKeysPerScope live keys', async () => {
    const { call, create } = routesFixture({ maxKeysPerScope: 1 });
    await create({ name: 'one', role: 'Viewer', ttl: '1h' });
    const full = await call('POST', KEYS, { json: { name: 'two', role: 'Viewer', ttl: '1h' } });
    expect(full.status).toBe(409);
    expect(full.body.message).toMatch(/^Scope "org-1" already has 1 live API keys/);
    await create({ name: 'two', role: 'Viewer', ttl: '1h' }, 'carol'); // another scope
  });

  it('ignores fields Grafana does not know, and takes the scope from the actor only', async () => {
    const { create, keymint } = routesFixture();
    const { key } = await create({ name: 'ci', role: 'Viewer', ttl: '1h', scope: 'org-2' });
    expect(await keymint.verifyKey(key, { scope: 'org-1' })).toMatchObject({ valid: true });
  });
});

describe('content type and body size', () => {
  const json = JSON.stringify({ name: 'ci', role: 'Viewer', ttl: '1h' });

  it.each([
    ['no content type', undefined],
    ['text/plain', 'text/plain'],
    ['application/jsonx', 'application/jsonx'],
    ['multipart', 'multipart/form-data; boundary=x'],
  ])('answers 415 for %s', async (_what, type) => {
    const { call } = routesFixture();
    const headers: Record<string, string> = type ? { 'content-type': type } : {};
    const response = await call('POST', KEYS, { body: new Blob([json]), headers });
    expect(response.status).toBe(415);
    expect(response.body).toEqual({ message: 'Content-Type must be application/json' });
  });

  it('accepts application/json in any case, with parameters', async () => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, {
      body: json,
      headers: { 'content-type': 'Application/JSON ; charset=UTF-8' },
    });
    expect(response.status).toBe(200);
  });

  it('answers 413 past the default 16 KiB, from Content-Length or from the bytes read', async () => {
    const { call } = routesFixture();
    const big = JSON.stringify({ name: 'ci', role: 'Viewer', ttl: '1h', pad: 'x'.repeat(16_384) });
    const declared = await call('POST', KEYS, {
      body: big,
      headers: { 'content-type': 'application/json' },
    });
    expect(declared.status).toBe(413);
    expect(declared.body).toEqual({ message: 'The request body is larger than 16384 bytes' });

    let pulls = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(4096).fill(0x20));
        if (pulls > 1000) controller.close();
      },
    });
    const streamed = await call('POST', KEYS, {
      body: stream,
      headers: { 'content-type': 'application/json' },
    });
    expect(streamed.status).toBe(413);
    expect(pulls).toBeLessThan(10); // stopped reading at the limit
  });

  it('follows maxBodyBytes, and accepts a body of exactly the limit', async () => {
    const { call } = routesFixture({}, { maxBodyBytes: json.length });
    const exact = await call('POST', KEYS, {
      body: json,
      headers: { 'content-type': 'application/json' },
    });
    expect(exact.status).toBe(200);
    const over = await call('POST', KEYS, {
      body: `${json} `,
      headers: { 'content-type': 'application/json' },
    });
    expect(over.status).toBe(413);
    expect(DEFAULT_MAX_BODY_BYTES).toBe(16_384);
  });

  it('answers 401 before looking at the content type or the body', async () => {
    const { call } = routesFixture();
    const response = await call('POST', KEYS, { as: null, body: 'x'.repeat(100_000) });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ message: 'Unauthorized' });
  });
});

describe('GET /api/auth/keys', () => {
  it("answers the caller's scope's keys sorted by name, with ISO dates and no secret", async () => {
    const { call, create, keymint, clock } = routesFixture();
    const b = await create({ name: 'b-deploy', role: 'Editor', ttl: '2d' });
    const a = await create({ name: 'a-ci', role: 'Viewer', secondsToLive: 3600 });
    await create({ name: 'other-org', role: 'Viewer', ttl: '1h' }, 'carol');
    clock.advance(1_000);
    expect((await keymint.verifyKey(b.key)).valid).toBe(true);
    // The last-used write is queued off the request path: wait for it, however busy the machine.
    await until(
      async () => (await keymint.getApiKey(b.id, { actor: alice })).lastUsedAt !== null,
      'the last-used write',
    );
    const response = await call('GET', KEYS);
    expect(response.status).toBe(200);
    expect(response.body).toEqual([
      {
        id: a.id,
        name: 'a-ci',
        role: 'Viewer',
        expiration: new Date(T0 + HOUR).toISOString(),
        isRevoked: false,
      },
      {
        id: b.id,
        name: 'b-deploy',
        role: 'Editor',
        expiration: new Date(T0 + 2 * DAY).toISOString(),
        lastUsedAt: new Date(T0 + 1_000).toISOString(),
        isRevoked: false,
      },
    ]);
    for (const key of [a.key, b.key]) expect(response.text).not.toContain(key);
    expect(response.text).not.toMatch(/hmac|secret|hash/i);
  });

  it('leaves out expired keys unless includeExpired=true', async () => {
    const { call, create, clock } = routesFixture();
    await create({ name: 'short', role: 'Viewer', ttl: '1h' });
    await create({ name: 'long', role: 'Viewer', ttl: '1d' });
    clock.advance(HOUR);
    const names = async (query: string) =>
      (await call('GET', `${KEYS}${query}`)).body.map((k: { name: string }) => k.name);
    expect(await names('')).toEqual(['long']);
    expect(await names('?includeExpired=false')).toEqual(['long']);
    expect(await names('?includeExpired=true')).toEqual(['long', 'short']);
  });

  it('answers 400 for an includeExpired that is not true or false', async () => {
    const { call } = routesFixture();
    const response = await call('GET', `${KEYS}?includeExpired=yes`);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ message: 'includeExpired must be true or false' });
  });

  it('pages through keymint past 1000 keys', async () => {
    const { call, keymint } = routesFixture();
    const actor = { actor: { name: 'x', role: 'Admin', org: 'org-1' } };
    for (let i = 0; i < 1001; i++) {
      const name = `k${String(i).padStart(4, '0')}`;
      await keymint.createApiKey({ name, role: 'Viewer', ttl: '1h', scope: 'org-1' }, actor);
    }
    const response = await call('GET', KEYS);
    expect(response.body).toHaveLength(1001);
    expect(response.body.at(-1).name).toBe('k1000');
  });

  it('answers 403 when authorize refuses to read', async () => {
    const { call } = routesFixture({ authorize: ({ action }) => action !== 'apikeys:read' });
    const response = await call('GET', KEYS);
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ message: 'Not allowed to read API keys in scope "org-1".' });
  });
});

describe('DELETE /api/auth/keys/:id', () => {
  it('answers 200 "API key deleted", after which the key is refused and the id is 404', async () => {
    const { call, create, keymint } = routesFixture();
    const { id, key } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const deleted = await call('DELETE', `${KEYS}/${id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ message: 'API key deleted' });
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
    const again = await call('DELETE', `${KEYS}/${id}`);
    expect(again.status).toBe(404);
    expect(again.body).toEqual({ message: 'API key not found' });
  });

  it("answers 404 for another scope's key, and leaves it alone", async () => {
    const { call, create, keymint } = routesFixture();
    const { id, key } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' }, 'carol');
    const response = await call('DELETE', `${KEYS}/${id}`);
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ message: 'API key not found' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('answers 404 without echoing it when a whole key is sent as the id', async () => {
    const { call, create } = routesFixture();
    const { key } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    for (const id of [key, 'nope', '%20']) {
      const response = await call('DELETE', `${KEYS}/${id}`);
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ message: 'API key not found' });
    }
  });

  it('answers 403 when authorize refuses to delete', async () => {
    const { call, create } = routesFixture({
      authorize: ({ action }) => action !== 'apikeys:delete',
    });
    const { id } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const response = await call('DELETE', `${KEYS}/${id}`);
    expect(response.status).toBe(403);
  });
});

describe('POST /api/auth/keys/:id/revoke', () => {
  const json = { 'content-type': 'application/json' };

  it('answers 200 "API key revoked"; the key is then refused and listed with isRevoked', async () => {
    const { call, create, keymint } = routesFixture();
    const { id, key } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    const revoked = await call('POST', `${KEYS}/${id}/revoke`, { headers: json });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ message: 'API key revoked' });
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    const list = await call('GET', KEYS);
    expect(list.body).toEqual([expect.objectContaining({ id, name: 'ci', isRevoked: true })]);
  });

  it('accepts an empty body or {}, and answers 200 again for a key already revoked', async () => {
    const { call, create } = routesFixture();
    const { id } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect((await call('POST', `${KEYS}/${id}/revoke`, { json: {} })).status).toBe(200);
    expect((await call('POST', `${KEYS}/${id}/revoke`, { headers: json })).status).toBe(200);
  });

  it('answers 415 without a JSON content type (a cross-site form cannot send one), and revokes nothing', async () => {
    const { call, create, keymint } = routesFixture();
    const { id, key } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const forms: Record<string, string>[] = [
      {},
      { 'content-type': 'application/x-www-form-urlencoded' },
    ];
    for (const headers of forms) {
      const response = await call('POST', `${KEYS}/${id}/revoke`, { headers, body: 'a=1' });
      expect(response.status).toBe(415);
      expect(response.body).toEqual({ message: 'Content-Type must be application/json' });
    }
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const { call, create } = routesFixture();
    const { id } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const response = await call('POST', `${KEYS}/${id}/revoke`, { headers: json, body: '{' });
    expect(response.status).toBe(400);
  });

  it("answers 404 for an unknown id and for another scope's key, which stays valid", async () => {
    const { call, create, keymint } = routesFixture();
    const { id, key } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' }, 'carol');
    for (const target of [id, 'nope']) {
      const response = await call('POST', `${KEYS}/${target}/revoke`, { headers: json });
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ message: 'API key not found' });
    }
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('answers 401 without a signed-in actor and 403 when authorize refuses to revoke', async () => {
    const { call, create, keymint } = routesFixture({
      authorize: ({ action }) => action !== 'apikeys:delete', // revoking needs delete, as in Grafana
    });
    const { id, key } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const anonymous = await call('POST', `${KEYS}/${id}/revoke`, { headers: json, as: null });
    expect(anonymous.status).toBe(401);
    const refused = await call('POST', `${KEYS}/${id}/revoke`, { headers: json });
    expect(refused.status).toBe(403);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it.each(['GET', 'DELETE', 'PUT'])('answers 405 with Allow: POST for %s', async (method) => {
    const { call, create } = routesFixture();
    const { id } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const response = await call(method, `${KEYS}/${id}/revoke`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('answers 404 for other paths below a key', async () => {
    const { call, create } = routesFixture();
    const { id } = await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    for (const path of [`${KEYS}/${id}/unrevoke`, `${KEYS}/${id}/revoke/x`, `${KEYS}//revoke`]) {
      expect((await call('POST', path, { headers: json })).status).toBe(404);
    }
  });
});

describe('tenants: another scope is answered as a missing key', () => {
  const json = { 'content-type': 'application/json' };

  it.each([
    ['DELETE', ''],
    ['POST', '/revoke'],
  ])(
    "%s %s on another tenant's key answers exactly like an unknown id, before authorize",
    async (method, suffix) => {
      const asked: string[] = [];
      const { call, create, keymint } = routesFixture({
        // A scope-aware authorize, as a multi-tenant host writes it: it would say 403 for org-2.
        authorize: ({ actor, scope, action }) => {
          asked.push(`${action} ${scope}`);
          return actor.org === scope;
        },
      });
      const theirs = await create({ name: 'secret-b', role: 'Viewer', ttl: '1h' }, 'carol');
      asked.length = 0;
      const other = await call(method, `${KEYS}/${theirs.id}${suffix}`, { headers: json });
      const unknown = await call(method, `${KEYS}/AAAAAAAAAAAA${suffix}`, { headers: json });
      expect(other.status).toBe(404);
      expect(other.text).toBe(unknown.text);
      expect(other.text).not.toContain('org-2');
      expect(asked.filter((entry) => entry.endsWith('org-2'))).toEqual([]);
      expect((await keymint.verifyKey(theirs.key)).valid).toBe(true);
    },
  );

  it('deletes and revokes with apikeys:delete alone, as Grafana (no read permission needed)', async () => {
    const { call, create } = routesFixture({
      authorize: ({ action }) => action !== 'apikeys:read',
    });
    const a = await create({ name: 'a', role: 'Viewer', ttl: '1h' });
    const b = await create({ name: 'b', role: 'Viewer', ttl: '1h' });
    expect((await call('POST', `${KEYS}/${a.id}/revoke`, { headers: json })).status).toBe(200);
    expect((await call('DELETE', `${KEYS}/${b.id}`)).status).toBe(200);
  });
});

describe('an instance without authorize', () => {
  it('is refused with CONFIG, since any signed-in user could then mint Admin keys', () => {
    const { keymint } = fastKeymint();
    let thrown: unknown;
    try {
      createApiKeyRoutes(keymint, { authenticate: () => ({}) });
    } catch (error) {
      thrown = error;
    }
    expect(isKeymintError(thrown, 'CONFIG')).toBe(true);
    expect((thrown as Error).message).toMatch(/authorize.*allowAnyActor: true/s);
  });

  it('is accepted with allowAnyActor: true, and then any actor manages its scope', async () => {
    const { keymint } = fastKeymint();
    const routes = createApiKeyRoutes(keymint, { authenticate: () => ({}), allowAnyActor: true });
    const response = await routes(
      new Request(`${ORIGIN}${KEYS}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ci', role: 'Admin', ttl: '1h' }),
      }),
    );
    expect(response.status).toBe(200);
  });
});

describe('routing and errors', () => {
  it.each([
    ['PUT', KEYS, 'GET, POST'],
    ['PATCH', `${KEYS}/`, 'GET, POST'],
    ['GET', `${KEYS}/AAAAAAAAAAAA`, 'PATCH, DELETE'],
    ['POST', `${KEYS}/AAAAAAAAAAAA`, 'PATCH, DELETE'],
  ])('answers 405 with Allow for %s %s, before authentication', async (method, path, allow) => {
    const { call } = routesFixture();
    const response = await call(method, path, { as: null });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe(allow);
    expect(response.body).toEqual({ message: 'Method not allowed' });
  });

  it.each(['/api/auth/key', '/api/auth/keysx', `${KEYS}/a/b`, '/', '/api/dashboards'])(
    'answers 404 { message } for %s',
    async (path) => {
      const { call } = routesFixture();
      const response = await call('GET', path);
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ message: 'Not found' });
    },
  );

  it('serves under basePath, and only there', async () => {
    const { call } = routesFixture({}, { basePath: '/admin/keys/' });
    expect((await call('GET', '/admin/keys')).status).toBe(200);
    expect((await call('GET', KEYS)).status).toBe(404);
  });

  it('answers 401 when authenticate returns null or undefined', async () => {
    const { call } = routesFixture({}, { authenticate: () => undefined });
    for (const [method, path] of [
      ['GET', KEYS],
      ['DELETE', `${KEYS}/AAAAAAAAAAAA`],
    ] as const) {
      const response = await call(method, path);
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ message: 'Unauthorized' });
    }
  });

  it('answers 500 without the error when authenticate throws, and tells onError', async () => {
    const failure = new Error('session store down at 10.0.0.7');
    const { call, onError } = routesFixture({}, { authenticate: () => Promise.reject(failure) });
    const response = await call('GET', KEYS);
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ message: 'Internal server error' });
    expect(onError).toHaveBeenCalledWith(failure, expect.any(Request));
  });

  it('answers 503 with a generic message when the store fails, never the driver error', async () => {
    const faulty = failingAdapter();
    const { call, onError } = routesFixture({ adapter: faulty.adapter });
    faulty.fail('list');
    const response = await call('GET', KEYS);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(response.body).toEqual({ message: 'The key store is unavailable; try again later' });
    expect(response.text).not.toMatch(/ECONNRESET|connection reset|stack|at /);
    expect(onError).toHaveBeenCalledOnce();
  });

  it('answers 500 when the hasher fails, and 503 with Retry-After when hashing is busy', async () => {
    const broken = routesFixture({
      hasher: { hash: () => Promise.reject(new Error('boom')), verify: async () => false },
    });
    const failed = await broken.call('POST', KEYS, {
      json: { name: 'ci', role: 'Viewer', ttl: '1h' },
    });
    expect(failed.status).toBe(500);
    expect(failed.body).toEqual({ message: 'Internal server error' });

    const hasher = countingHasher();
    const busy = routesFixture({ hasher, hashing: { concurrency: 1, queue: 0 } });
    const release = hasher.hold();
    const first = busy.call('POST', KEYS, { json: { name: 'a', role: 'Viewer', ttl: '1h' } });
    const second = await busy.call('POST', KEYS, {
      json: { name: 'b', role: 'Viewer', ttl: '1h' },
    });
    expect(second.status).toBe(503);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(second.body.message).toMatch(/^Too many keys are being hashed right now/);
    release();
    expect((await first).status).toBe(200);
    expect(busy.onError).not.toHaveBeenCalled();
  });

  it('keeps its answer when onError throws', async () => {
    const { call } = routesFixture(
      {},
      {
        authenticate: () => {
          throw new Error('x');
        },
        onError: () => {
          throw new Error('reporter down');
        },
      },
    );
    expect((await call('GET', KEYS)).status).toBe(500);
  });

  it('never puts a created key in any other response', async () => {
    const fixture = routesFixture();
    const { id, key } = await fixture.create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const created = fixture.texts.length;
    await fixture.call('GET', `${KEYS}?includeExpired=true`);
    await fixture.call('POST', KEYS, { json: { name: 'ci', role: 'Viewer', ttl: '1h' } });
    await fixture.call('POST', KEYS, { json: { name: key, role: 'Viewer', ttl: key } });
    await fixture.call('POST', KEYS, { json: { name: 'x', role: key, ttl: '1h' } });
    await fixture.call('DELETE', `${KEYS}/${key}`);
    await fixture.call('GET', `${KEYS}/${key}`);
    await fixture.call('DELETE', `${KEYS}/${id}`);
    const later = fixture.texts.slice(created);
    expect(later).toHaveLength(7);
    for (const text of later) expect(text).not.toContain(key);
  });

  it.each([
    ['no authenticate', { authenticate: undefined }, /authenticate/],
    ['a basePath without a leading slash', { basePath: 'api' }, /basePath/],
    ['maxBodyBytes 0', { maxBodyBytes: 0 }, /maxBodyBytes/],
    ['a fractional maxBodyBytes', { maxBodyBytes: 1.5 }, /maxBodyBytes/],
  ])('throws a CONFIG KeymintError at once for %s', (_what, options, message) => {
    const { keymint } = routesFixture();
    let thrown: unknown;
    try {
      createApiKeyRoutes(keymint, { authenticate: () => null, ...options } as never);
    } catch (error) {
      thrown = error;
    }
    expect(isKeymintError(thrown, 'CONFIG')).toBe(true);
    expect((thrown as Error).message).toMatch(message);
  });

  it('reads only the path and query of the URL', async () => {
    const { routes } = routesFixture();
    const response = await routes(
      new Request(`${ORIGIN.replace('localhost', 'example.test:8080')}${KEYS}?x=1`, {
        headers: { 'x-user': 'alice' },
      }),
    );
    expect(response.status).toBe(200);
  });
});
