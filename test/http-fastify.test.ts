import Fastify, { type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keymint } from '../src/index.js';
import { requireApiKey } from '../src/http/fastify.js';
import { fastKeymint } from './helpers.js';
import { describeRequireApiKey, type AppHooks, type StartedApp } from './fixtures/frameworks.js';

async function startFastify(keymint: Keymint, { onError, seen }: AppHooks): Promise<StartedApp> {
  const app = Fastify();
  const answer = async (request: FastifyRequest) => {
    seen(request.apiKey);
    return { apiKey: request.apiKey };
  };
  app.get('/whoami', { onRequest: requireApiKey(keymint, { onError }) }, answer);
  app.get('/editor', { onRequest: requireApiKey(keymint, { role: 'Editor', onError }) }, answer);
  const byOrg = requireApiKey(keymint, {
    scope: (request) => (request.params as { org: string }).org,
    onError,
  });
  app.get('/orgs/:org/whoami', { onRequest: byOrg }, answer);
  const broken = requireApiKey(keymint, {
    scope: () => {
      throw new Error('scope lookup failed');
    },
  });
  app.get('/broken', { preHandler: broken }, answer);
  const xkey = requireApiKey(keymint, { headers: ['authorization', 'X-API-Key'], onError });
  app.get('/xkey', { onRequest: xkey }, answer);
  app.get(
    '/xonly',
    { onRequest: requireApiKey(keymint, { headers: ['x-api-key'], onError }) },
    answer,
  );
  await app.register(
    async (guarded) => {
      guarded.addHook('onRequest', requireApiKey(keymint, { onError }));
      guarded.get('/whoami', answer);
    },
    { prefix: '/global' },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

describeRequireApiKey('Fastify 5', requireApiKey, startFastify);

describe('Fastify: requireApiKey() specifics', () => {
  const { keymint } = fastKeymint();
  const app = Fastify();
  let url: string;
  let handled = 0;

  beforeAll(async () => {
    // Fastify's advice for a stable request shape; the hook works with or without it.
    app.decorateRequest('apiKey', undefined);
    app.get('/open', async (request) => ({ apiKey: request.apiKey ?? null }));
    app.get(
      '/pre-handler',
      { preHandler: requireApiKey(keymint, { role: 'Viewer' }) },
      async (request) => {
        handled++;
        return { name: request.apiKey?.name };
      },
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(() => app.close());

  it('works as a preHandler hook, with request.apiKey declared by decorateRequest()', async () => {
    const { key } = await keymint.createApiKey({ name: 'pre', role: 'Viewer', ttl: '1h' });
    const ok = await fetch(`${url}/pre-handler`, { headers: { authorization: `Bearer ${key}` } });
    expect([ok.status, await ok.json()]).toEqual([200, { name: 'pre' }]);
    const refused = await fetch(`${url}/pre-handler`);
    expect([refused.status, await refused.json()]).toEqual([401, { message: 'Invalid API key' }]);
    expect(handled).toBe(1);
  });

  it('leaves request.apiKey unset on routes without the hook', async () => {
    const response = await fetch(`${url}/open`);
    expect(await response.json()).toEqual({ apiKey: null });
  });
});
