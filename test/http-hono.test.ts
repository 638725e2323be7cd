import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keymint } from '../src/index.js';
import { requireApiKey, type ApiKeyVariables } from '../src/http/hono.js';
import { fastKeymint } from './helpers.js';
import { describeRequireApiKey, type AppHooks, type StartedApp } from './fixtures/frameworks.js';

async function start(app: Hono<any>): Promise<StartedApp> {
  const server = await new Promise<ServerType>((resolve) => {
    const started: ServerType = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(started),
    );
  });
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

function startHono(keymint: Keymint, { onError, seen }: AppHooks): Promise<StartedApp> {
  const app = new Hono<{ Variables: ApiKeyVariables }>();
  const answer = (c: Context<{ Variables: ApiKeyVariables }>) => {
    seen(c.get('apiKey'));
    return c.json({ apiKey: c.get('apiKey') });
  };
  app.get('/whoami', requireApiKey(keymint, { onError }), answer);
  app.get('/editor', requireApiKey(keymint, { role: 'Editor', onError }), answer);
  const byOrg = requireApiKey(keymint, { scope: (c) => c.req.param('org') ?? '', onError });
  app.get('/orgs/:org/whoami', byOrg, answer);
  const broken = requireApiKey(keymint, {
    scope: () => {
      throw new Error('scope lookup failed');
    },
  });
  app.get('/broken', broken, answer);
  app.use('/global/*', requireApiKey(keymint, { onError }));
  app.get('/global/whoami', answer);
  app.get(
    '/xkey',
    requireApiKey(keymint, { headers: ['authorization', 'X-API-Key'], onError }),
    answer,
  );
  app.get('/xonly', requireApiKey(keymint, { headers: ['x-api-key'], onError }), answer);
  // Hono's default onError logs the error; answer programming errors quietly.
  app.onError((_error, c) => c.json({ message: 'Internal server error' }, 500));
  return start(app);
}

describeRequireApiKey('Hono 4', requireApiKey, startHono);

describe('Hono: requireApiKey() specifics', () => {
  const { keymint } = fastKeymint();
  let app: StartedApp;

  beforeAll(async () => {
    // No Variables declared on the app: the route after the middleware is typed by it.
    const hono = new Hono();
    hono.get('/whoami', requireApiKey(keymint), (c) => c.json({ role: c.get('apiKey').role }));
    hono.get('/headers', requireApiKey(keymint), (c) => c.text('ok'));
    app = await start(hono);
  });
  afterAll(() => app.close());

  it('types c.get("apiKey") on a route after the middleware', async () => {
    const { key } = await keymint.createApiKey({ name: 'typed', role: 'Admin', ttl: '1h' });
    const response = await fetch(`${app.url}/whoami`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(await response.json()).toEqual({ role: 'Admin' });
  });

  it('answers the same headers as toResponse() of keymint/http', async () => {
    const response = await fetch(`${app.url}/headers`);
    expect(response.status).toBe(401);
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'www-authenticate': 'Bearer',
    });
  });
});
