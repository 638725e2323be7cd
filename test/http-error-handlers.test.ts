import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { KEYMINT_ERROR_CODES, KeymintError, type KeymintErrorCode } from '../src/errors.js';
import { errorToHttp, KEYMINT_ERROR_STATUS } from '../src/http/index.js';
import { keymintErrorHandler as expressHandler } from '../src/http/express.js';
import { keymintErrorHandler as fastifyHandler } from '../src/http/fastify.js';
import { keymintErrorHandler as honoHandler } from '../src/http/hono.js';
import { expectThrowsCode } from './helpers.js';
import { BOOM, describeErrorHandler, type ErrorApp } from './fixtures/error-handlers.js';

describe('errorToHttp()', () => {
  const expected: Record<KeymintErrorCode, [number, 'own' | 'generic', string?]> = {
    CONFIG: [500, 'generic'],
    INVALID_TTL: [400, 'own'],
    TTL_TOO_LONG: [400, 'own'],
    INVALID_ROLE: [400, 'own'],
    INVALID_INPUT: [400, 'own'],
    NAME_TAKEN: [409, 'own'],
    NOT_FOUND: [404, 'own'],
    FORBIDDEN: [403, 'own'],
    STORE_FAILURE: [503, 'generic', '5'],
    HASHER_FAILURE: [500, 'generic'],
    BUSY: [503, 'own', '1'],
    KEYS_LIMIT: [409, 'own'],
    REVOKED: [409, 'own'],
    EXPIRED: [409, 'own'],
    CONFLICT: [409, 'own'],
  };

  it('has a status for every code', () => {
    expect(Object.keys(KEYMINT_ERROR_STATUS).sort()).toEqual([...KEYMINT_ERROR_CODES].sort());
  });

  it.each(KEYMINT_ERROR_CODES.map((code) => [code]))('maps %s', (code) => {
    const [status, message, retryAfter] = expected[code];
    const error = new KeymintError(code, `detail of ${code}`, { cause: new Error('cause text') });
    const answer = errorToHttp(error);
    expect(answer.status).toBe(status);
    expect(KEYMINT_ERROR_STATUS[code]).toBe(status);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.headers['retry-after']).toBe(retryAfter);
    expect(answer.serverFault).toBe(status >= 500 && code !== 'BUSY');
    if (message === 'own') expect(answer.body).toEqual({ message: `detail of ${code}`, code });
    else expect(answer.body.message).not.toContain('detail');
    expect(JSON.stringify(answer)).not.toContain('cause text');
  });

  it.each([
    ['an Error', new Error('password=hunter2')],
    ['a string', 'hunter2'],
    ['null', null],
    ['a look-alike with a code', { code: 'NOT_FOUND', message: 'hunter2' }],
  ])('answers %s 500 with a generic message and no code', (_what, error) => {
    expect(errorToHttp(error)).toEqual({
      status: 500,
      headers: { 'cache-control': 'no-store' },
      body: { message: 'Internal server error' },
      serverFault: true,
    });
  });

  it("answers BUSY with the error's retryAfterMs as Retry-After, in whole seconds", () => {
    const busy = (ms?: number) =>
      errorToHttp(new KeymintError('BUSY', 'busy', ms === undefined ? {} : { retryAfterMs: ms }));
    expect(busy(2_500).headers['retry-after']).toBe('3');
    expect(busy(10).headers['retry-after']).toBe('1');
    expect(busy().headers['retry-after']).toBe('1');
  });

  it('never sends a key found in a message', () => {
    const key = 'km_7Y1FsObMb7Nf_moaAvFVY6RXGJsvSIXLqpghgOqqq16Cbey';
    const answer = errorToHttp(new KeymintError('NAME_TAKEN', `name ${key} is taken`));
    expect(JSON.stringify(answer)).not.toContain(key);
  });

  it.each([
    ['express', expressHandler],
    ['fastify', fastifyHandler],
    ['hono', honoHandler],
  ] as const)('%s: bad options throw INVALID_INPUT at setup', (_name, make) => {
    expectThrowsCode(() => make({ onErorr: () => {} } as never), 'INVALID_INPUT');
    expectThrowsCode(() => make({ onError: 'log' } as never), 'INVALID_INPUT');
    expectThrowsCode(() => make('x' as never), 'INVALID_INPUT');
  });
});

