import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keymint } from '../src/index.js';
import { requireApiKey } from '../src/http/express.js';
import { fastKeymint } from './helpers.js';
import {
  describeRequireApiKey,
  getWithAuthorizations,
  twoAuthorizations,
  type AppHooks,
  type StartedApp,
} from './fixtures/frameworks.js';

/** A server already told to listen (app.listen(0, '127.0.0.1')), once it does. */
async function listen(server: Server): Promise<StartedApp> {
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

function startExpress(keymint: Keymint, { onError, seen }: AppHooks): Promise<StartedApp> {
  const app = express();
  const answer = (req: express.Request, res: express.Response) => {
    seen(req.apiKey);
    res.json({ apiKey: req.apiKey, inLocals: res.locals.apiKey === req.apiKey });
  };
  app.get('/whoami', requireApiKey(keymint, { onError }), answer);
  app.get('/editor', requireApiKey(keymint, { role: 'Editor', onError }), answer);
  app.get(
    '/orgs/:org/whoami',
    requireApiKey(keymint, { scope: (req: Request<{ org: string }>) => req.params.org, onError }),
    answer,
  );
  const broken = requireApiKey(keymint, {
    scope: () => {
      throw new Error('scope lookup failed');
    },
  });
  app.get('/broken', broken, answer);
  const guarded = express.Router();
  guarded.use(requireApiKey(keymint, { onError }));
  guarded.get('/whoami', answer);
  app.use('/global', guarded);
  app.get(
    '/xkey',
    requireApiKey(keymint, { headers: ['authorization', 'X-API-Key'], onError }),
    answer,
  );
  app.get('/xonly', requireApiKey(keymint, { headers: ['x-api-key'], onError }), answer);
  // Express's default error handler would print the stack: answer programming errors plainly.
  app.use((_error: unknown, _req: express.Request, res: express.Response, _next: () => void) => {
    res.status(500).json({ message: 'Internal server error' });
  });
  return listen(app.listen(0, '127.0.0.1'));
}

describeRequireApiKey('Express 5', requireApiKey, startExpress);

describe('Express: requireApiKey() specifics', () => {
  const { keymint } = fastKeymint();
  let app: StartedApp;
  let errors: unknown[] = [];

  beforeAll(async () => {
    const server = express();
    server.get('/whoami', requireApiKey(keymint), (req, res) => {
      res.json({ name: req.apiKey?.name, inLocals: res.locals.apiKey === req.apiKey });
    });
    server.get('/bad-scope', requireApiKey(keymint, { scope: () => 42 as unknown as string }));
    server.use(
      (error: unknown, _req: express.Request, res: express.Response, _next: () => void) => {
        errors.push(error);
        res.status(500).json({ message: 'Internal server error' });
      },
    );
    app = await listen(server.listen(0, '127.0.0.1'));
  });
  afterAll(() => app.close());

  it('puts the record on req.apiKey and res.locals.apiKey', async () => {
    const { key } = await keymint.createApiKey({ name: 'locals', role: 'Viewer', ttl: '1h' });
    const response = await fetch(`${app.url}/whoami`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(await response.json()).toEqual({ name: 'locals', inLocals: true });
  });

  it('passes a scope function that returns no string to next(error) as a KeymintError', async () => {
    errors = [];
    const { key } = await keymint.createApiKey({ name: 'scoped', role: 'Viewer', ttl: '1h' });
    const response = await fetch(`${app.url}/bad-scope`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(response.status).toBe(500);
    expect(errors).toEqual([expect.objectContaining({ code: 'INVALID_INPUT' })]);
  });

  it('works as plain node:http middleware, without Express', async () => {
    const { key } = await keymint.createApiKey({ name: 'plain', role: 'Viewer', ttl: '1h' });
    const guard = requireApiKey(keymint);
    const plain = await listen(
      createServer((req, res) =>
        guard(req, res, (error) => {
          res.statusCode = error === undefined ? 200 : 500;
          res.end(JSON.stringify({ name: (req as { apiKey?: { name: string } }).apiKey?.name }));
        }),
      ).listen(0, '127.0.0.1'),
    );
    try {
      const ok = await fetch(plain.url, { headers: { authorization: `Bearer ${key}` } });
      expect([ok.status, await ok.json()]).toEqual([200, { name: 'plain' }]);
      const refused = await fetch(plain.url);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer');
      expect(await refused.json()).toEqual({ message: 'Invalid API key' });
      // Node keeps only the first of two Authorization headers in req.headers: both are refused.
      for (const values of twoAuthorizations(key)) {
        const twice = await getWithAuthorizations(plain.url, values);
        expect([twice.status, twice.body], JSON.stringify(values)).toEqual([
          401,
          { message: 'Invalid API key' },
        ]);
      }
    } finally {
      await plain.close();
    }
  });
});
