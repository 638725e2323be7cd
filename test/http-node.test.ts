import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { authenticateRequest, toNodeListener, toResponse } from '../src/http/index.js';
import { expectThrowsCode, fastKeymint } from './helpers.js';
import { getWithAuthorizations, twoAuthorizations } from './fixtures/frameworks.js';
import { routesFixture } from './http-fixtures.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve).closeAllConnections())),
  );
});

async function listen(listener: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw request, to send a body larger than its declared length would allow through fetch. */
function rawPost(
  base: string,
  path: string,
  chunks: string[],
  headers: Record<string, string | string[]>,
) {
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      const req = httpRequest(`${base}${path}`, { method: 'POST', headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      });
      req.on('error', reject);
      for (const chunk of chunks) req.write(chunk);
      req.end();
    },
  );
}

describe('toNodeListener() in a real node:http server', () => {
  it('serves the routes and authenticateRequest to fetch on 127.0.0.1', async () => {
    const { routes, keymint } = routesFixture();
    const base = await listen(
      toNodeListener(async (request) => {
        if (new URL(request.url).pathname.startsWith('/api/auth/keys')) return routes(request);
        const auth = await authenticateRequest(keymint, request, { role: 'Viewer' });
        if (!auth.ok) return toResponse(auth);
        return Response.json({ caller: auth.apiKey.name });
      }),
    );
    const session = { 'x-user': 'alice' };

    const created = await fetch(`${base}/api/auth/keys`, {
      method: 'POST',
      headers: { ...session, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ci', role: 'Editor', ttl: '12h' }),
    });
    expect(created.status).toBe(200);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const { id, key } = (await created.json()) as { id: string; key: string };

    const protectedUrl = `${base}/api/dashboards`;
    const ok = await fetch(protectedUrl, { headers: { authorization: `Bearer ${key}` } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ caller: 'ci' });

    const list = await fetch(`${base}/api/auth/keys?includeExpired=true`, { headers: session });
    const listText = await list.text();
    expect(JSON.parse(listText)).toMatchObject([{ id, name: 'ci', role: 'Editor' }]);
    expect(listText).not.toContain(key);

    const deleted = await fetch(`${base}/api/auth/keys/${id}`, {
      method: 'DELETE',
      headers: session,
    });
    expect(await deleted.json()).toEqual({ message: 'API key deleted' });

    const refused = await fetch(protectedUrl, { headers: { authorization: `Bearer ${key}` } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer');
    expect(await refused.json()).toEqual({ message: 'Invalid API key' });
  });

  it('answers 413 for a declared or a streamed body over the limit, and closes the connection', async () => {
    const { routes } = routesFixture();
    const base = await listen(toNodeListener(routes, { maxBodyBytes: 1024 }));
    const headers = { 'x-user': 'alice', 'content-type': 'application/json' };

    const declared = await fetch(`${base}/api/auth/keys`, {
      method: 'POST',
      headers,
      body: 'x'.repeat(40_000),
    });
    expect(declared.status).toBe(413);
    expect(declared.headers.get('connection')).toBe('close');
    expect(await declared.json()).toEqual({
      message: 'The request body is larger than 16384 bytes',
    });

    // Chunked, no Content-Length: the listener's own limit (1 KiB) stops the stream.
    const streamed = await rawPost(base, '/api/auth/keys', ['{"name":"', 'x'.repeat(2000), '"}'], {
      ...headers,
      'transfer-encoding': 'chunked',
    });
    expect(streamed.status).toBe(413);
    expect(streamed.headers.connection).toBe('close');
    expect(JSON.parse(streamed.body)).toEqual({
      message: 'The request body is larger than 1024 bytes',
    });
  });

  it('answers 500 { message } without the error when the handler throws', async () => {
    const onError = vi.fn();
    const base = await listen(
      toNodeListener(
        () => {
          throw new Error('secret detail');
        },
        { onError },
      ),
    );
    const response = await fetch(`${base}/anything`);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('{"message":"Internal server error"}');
    expect(onError).toHaveBeenCalledWith(new Error('secret detail'));
  });

  it('passes the method, URL, repeated headers and body through, and writes cookies back', async () => {
    const base = await listen(
      toNodeListener(async (request) => {
        const headers = new Headers();
        headers.append('set-cookie', 'a=1');
        headers.append('set-cookie', 'b=2');
        return Response.json(
          {
            method: request.method,
            url: request.url,
            many: request.headers.get('x-many'),
            body: await request.text(),
          },
          { headers },
        );
      }),
    );
    const response = await rawPost(base, '/p?q=1', ['hello'], { 'x-many': ['one', 'two'] });
    expect(JSON.parse(response.body)).toEqual({
      method: 'POST',
      url: `${base}/p?q=1`,
      many: 'one, two',
      body: 'hello',
    });
    expect(response.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('streams a large response with backpressure, and survives a Host header that is no URL', async () => {
    const size = 8 * 1024 * 1024;
    const base = await listen(
      toNodeListener(
        (request) =>
          new Response(new Uint8Array(size).fill(0x61), {
            headers: { 'x-url': request.url },
          }),
      ),
    );
    const response = await fetch(`${base}/big`);
    expect((await response.arrayBuffer()).byteLength).toBe(size);
    expect(response.headers.get('x-url')).toBe(`${base}/big`);

    const odd = await rawPost(base, '/p', [], { host: 'bad host[' });
    expect(odd.status).toBe(200);
    expect(odd.headers['x-url']).toBe('http://localhost/p');
  });
});

describe('authenticateRequest() behind toNodeListener: two Authorization headers', () => {
  it('refuses both with 401 Invalid API key, whichever holds the key', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({ name: 'twice', role: 'Viewer', ttl: '1h' });
    const base = await listen(
      toNodeListener(async (request) => {
        const auth = await authenticateRequest(keymint, request);
        return auth.ok ? Response.json({ caller: auth.apiKey.name }) : toResponse(auth);
      }),
    );
    for (const values of twoAuthorizations(key)) {
      const answer = await getWithAuthorizations(base, values);
      expect([answer.status, answer.body], JSON.stringify(values)).toEqual([
        401,
        { message: 'Invalid API key' },
      ]);
      expect(answer.headers['www-authenticate']).toBe('Bearer');
    }
    expect((await getWithAuthorizations(base, [`Bearer ${key}`])).body).toEqual({
      caller: 'twice',
    });
  });
});

describe('toNodeListener() options', () => {
  it.each([
    ['no handler', undefined, {}],
    ['a handler that is not a function', 'routes', {}],
    ['maxBodyBytes 0', () => new Response(), { maxBodyBytes: 0 }],
  ])('throws CONFIG at once for %s', (_what, handler, options) => {
    expectThrowsCode(() => toNodeListener(handler as never, options), 'CONFIG');
  });
});
