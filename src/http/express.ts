/**
 * API-key authentication for Express 4 and 5 (and Connect-style servers): {@link requireApiKey}
 * is a middleware that checks `Authorization: Bearer <key>` (or Basic with the user `api_key`),
 * answers refusals as JSON `{ message }`, and puts the verified key's record on `req.apiKey`
 * (typed) and `res.locals.apiKey`. It imports nothing from Express: its types are structural, so
 * `@types/express` stays optional.
 *
 * ```sh
 * npm install keymint express
 * ```
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 * import { requireApiKey } from 'keymint/express';
 *
 * const keymint = createKeymint({ adapter: memoryAdapter() });
 * const app = express();
 *
 * app.get('/api/dashboards', requireApiKey(keymint, { role: 'Viewer' }), (req, res) => {
 *   res.json({ caller: req.apiKey?.name });
 * });
 * app.listen(3000, '127.0.0.1');
 * ```
 *
 * @module
 */
import type { ApiKey, Keymint } from '../core/types.js';
import {
  toResponse,
  type AuthenticationFailure,
  type AuthenticationResult,
} from './authenticate.js';
import { isKeymintError } from '../errors.js';
import { errorToHttp } from './error-to-http.js';
import {
  checkErrorHandlerOptions,
  createKeyCheck,
  failureReply,
  JSON_HEADERS,
  nodeHeaderValues,
  report,
} from './middleware-shared.js';

declare global {
  // Express's own typings merge this namespace into `Request` and `res.locals`.
  namespace Express {
    interface Request {
      /** The verified API key's record, set by `requireApiKey()` of `keymint/express`. */
      apiKey?: ApiKey;
    }
    interface Locals {
      /** The verified API key's record, set by `requireApiKey()` of `keymint/express`. */
      apiKey?: ApiKey;
    }
  }
}

/**
 * What {@link requireApiKey} uses of a request: Express's `Request` (or Node's
 * `IncomingMessage`) fits it. `apiKey` is set when the key is valid.
 *
 * @example
 * ```ts
 * const req: ExpressRequestLike = { headers: { authorization: `Bearer ${key}` } };
 * ```
 */
export interface ExpressRequestLike {
  readonly headers: { readonly [name: string]: string | string[] | undefined };
  /** Node's header lines as sent: a key header given twice is refused (`headers` keeps one). */
  readonly rawHeaders?: readonly string[];
  apiKey?: ApiKey;
}

/**
 * What {@link requireApiKey} uses of a response: Express's `Response` (or Node's
 * `ServerResponse`) fits it. `locals.apiKey` is set when the key is valid and `locals` exists.
 *
 * @example
 * ```ts
 * // Express's Response fits, and so does node:http's ServerResponse:
 * createServer((req, res) => requireApiKey(keymint)(req, res, () => res.end('ok')));
 * ```
 */
export interface ExpressResponseLike {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
  locals?: Record<string, unknown>;
}

/**
 * Options of {@link requireApiKey}.
 *
 * @example
 * ```ts
 * import type { Request } from 'express';
 *
 * const options: RequireApiKeyOptions<Request<{ org: string }>> = {
 *   role: 'Editor',
 *   scope: (req) => req.params.org,
 *   onError: (error, req) => console.error('key check failed', req.headers.host, error),
 * };
 * ```
 */
export interface RequireApiKeyOptions<Req extends ExpressRequestLike = ExpressRequestLike> {
  /** The minimum role, one of the instance's roles; a key below it gets `403`. */
  role?: string;
  /**
   * Permissions the key must all hold (docs/permissions.md); a key without one of them gets
   * `403 Insufficient permissions for this API key`. Needs an instance made with the
   * `permissions` option; an unknown permission throws `INVALID_INPUT` at setup.
   */
  permissions?: readonly string[];
  /**
   * Only keys of this scope (tenant) are valid; a key of another scope is an unknown key (`401`).
   * A function of the request picks the scope per request, for example from `req.params`; a
   * value no key can have (empty, `'*'`, over 190 characters) is answered `401` too. A function
   * that throws or returns no string is a programming error, passed to `next(error)`.
   */
  scope?: string | ((req: Req) => string | Promise<string>);
  /**
   * Told about server faults (`503` after a store failure, `500` after a hasher failure) with
   * their cause, which the client never sees. A reporter that throws changes nothing.
   */
  onError?: (error: unknown, req: Req) => void;
  /**
   * The request headers that may carry the key (any letter case). `'authorization'` is read as
   * `Bearer <key>` or Basic with the user `api_key`; any other header, such as `'x-api-key'`,
   * holds the key as its whole value. Default `['authorization']`. The query string is never
   * read. A listed header given twice, or two listed headers with different keys, answer `401`;
   * the same key in two listed headers is accepted. A bad list throws `CONFIG` at setup.
   */
  headers?: readonly string[];
}

