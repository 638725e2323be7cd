/**
 * API-key authentication for Hono 4: {@link requireApiKey} is a middleware that checks
 * `Authorization: Bearer <key>` (or Basic with the user `api_key`), answers refusals as JSON
 * `{ message }`, and sets the verified key's record as the context variable `apiKey`, typed by
 * {@link ApiKeyVariables}. It imports only types from `hono`, and runs wherever Hono runs.
 *
 * ```sh
 * npm install keymint hono
 * ```
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 * import { requireApiKey } from 'keymint/hono';
 *
 * const keymint = createKeymint({ adapter: memoryAdapter() });
 * const app = new Hono();
 *
 * app.get('/api/dashboards', requireApiKey(keymint, { role: 'Viewer' }), (c) => {
 *   return c.json({ caller: c.get('apiKey').name });
 * });
 * export default app;
 * ```
 *
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { ApiKey, Keymint } from '../core/types.js';
import { toResponse } from './authenticate.js';
import { isKeymintError } from '../errors.js';
import { errorToHttp } from './error-to-http.js';
import {
  checkErrorHandlerOptions,
  createKeyCheck,
  report,
  webHeaderValues,
} from './middleware-shared.js';
import { json } from './responses.js';

/**
 * The context variables {@link requireApiKey} sets: `c.get('apiKey')` is the verified key's
 * record. A route after the middleware (`app.get(path, requireApiKey(...), handler)`) sees the
 * type by itself; for `app.use()`, declare it on the app.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { requireApiKey, type ApiKeyVariables } from 'keymint/hono';
 *
 * const app = new Hono<{ Variables: ApiKeyVariables }>();
 * app.use('/api/*', requireApiKey(keymint));
 * app.get('/api/whoami', (c) => c.json({ caller: c.get('apiKey').name }));
 * ```
 */
export interface ApiKeyVariables {
  apiKey: ApiKey;
}

/**
 * Options of {@link requireApiKey}.
 *
 * @example
 * ```ts
 * const options: RequireApiKeyOptions = {
 *   role: 'Editor',
 *   scope: (c) => c.req.param('org') ?? '',
 *   onError: (error, c) => console.error('API key check failed', c.req.path, error),
 * };
 * ```
 */
export interface RequireApiKeyOptions {
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
   * A function of the context picks the scope per request, for example from `c.req.param()`; a
   * value no key can have (empty, `'*'`, over 190 characters) is answered `401` too. A function
   * that throws or returns no string is a programming error, thrown to `app.onError()`.
   */
  scope?: string | ((c: Context) => string | Promise<string>);
  /**
   * Told about server faults (`503` after a store failure, `500` after a hasher failure) with
   * their cause, which the client never sees. A reporter that throws changes nothing.
   */
  onError?: (error: unknown, c: Context) => void;
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
 * A Hono middleware that lets a request through only with a valid API key, read as
 * `authenticateRequest()` of `keymint/http` reads it: `Authorization: Bearer <key>`, or Basic
 * with the user `api_key` and the key as password. The verified key's record (no secret, no
 * hash) is then `c.get('apiKey')`.
 *
 * A refusal is answered at once as JSON `{ message }` with `Cache-Control: no-store`: `401`
 * (`Invalid API key`, `Expired API key`, `Revoked API key`, with `WWW-Authenticate: Bearer`;
 * `Invalid API key` for a request with two `Authorization` headers, whichever holds the key),
 * `403` below `options.role`, `429` with `Retry-After` for a rate-limited key id, `503` with
 * `Retry-After` when hashing is busy or the store failed, `500` when the hasher failed. The
 * handler never runs then, and a fault's cause goes to `options.onError`, never to the client.
 * Only programming errors are thrown, to `app.onError()`.
 *
 * Bad options (an unknown role or option, a malformed scope) throw a `KeymintError` here, at
 * setup: `INVALID_ROLE` or `INVALID_INPUT`.
 *
 * @example
 * ```ts
 * import { requireApiKey } from 'keymint/hono';
 *
 * app.get('/api/dashboards', requireApiKey(keymint, { role: 'Editor' }), (c) => {
 *   const apiKey = c.get('apiKey');
 *   return c.json({ caller: apiKey.name, role: apiKey.role });
 * });
 *
 * // One tenant per path:
 * app.use('/orgs/:org/*', requireApiKey(keymint, { scope: (c) => c.req.param('org') ?? '' }));
 * ```
 */
export function requireApiKey(
  keymint: Pick<Keymint<never>, 'verifyKey' | 'roles'>,
  options?: RequireApiKeyOptions,
): MiddlewareHandler<{ Variables: ApiKeyVariables }> {
  const check = createKeyCheck<Context>(keymint, options);
  return async (c, next) => {
    const result = await check(webHeaderValues(c.req.raw.headers), c);
    if (!result.ok) return toResponse(result);
    const headers = result.headers;
    if (headers !== undefined)
      for (const name of Object.keys(headers)) c.header(name, headers[name]);
    c.set('apiKey', result.apiKey);
    await next();
    return undefined;
  };
}

/**
 * Options of {@link keymintErrorHandler}.
 *
 * @example
 * ```ts
 * const options: KeymintErrorHandlerOptions = {
 *   onError: (error, c) => console.error('request failed', c.req.path, error),
 * };
 * ```
 */
export interface KeymintErrorHandlerOptions {
  /**
   * Told about every server fault it answers (`STORE_FAILURE`, `HASHER_FAILURE`, `CONFIG`, and
   * any error that is neither a `KeymintError` nor an `HTTPException`), with the error, whose
   * cause the client never sees. A reporter that throws changes nothing.
   */
  onError?: (error: unknown, c: Context) => void;
}

/**
 * A Hono error handler (`app.onError(keymintErrorHandler())`) that answers a `KeymintError`
 * thrown by a route with the status, headers and JSON body of `errorToHttp()` of `keymint/http`:
 * `400` bad input, `403` `FORBIDDEN`, `404` `NOT_FOUND`, `409` `NAME_TAKEN`, `503` with
 * `Retry-After` for `BUSY` and `STORE_FAILURE`, `500` otherwise; the body is
 * `{ message, code }`, or a generic `{ message }` for a server fault.
 *
 * Hono has one error handler, with no parent to pass an error on to: an `HTTPException` is
 * answered with its own response (as Hono's default handler does), and any other error with
 * `500 { message: "Internal server error" }` and nothing of the error, after `onError`.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { keymintErrorHandler } from 'keymint/hono';
 *
 * const app = new Hono();
 * app.onError(keymintErrorHandler({ onError: (error) => console.error(error) }));
 * app.post('/admin/keys/:id/revoke', async (c) => {
 *   return c.json(await keymint.revokeApiKey(c.req.param('id'))); // NOT_FOUND: 404
 * });
 * ```
 */
export function keymintErrorHandler(
  options: KeymintErrorHandlerOptions = {},
): (error: unknown, c: Context) => Response {
  const onError = checkErrorHandlerOptions<Context>(options);
  return (error, c) => {
    if (!isKeymintError(error) && isHttpException(error)) return error.getResponse();
    const { status, headers, body, serverFault } = errorToHttp(error);
    if (serverFault) report(onError, error, c);
    return json(status, body, headers);
  };
}

/** Hono's `HTTPException`, recognised by shape: keymint/hono imports nothing of Hono at run time. */
function isHttpException(error: unknown): error is { getResponse(): Response } {
  return (
    error instanceof Error && typeof (error as { getResponse?: unknown }).getResponse === 'function'
  );
}
