// Issue 14, finding 2: a target the WHATWG URL parser would read as another path never reaches
// a route, so a guard in front that matched the raw target cannot be walked around.
import { createServer, request as httpRequest, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { toNodeListener } from '../src/http/index.js';
import { BAD_PATH_MESSAGE } from '../src/http/request-path.js';
import { ORIGIN, routesFixture } from './http-fixtures.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve).closeAllConnections())),
  );
});

async function listen(listener: RequestListener): Promise<number> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

interface Answer {
  status: number;
  body: unknown;
  contentType: string | undefined;
}

/** The target is sent as written: fetch (and `new URL`) would resolve it before sending. */
function rawGet(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<Answer>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: kept as text
        }
        resolve({ status: res.statusCode!, body, contentType: res.headers['content-type'] });
      });
    })
      .on('error', reject)
      .end();
  });
}

// Each of these is read by `new URL()` as /api/auth/keys (or under it).
const WALKS_AROUND = [
  '/x/../api/auth/keys',
  '/api/x/../auth/keys',
  '/api\\auth\\keys',
  '/api/auth\\keys',
  '/%2e/api/auth/keys',
  '/%2E/api/auth/keys',
  '/x/%2e%2e/api/auth/keys',
  '/x/.%2e/api/auth/keys',
  '/x/%2E./api/auth/keys',
  '/./api/auth/keys',
  '/api/./auth/keys',
  '/api/auth/keys/.',
  '/api/auth/keys/x/..',
  '/api/auth/keys/x/../',
];
// Kept by the parser, but decoded by some proxies and frameworks before they route.
const ENCODED = [
  '/api%2fauth%2fkeys',
  '/api/auth/keys%2F',
  '/api/auth/keys/id%2frevoke',
  '/api%5cauth%5Ckeys',
  '/api/auth/keys/a%2eb',
];

describe('toNodeListener(): targets the URL parser would change are answered 400', () => {
  it('answers 400 { message } before the handler for dot segments, backslashes and encoded dots or slashes', async () => {
    const { routes } = routesFixture();
    const handler = vi.fn(routes);
    const port = await listen(toNodeListener(handler));
    for (const path of [
      ...WALKS_AROUND,
      ...ENCODED,
      '/api/auth/keys#x',
      'http://h/x/../api/auth/keys',
    ]) {
      const answer = await rawGet(port, path, { 'x-user': 'alice' });
      expect(answer, path).toEqual({
        status: 400,
        body: { message: BAD_PATH_MESSAGE },
        contentType: 'application/json; charset=utf-8',
      });
    }
    expect(handler).not.toHaveBeenCalled();
    // The same server still serves the path written plainly, and a query is not routed on.
    expect((await rawGet(port, '/api/auth/keys', { 'x-user': 'alice' })).status).toBe(200);
    const query = await rawGet(port, '/api/auth/keys?includeExpired=true&x=..%2f%5c\\', {
      'x-user': 'alice',
    });
    expect(query.status).toBe(200);
    expect(handler).toHaveBeenCalledTimes(2);
  });

  it('keeps a guard mounted in Express at /api/auth/keys in front of every way to reach the routes', async () => {
    const { routes, create } = routesFixture();
    await create({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const app = express();
    // The host's own extra check for the key routes: say, an admin network or a second factor.
    const guard = vi.fn((_req: express.Request, res: express.Response) => {
      res.status(403).json({ message: 'blocked by the guard' });
    });
    app.use('/api/auth/keys', guard);
    app.use(toNodeListener(routes));
    const port = await listen(app);

    const blocked = await rawGet(port, '/api/auth/keys', { 'x-user': 'alice' });
    expect(blocked).toMatchObject({ status: 403, body: { message: 'blocked by the guard' } });
    expect(guard).toHaveBeenCalledTimes(1);
    for (const path of WALKS_AROUND) {
      const answer = await rawGet(port, path, { 'x-user': 'alice' });
      // The guard either saw the request (403) or the routes refused the path (400): never the list.
      expect([400, 403], `${path} → ${answer.status} ${JSON.stringify(answer.body)}`).toContain(
        answer.status,
      );
      expect(Array.isArray(answer.body), path).toBe(false);
    }
    // Each of these was routed past the guard before: now each is a 400 from toNodeListener.
    for (const path of ['/x/../api/auth/keys', '/api\\auth\\keys', '/%2e/api/auth/keys']) {
      expect(await rawGet(port, path, { 'x-user': 'alice' }), path).toMatchObject({
        status: 400,
        body: { message: BAD_PATH_MESSAGE },
      });
    }
  });
});

describe('createApiKeyRoutes(): a Request built elsewhere', () => {
  it('answers 400 for encoded dots, slashes and backslashes left in the pathname, before authenticate', async () => {
    const authenticate = vi.fn(() => ({ name: 'alice', role: 'Admin', org: 'org-1' }));
    const { call } = routesFixture({}, { authenticate });
    for (const path of ENCODED) {
      // `new Request()` keeps these as written: the handler sees them and refuses them.
      expect(new URL(`${ORIGIN}${path}`).pathname).toBe(path);
      const answer = await call('GET', path);
      expect(answer.status, path).toBe(400);
      expect(answer.body, path).toEqual({ message: BAD_PATH_MESSAGE });
    }
    expect(authenticate).not.toHaveBeenCalled();
  });

  it('cannot see a dot segment or a backslash: `new Request()` resolved them before the handler ran', () => {
    // Why the handler alone cannot refuse these: mount it behind toNodeListener, or refuse them
    // where the Request is built (docs/security.md).
    for (const path of ['/x/../api/auth/keys', '/api\\auth\\keys', '/%2e/api/auth/keys']) {
      expect(new URL(new Request(`${ORIGIN}${path}`).url).pathname, path).toBe('/api/auth/keys');
    }
  });
});