/**
 * An Express middleware that lets a request through only with a valid API key, read as
 * `authenticateRequest()` of `keymint/http` reads it: `Authorization: Bearer <key>`, or Basic
 * with the user `api_key` and the key as password. The verified key's record (no secret, no
 * hash) is then on `req.apiKey`, typed by this module, and on `res.locals.apiKey`, Express's
 * place for request data that views read.
 *
 * A refusal is answered at once as JSON `{ message }` with `Cache-Control: no-store`: `401`
 * (`Invalid API key`, `Expired API key`, `Revoked API key`, with `WWW-Authenticate: Bearer`;
 * `Invalid API key` for a request with two `Authorization` headers, whichever holds the key),
 * `403` below `options.role`, `429` with `Retry-After` for a rate-limited key id, `503` with
 * `Retry-After` when hashing is busy or the store failed, `500` when the hasher failed. The
 * next handler never runs then, and a fault's cause goes to `options.onError`, never to the
 * client. Only programming errors reach `next(error)`.
 *
 * Bad options (an unknown role or option, a malformed scope) throw a `KeymintError` here, at
 * setup: `INVALID_ROLE` or `INVALID_INPUT`.
 *
 * @example
 * ```ts
 * import { requireApiKey } from 'keymint/express';
 *
 * app.get('/api/dashboards', requireApiKey(keymint, { role: 'Editor' }), (req, res) => {
 *   res.json({ caller: req.apiKey?.name, role: req.apiKey?.role });
 * });
 *
 * // Every route of a router, one tenant per path:
 * router.use(requireApiKey(keymint, { scope: (req: Request<{ org: string }>) => req.params.org }));
 * ```
 */
export function requireApiKey<Req extends ExpressRequestLike = ExpressRequestLike>(
  keymint: Pick<Keymint<never>, 'verifyKey' | 'roles'>,
  options?: RequireApiKeyOptions<Req>,
): (req: Req, res: ExpressResponseLike, next: (error?: unknown) => void) => void {
  const check = createKeyCheck<Req>(keymint, options);
  /** A refusal, answered as `toResponse()` would answer it. */
  const refuse = async (res: ExpressResponseLike, result: AuthenticationFailure) => {
    const reply = await failureReply(toResponse(result));
    res.statusCode = reply.status;
    for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
    res.end(reply.body);
  };
  // Express 4 ignores a returned promise: it is settled here. One `then` on the check's promise
  // per request, no async frame; what fails in answering goes to next(error), and next() itself
  // is called outside of that (an error thrown by a later handler is not this middleware's).
  return (req, res, next) => {
    let checked: Promise<AuthenticationResult>;
    try {
      checked = check(nodeHeaderValues(req.headers, req.rawHeaders), req);
    } catch (error) {
      next(error);
      return;
    }
    checked.then((result) => {
      if (!result.ok) {
        refuse(res, result).then(undefined, next);
        return;
      }
      try {
        const headers = result.headers;
        if (headers !== undefined) {
          for (const name of Object.keys(headers)) res.setHeader(name, headers[name]!);
        }
        req.apiKey = result.apiKey;
        if (res.locals) res.locals.apiKey = result.apiKey;
      } catch (error) {
        next(error);
        return;
      }
      next();
    }, next);
  };
}

/**
 * Options of {@link keymintErrorHandler}.
 *
 * @example
 * ```ts
 * const options: KeymintErrorHandlerOptions = {
 *   onError: (error) => console.error('key store or hasher failed', error),
 * };
 * ```
 */
export interface KeymintErrorHandlerOptions<Req = ExpressRequestLike> {
  /**
   * Told about the server faults it answers (`STORE_FAILURE`, `HASHER_FAILURE`, `CONFIG`), with
   * the error, whose cause the client never sees. A reporter that throws changes nothing.
   */
  onError?: (error: unknown, req: Req) => void;
}

/**
 * An Express error middleware that answers a `KeymintError` thrown by a route (or passed to
 * `next(error)`) with the status, headers and JSON body of `errorToHttp()` of `keymint/http`:
 * `400` bad input, `403` `FORBIDDEN`, `404` `NOT_FOUND`, `409` `NAME_TAKEN`, `503` with
 * `Retry-After` for `BUSY` and `STORE_FAILURE`, `500` otherwise; the body is
 * `{ message, code }`, or a generic `{ message }` for a server fault.
 *
 * Any other error is passed on with `next(error)`, untouched, to your own error middleware (or
 * Express's default one, which prints the stack outside production): keymint does not decide
 * what your other errors become. An error after the headers were sent is passed on too.
 * Express 5 catches a rejected async route by itself; in Express 4, call `next(error)`.
 *
 * @example
 * ```ts
 * import { keymintErrorHandler } from 'keymint/express';
 *
 * app.delete('/admin/keys/:id', async (req, res) => {
 *   await keymint.deleteApiKey(req.params.id); // NOT_FOUND becomes 404 { message, code }
 *   res.status(204).end();
 * });
 * app.use(keymintErrorHandler({ onError: (error) => console.error(error) }));
 * ```
 */
export function keymintErrorHandler<Req = ExpressRequestLike>(
  options: KeymintErrorHandlerOptions<Req> = {},
): (
  error: unknown,
  req: NoInfer<Req>,
  res: ExpressResponseLike & { headersSent?: boolean },
  next: (error?: unknown) => void,
) => void {
  const onError = checkErrorHandlerOptions(options);
  // Express tells error middleware apart by its four parameters.
  return (error, req, res, next) => {
    if (!isKeymintError(error) || res.headersSent === true) {
      next(error);
      return;
    }
    const { status, headers, body, serverFault } = errorToHttp(error);
    if (serverFault) report(onError, error, req);
    res.statusCode = status;
    for (const [name, value] of Object.entries({ ...JSON_HEADERS, ...headers })) {
      res.setHeader(name, value);
    }
    res.end(JSON.stringify(body));
  };
}
