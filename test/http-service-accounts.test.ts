// Grafana's service-account token routes (issue 16): GET and POST /api/serviceaccounts/:id/tokens
// and DELETE /api/serviceaccounts/:id/tokens/:tokenId, where :id is the owner of the tokens, on
// the Web handler and mounted in Express over a real socket.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { toNodeListener } from '../src/http/index.js';
import type { ServiceAccounts } from '../src/http/service-accounts.js';
import { sleep } from './fixtures/wait.js';
import { DAY, HOUR, T0 } from './helpers.js';
import { routesFixture, type User } from './http-fixtures.js';

const TOKENS = (id: string) => `/api/serviceaccounts/${encodeURIComponent(id)}/tokens`;

/** org-1 has the accounts sa-1 (Editor) and sa-2 (Viewer); other orgs have none. */
const accounts: ServiceAccounts<User> = {
  role: (id, actor) =>
    actor.org === 'org-1' ? (({ 'sa-1': 'Editor', 'sa-2': 'Viewer' } as const)[id] ?? null) : null,
};

const fixture = () => routesFixture({}, { serviceAccounts: accounts });

describe('service-account token routes', () => {
  it("POST creates a token owned by the account, with the account's role, answering { id, name, key }", async () => {
    const { call, keymint } = fixture();
    const created = await call('POST', TOKENS('sa-1'), {
      json: { name: 'deploy', secondsToLive: 3_600, role: 'Admin' },
    });
    expect(created.status).toBe(200);
    expect(Object.keys(created.body).sort()).toEqual(['id', 'key', 'name']);
    expect(created.body.name).toBe('deploy');
    expect(created.headers.get('cache-control')).toBe('no-store');
    const verified = await keymint.verifyKey(created.body.key);
    expect(verified).toMatchObject({
      valid: true,
      apiKey: { id: created.body.id, role: 'Editor', owner: 'sa-1', scope: 'org-1' },
    });
    if (verified.valid) expect(verified.apiKey.expiresAt).toEqual(new Date(T0 + HOUR));
  });

  it("GET lists only that account's tokens, Grafana's fields, including expired and revoked ones", async () => {
    // Expiry in the list is by the server's clock, as in Grafana: this instance runs on it too.
    const start = Date.now();
    const { call, keymint } = routesFixture(
      { now: () => new Date() },
      { serviceAccounts: accounts },
    );
    const a = await call('POST', TOKENS('sa-1'), { json: { name: 'b', secondsToLive: 1 } });
    const b = await call('POST', TOKENS('sa-1'), {
      json: { name: 'a', secondsToLive: 30 * 86_400 },
    });
    await call('POST', TOKENS('sa-2'), { json: { name: 'c', secondsToLive: 60 } });
    await call('POST', '/api/auth/keys', { json: { name: 'plain', role: 'Viewer', ttl: '1h' } });
    await keymint.revokeApiKey(b.body.id, {
      actor: { name: 'alice', role: 'Admin', org: 'org-1' },
    });
    await sleep(1_100);
    const listed = await call('GET', TOKENS('sa-1'));
    expect(listed.status).toBe(200);
    const created = (body: { created: string }) => Date.parse(body.created);
    expect(created(listed.body[0])).toBeGreaterThanOrEqual(start);
    expect(listed.body).toEqual([
      {
        id: b.body.id,
        name: 'a',
        role: 'Editor',
        created: listed.body[0].created,
        expiration: new Date(created(listed.body[0]) + 30 * DAY).toISOString(),
        secondsUntilExpiration: 0,
        hasExpired: false,
        isRevoked: true,
        lastUsedAt: null,
      },
      {
        id: a.body.id,
        name: 'b',
        role: 'Editor',
        created: listed.body[1].created,
        expiration: new Date(created(listed.body[1]) + 1_000).toISOString(),
        secondsUntilExpiration: 0,
        hasExpired: true,
        isRevoked: false,
        lastUsedAt: null,
      },
    ]);
    expect(listed.text).not.toContain(a.body.key);
  });

  it('counts secondsUntilExpiration for a token expiring within seven days', async () => {
    const { call } = routesFixture({ now: () => new Date() }, { serviceAccounts: accounts });
    await call('POST', TOKENS('sa-1'), { json: { name: 'soon', secondsToLive: 3_600 } });
    await call('POST', TOKENS('sa-1'), { json: { name: 'later', secondsToLive: 8 * 86_400 } });
    const listed = await call('GET', TOKENS('sa-1'));
    expect(listed.body.map((t: { name: string }) => t.name)).toEqual(['later', 'soon']);
    expect(listed.body[0].secondsUntilExpiration).toBe(0);
    expect(listed.body[1].secondsUntilExpiration).toBeGreaterThan(3_590);
    expect(listed.body[1].secondsUntilExpiration).toBeLessThanOrEqual(3_600);
  });

  it("DELETE removes the account's token, and answers 404 for another account's or an unknown one", async () => {
    const { call, keymint } = fixture();
    const mine = await call('POST', TOKENS('sa-1'), { json: { name: 't', secondsToLive: 60 } });
    const theirs = await call('POST', TOKENS('sa-2'), { json: { name: 'u', secondsToLive: 60 } });
    const wrong = await call('DELETE', `${TOKENS('sa-1')}/${theirs.body.id}`);
    expect(wrong).toMatchObject({ status: 404, body: { message: 'Failed to delete API key' } });
    expect((await keymint.verifyKey(theirs.body.key)).valid).toBe(true);
    const unknown = await call('DELETE', `${TOKENS('sa-1')}/AAAAAAAAAAAA`);
    expect(unknown).toMatchObject({ status: 404, body: { message: 'Failed to delete API key' } });
    const deleted = await call('DELETE', `${TOKENS('sa-1')}/${mine.body.id}`);
    expect(deleted).toMatchObject({ status: 200, body: { message: 'API key deleted' } });
    expect(await keymint.verifyKey(mine.body.key)).toEqual({ valid: false, reason: 'not_found' });
    expect((await call('GET', TOKENS('sa-1'))).body).toEqual([]);
  });

  it('answers 404 "Failed to retrieve service account" for an account role() does not know', async () => {
    const { call } = fixture();
    for (const [method, path] of [
      ['GET', TOKENS('sa-9')],
      ['POST', TOKENS('sa-9')],
      ['DELETE', `${TOKENS('sa-9')}/AAAAAAAAAAAA`],
      ['GET', TOKENS('sa-1')], // carol is in org-2, which has no sa-1
    ] as const) {
      const response = await call(method, path, {
        as: path === TOKENS('sa-1') ? 'carol' : 'alice',
        ...(method === 'POST' && { json: { name: 'x', secondsToLive: 60 } }),
      });
      expect(response).toMatchObject({
        status: 404,
        body: { message: 'Failed to retrieve service account' },
      });
    }
  });

  it('answers 409 for a taken name, 400 for bad input, 401 without sign-in, 403 above the actor, 405', async () => {
    const { call } = fixture();
    await call('POST', TOKENS('sa-1'), { json: { name: 'dup', secondsToLive: 60 } });
    const dup = await call('POST', TOKENS('sa-1'), { json: { name: 'dup', secondsToLive: 60 } });
    expect(dup).toMatchObject({
      status: 409,
      body: { message: 'service account token with given name already exists in the organization' },
    });
    const noName = await call('POST', TOKENS('sa-1'), { json: { secondsToLive: 60 } });
    expect(noName.status).toBe(400);
    const notJson = await call('POST', TOKENS('sa-1'), {
      body: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(notJson.status).toBe(415);
    expect((await call('GET', TOKENS('sa-1'), { as: null })).status).toBe(401);
    // bob is a Viewer: he may not mint an Editor token for sa-1 (actorRole).
    const above = await call('POST', TOKENS('sa-1'), {
      as: 'bob',
      json: { name: 'x', secondsToLive: 60 },
    });
    expect(above.status).toBe(403);
    const wrongMethod = await call('PUT', TOKENS('sa-1'));
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, POST');
    const badId = await call('GET', TOKENS('x'.repeat(191)));
    expect(badId).toMatchObject({
      status: 400,
      body: { message: 'Service Account ID is invalid' },
    });
  });

  it('leaves /api/serviceaccounts unanswered (404) without the serviceAccounts option', async () => {
    const { call } = routesFixture();
    expect((await call('GET', TOKENS('sa-1'))).status).toBe(404);
  });

  it('works mounted in Express through toNodeListener, over a real socket', async () => {
    const { routes, keymint } = fixture();
    const app = express();
    app.all('/api/serviceaccounts{/*rest}', toNodeListener(routes));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const headers = { 'content-type': 'application/json', 'x-user': 'alice' };
      const created = await fetch(`${base}${TOKENS('sa-2')}`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'ci', secondsToLive: 60 }),
      });
      expect(created.status).toBe(200);
      const { id, key } = (await created.json()) as { id: string; key: string };
      expect(await keymint.verifyKey(key)).toMatchObject({
        valid: true,
        apiKey: { role: 'Viewer' },
      });
      const listed = await fetch(`${base}${TOKENS('sa-2')}`, { headers });
      expect(((await listed.json()) as { id: string }[]).map((t) => t.id)).toEqual([id]);
      const deleted = await fetch(`${base}${TOKENS('sa-2')}/${id}`, { method: 'DELETE', headers });
      expect(deleted.status).toBe(200);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
