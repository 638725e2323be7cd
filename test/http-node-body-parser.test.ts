import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKeyRoutes, toNodeListener } from '../src/http/index.js';
import { fastKeymint } from './helpers.js';
import { alice, type User } from './http-fixtures.js';

// Issue 13, point 5: toNodeListener(routes) mounted in Express after express.json() answered
// every POST 400 "not valid JSON", because the parser had already read the stream.

async function listen(server: Server) {
  if (!server.listening) await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

type Mount = (app: express.Express, listener: ReturnType<typeof toNodeListener>) => void;

const KEYS = '/api/auth/keys';
const PATH = '/api/auth/keys{/*id}';

function appWith(mount: Mount) {
  const { keymint } = fastKeymint<User>({
    authorize: ({ actor }) => actor.role === 'Admin',
    actorRole: (user) => user.role,
  });
  const routes = createApiKeyRoutes(keymint, { authenticate: () => alice });
  const onError = vi.fn();
  const app = express();
  mount(app, toNodeListener(routes, { onError, maxBodyBytes: 1024 }));
  return { app, keymint, onError };
}

const post = (url: string, body: string, type = 'application/json') =>
  fetch(url, { method: 'POST', headers: { 'content-type': type }, body });

describe.each<[string, Mount]>([
  [
    'mounted before express.json()',
    (app, listener) => {
      app.all(PATH, listener);
      app.use(express.json());
    },
  ],
  [
    'mounted after express.json()',
    (app, listener) => {
      app.use(express.json());
      app.all(PATH, listener);
    },
  ],
  [
    'mounted after express.text({ type: "*/*" })',
    (app, listener) => {
      app.use(express.text({ type: '*/*' }));
      app.all(PATH, listener);
    },
  ],
  [
    'mounted after express.raw({ type: "*/*" })',
    (app, listener) => {
      app.use(express.raw({ type: '*/*' }));
      app.all(PATH, listener);
    },
  ],
])('toNodeListener(routes) in Express 5, %s', (_order, mount) => {
  const { app, keymint, onError } = appWith(mount);
  let server: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    server = await listen(app.listen(0, '127.0.0.1'));
  });
  afterAll(() => server.close());

  it('creates a key from a JSON body, and the key verifies', async () => {
    const response = await post(
      `${server.url}${KEYS}`,
      JSON.stringify({ name: `ci-${Math.random()}`, role: 'Editor', ttl: '1h' }),
    );
    const body = (await response.json()) as { key: string };
    expect(response.status).toBe(200);
    expect(await keymint.verifyKey(body.key)).toMatchObject({ valid: true });
    expect(onError).not.toHaveBeenCalled();
  });

  it('revokes with an empty JSON body', async () => {
    const { apiKey } = await keymint.createApiKey(
      { name: `r-${Math.random()}`, role: 'Viewer', ttl: '1h' },
      { actor: alice },
    );
    const response = await post(`${server.url}${KEYS}/${apiKey.id}/revoke`, '');
    expect(response.status).toBe(200);
    expect((await keymint.getApiKey(apiKey.id, { actor: alice })).revokedAt).not.toBeNull();
  });

  it('still answers 413 for a body over maxBodyBytes', async () => {
    const name = 'n'.repeat(2000);
    const response = await post(
      `${server.url}${KEYS}`,
      JSON.stringify({ name, role: 'Viewer', ttl: '1h' }),
    );
    expect(response.status).toBe(413);
  });

  it('still answers 400 for a wrong field', async () => {
    const response = await post(
      `${server.url}${KEYS}`,
      JSON.stringify({ name: 'x', role: 'Viewer', ttl: '1h30m' }),
    );
    expect(response.status).toBe(400);
  });
});

describe('toNodeListener(routes) behind a parser whose result it cannot pass on', () => {
  const { app, onError } = appWith((express_, listener) => {
    express_.use(express.urlencoded({ extended: false }));
    express_.all(PATH, listener);
  });
  let server: Awaited<ReturnType<typeof listen>>;
  beforeAll(async () => {
    server = await listen(app.listen(0, '127.0.0.1'));
  });
  afterAll(() => server.close());

  it('answers 500 with a message that says to mount it before the body parser, and tells onError', async () => {
    const response = await post(
      `${server.url}${KEYS}`,
      'name=ci&role=Viewer',
      'application/x-www-form-urlencoded',
    );
    expect(response.status).toBe(500);
    const { message } = (await response.json()) as { message: string };
    expect(message).toMatch(/Mount the handler before the body parser/);
    expect(message).toContain('application/x-www-form-urlencoded');
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'CONFIG' }));
  });
});
