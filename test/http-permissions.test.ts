// requireApiKey({ permissions }) on real Express, Fastify and Hono servers, and
// authenticateRequest({ permissions }) behind node:http (toNodeListener): 403 with Grafana's
// wording for a key without the permission, 200 with its effective permissions for one with it.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireApiKey as expressRequire } from '../src/http/express.js';
import { requireApiKey as fastifyRequire } from '../src/http/fastify.js';
import { requireApiKey as honoRequire, type ApiKeyVariables } from '../src/http/hono.js';
import { authenticateRequest, toNodeListener, toResponse } from '../src/http/index.js';
import { expectThrowsCode, fastKeymint } from './helpers.js';
import { routesFixture } from './http-fixtures.js';

const { keymint } = fastKeymint({
  permissions: { Viewer: ['dashboards:read'], Editor: ['dashboards:write'], Admin: ['*'] },
});
const WRITE = { permissions: ['dashboards:write'] };

interface Started {
  url: string;
  close(): Promise<void>;
}

async function listening(server: Server | ServerType): Promise<Started> {
  if (!server.listening) await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        if ('closeAllConnections' in server) server.closeAllConnections();
      }),
  };
}

const servers: Record<string, () => Promise<Started>> = {
  'Express 5': () => {
    const app = express();
    app.post('/dashboards', expressRequire(keymint, WRITE), (req, res) => {
      res.json({ permissions: req.apiKey?.permissions });
    });
    return listening(app.listen(0, '127.0.0.1'));
  },
  'Fastify 5': async () => {
    const app = Fastify();
    app.post('/dashboards', { onRequest: fastifyRequire(keymint, WRITE) }, async (request) => ({
      permissions: request.apiKey?.permissions,
    }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  'Hono 4': () => {
    const app = new Hono<{ Variables: ApiKeyVariables }>();
    app.post('/dashboards', honoRequire(keymint, WRITE), (c) =>
      c.json({ permissions: c.get('apiKey').permissions }),
    );
    return listening(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }));
  },
  'node:http': () => {
    const handler = async (request: Request) => {
      const auth = await authenticateRequest(keymint, request, WRITE);
      if (!auth.ok) return toResponse(auth);
      return Response.json({ permissions: auth.apiKey.permissions });
    };
    return listening(createServer(toNodeListener(handler)).listen(0, '127.0.0.1'));
  },
};

let viewer: string;
let editor: string;
let narrowed: string;
beforeAll(async () => {
  viewer = (await keymint.createApiKey({ name: 'viewer', role: 'Viewer', ttl: '1h' })).key;
  editor = (await keymint.createApiKey({ name: 'editor', role: 'Editor', ttl: '1h' })).key;
  // An Editor narrowed to reading: its role would allow the route, its permissions do not.
  narrowed = (
    await keymint.createApiKey({
      name: 'reader',
      role: 'Editor',
      ttl: '1h',
      permissions: ['dashboards:read'],
    })
  ).key;
});

for (const [framework, start] of Object.entries(servers)) {
  describe(`${framework}: a route protected by a permission`, () => {
    let app: Started;
    beforeAll(async () => {
      app = await start();
    });
    afterAll(() => app.close());
    const post = (key: string) =>
      fetch(`${app.url}/dashboards`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
      });

    it('answers 403 Insufficient permissions for a key without it, whatever its role', async () => {
      for (const key of [viewer, narrowed]) {
        const response = await post(key);
        expect(response.status).toBe(403);
        expect(await response.json()).toEqual({
          message: 'Insufficient permissions for this API key',
        });
      }
    });

    it('lets a key holding it through, with its effective permissions', async () => {
      const response = await post(editor);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        permissions: ['dashboards:read', 'dashboards:write'],
      });
    });

    it('answers 401 without a key, before any permission', async () => {
      const response = await fetch(`${app.url}/dashboards`, { method: 'POST' });
      expect(response.status).toBe(401);
    });
  });
}

describe('requireApiKey({ permissions }) setup', () => {
  it('refuses an unknown permission and an instance without a map at setup', () => {
    for (const requireApiKey of [expressRequire, fastifyRequire, honoRequire]) {
      const typo = expectThrowsCode(
        () => requireApiKey(keymint, { permissions: ['dashboard:write'] }),
        'INVALID_INPUT',
      );
      expect(typo.message).toContain('"dashboard:write"');
      expectThrowsCode(
        () => requireApiKey(fastKeymint().keymint, { permissions: ['dashboards:read'] }),
        'INVALID_INPUT',
      );
    }
  });
});

describe('createApiKeyRoutes(): permissions in the bodies and the list', () => {
  const PERMISSIONS = { Viewer: ['dashboards:read'], Editor: ['dashboards:write'] };

  it('POST narrows a key, GET lists its permissions, PATCH changes and resets them', async () => {
    const { call, create, keymint } = routesFixture({ permissions: PERMISSIONS });
    const { id, key } = await create({
      name: 'ci',
      role: 'Editor',
      secondsToLive: 3600,
      permissions: ['dashboards:read'],
    });
    expect((await keymint.verifyKey(key, { permissions: ['dashboards:write'] })).valid).toBe(false);
    const listed = await call('GET', '/api/auth/keys');
    expect(listed.body).toMatchObject([{ id, permissions: ['dashboards:read'] }]);
    const patched = await call('PATCH', `/api/auth/keys/${id}`, {
      json: { permissions: ['dashboards:write'] },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.permissions).toEqual(['dashboards:write']);
    const reset = await call('PATCH', `/api/auth/keys/${id}`, { json: { permissions: null } });
    expect(reset.body.permissions).toEqual(['dashboards:read', 'dashboards:write']);
  });

  it('answers 400 naming what the role does not grant, an unknown permission, or a bad shape', async () => {
    const { call } = routesFixture({ permissions: PERMISSIONS });
    const extra = await call('POST', '/api/auth/keys', {
      json: { name: 'ci', role: 'Viewer', secondsToLive: 60, permissions: ['dashboards:write'] },
    });
    expect(extra.status).toBe(400);
    expect(extra.body.message).toContain('the role Viewer does not grant "dashboards:write"');
    const typo = await call('POST', '/api/auth/keys', {
      json: { name: 'ci', role: 'Editor', secondsToLive: 60, permissions: ['dashbords:read'] },
    });
    expect(typo.status).toBe(400);
    expect(typo.body.message).toContain('unknown permission "dashbords:read"');
    const shape = await call('POST', '/api/auth/keys', {
      json: { name: 'ci', role: 'Editor', secondsToLive: 60, permissions: 'dashboards:read' },
    });
    expect(shape.status).toBe(400);
    expect((await call('GET', '/api/auth/keys')).body).toEqual([]);
  });

  it('without a permissions map, a body with permissions is 400 and lists carry none', async () => {
    const { call, create } = routesFixture();
    const refused = await call('POST', '/api/auth/keys', {
      json: { name: 'ci', role: 'Editor', secondsToLive: 60, permissions: ['dashboards:read'] },
    });
    expect(refused.status).toBe(400);
    await create({ name: 'ci', role: 'Editor', secondsToLive: 60 });
    const [item] = (await call('GET', '/api/auth/keys')).body;
    expect(item).not.toHaveProperty('permissions');
  });
});