async function listening(server: import('node:http').Server): Promise<ErrorApp> {
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

const actorOf = (header: unknown) => (typeof header === 'string' ? header : 'admin');

// ---------------------------------------------------------------- Express 5
const expressOthers: unknown[] = [];
describeErrorHandler('Express 5', async (keymint, onError) => {
  const app = express();
  app.use(express.json());
  app.post('/keys', async (req, res) => {
    res.json(await keymint.createApiKey(req.body, { actor: actorOf(req.headers['x-actor']) }));
  });
  app.delete('/keys/:id', async (req, res) => {
    await keymint.deleteApiKey(req.params.id, { actor: actorOf(req.headers['x-actor']) });
    res.status(204).end();
  });
  app.get('/keys', async (req, res) => {
    res.json(await keymint.listApiKeys({}, { actor: actorOf(req.headers['x-actor']) }));
  });
  app.get('/boom', async () => {
    throw new Error(BOOM);
  });
  app.use(expressHandler({ onError }));
  // The host's own last handler: what keymintErrorHandler() passed on reaches it.
  app.use((error: unknown, _req: express.Request, res: express.Response, _next: () => void) => {
    expressOthers.push(error);
    res.status(418).json({ message: 'host handler' });
  });
  return listening(app.listen(0, '127.0.0.1'));
});

describe('Express: keymintErrorHandler() passes other errors on', () => {
  let app: ErrorApp;
  beforeAll(async () => {
    const server = express();
    server.get('/boom', async () => {
      throw new Error(BOOM);
    });
    server.get('/late', async (_req, res) => {
      res.status(200).write('partial');
      throw new KeymintError('NOT_FOUND', 'too late to answer');
    });
    server.use(expressHandler());
    server.use(
      (error: unknown, _req: express.Request, res: express.Response, _next: () => void) => {
        expressOthers.push(error);
        if (res.headersSent) res.end();
        else res.status(418).json({ message: 'host handler' });
      },
    );
    app = await listening(server.listen(0, '127.0.0.1'));
  });
  afterAll(() => app.close());

  it('to the next error middleware, untouched', async () => {
    expressOthers.length = 0;
    const response = await fetch(`${app.url}/boom`);
    expect([response.status, await response.json()]).toEqual([418, { message: 'host handler' }]);
    expect(expressOthers).toEqual([expect.objectContaining({ message: BOOM })]);
  });

  it('and a KeymintError thrown after the headers were sent', async () => {
    expressOthers.length = 0;
    const response = await fetch(`${app.url}/late`);
    expect([response.status, await response.text()]).toEqual([200, 'partial']);
    expect(expressOthers).toEqual([expect.objectContaining({ code: 'NOT_FOUND' })]);
  });
});

// ---------------------------------------------------------------- Fastify 5
describeErrorHandler('Fastify 5', async (keymint, onError) => {
  const app = Fastify();
  app.setErrorHandler(fastifyHandler({ onError }));
  app.post('/keys', async (request) =>
    keymint.createApiKey(request.body as never, { actor: actorOf(request.headers['x-actor']) }),
  );
  app.delete('/keys/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    await keymint.deleteApiKey(id, { actor: actorOf(request.headers['x-actor']) });
    return reply.code(204).send();
  });
  app.get('/keys', async (request) =>
    keymint.listApiKeys({}, { actor: actorOf(request.headers['x-actor']) }),
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
});

describe('Fastify: keymintErrorHandler() throws other errors on to the parent handler', () => {
  const app = Fastify();
  const onError = vi.fn();
  let url = '';
  beforeAll(async () => {
    app.setErrorHandler(fastifyHandler({ onError }));
    app.post('/echo', async (request) => request.body);
    app.get('/teapot', async () => {
      throw Object.assign(new Error('short and stout'), { statusCode: 418 });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => app.close());

  it("Fastify's own 400 for a body that is not JSON stays Fastify's", async () => {
    const response = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      statusCode: 400,
      code: 'FST_ERR_CTP_INVALID_JSON_BODY',
    });
    expect(onError).not.toHaveBeenCalled();
  });

  it("a host error with its own status gets Fastify's default answer", async () => {
    const response = await fetch(`${url}/teapot`);
    expect(response.status).toBe(418);
    expect(await response.json()).toMatchObject({ statusCode: 418, message: 'short and stout' });
  });
});

// ---------------------------------------------------------------- Hono 4
async function serveHono(app: Hono): Promise<ErrorApp> {
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

describeErrorHandler('Hono 4', (keymint, onError) => {
  const app = new Hono();
  app.onError(honoHandler({ onError }));
  app.post('/keys', async (c) =>
    c.json(
      await keymint.createApiKey(await c.req.json(), { actor: actorOf(c.req.header('x-actor')) }),
    ),
  );
  app.delete('/keys/:id', async (c) => {
    await keymint.deleteApiKey(c.req.param('id'), { actor: actorOf(c.req.header('x-actor')) });
    return c.body(null, 204);
  });
  app.get('/keys', async (c) =>
    c.json(await keymint.listApiKeys({}, { actor: actorOf(c.req.header('x-actor')) })),
  );
  return serveHono(app);
});

describe('Hono: keymintErrorHandler() for errors that are not keymint', () => {
  const onError = vi.fn();
  let app: ErrorApp;
  beforeAll(async () => {
    const hono = new Hono();
    hono.onError(honoHandler({ onError }));
    hono.get('/boom', () => {
      throw new Error(BOOM);
    });
    hono.get('/exception', () => {
      throw new HTTPException(401, { message: 'sign in first' });
    });
    app = await serveHono(hono);
  });
  afterAll(() => app.close());

  it('answers any other error 500 with a generic message, and tells onError', async () => {
    const response = await fetch(`${app.url}/boom`);
    const text = await response.text();
    expect(response.status).toBe(500);
    expect(JSON.parse(text)).toEqual({ message: 'Internal server error' });
    expect(text).not.toContain('hunter2');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(onError).toHaveBeenCalledWith(
      expect.objectContaining({ message: BOOM }),
      expect.anything(),
    );
  });

  it("answers an HTTPException with its own response, as Hono's default handler does", async () => {
    onError.mockClear();
    const response = await fetch(`${app.url}/exception`);
    expect([response.status, await response.text()]).toEqual([401, 'sign in first']);
    expect(onError).not.toHaveBeenCalled();
  });
});
