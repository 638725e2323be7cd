/**
 * API-key authentication for Fastify 5: {@link requireApiKey} is an `onRequest` (or
 * `preHandler`) hook that checks `Authorization: Bearer <key>` (or Basic with the user
 * `api_key`), answers refusals as JSON `{ message }`, and puts the verified key's record on
 * `request.apiKey`, typed by this module. It imports only types from `fastify`.
 *
 * ```sh
 * npm install keymint fastify
 * ```
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 * import { requireApiKey } from 'keymint/fastify';
 *
 * const keymint = createKeymint({ adapter: memoryAdapter() });
 * const app = Fastify();
 * app.decorateRequest('apiKey', undefined); // optional: a stable request shape
 *
 * app.get('/api/dashboards', { onRequest: requireApiKey(keymint, { role: 'Viewer' }) }, (request) => {
 *   return { caller: request.apiKey?.name };
 * });
 * await app.listen({ port: 3000, host: '127.0.0.1' });
 * ```
 *
 * @module
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKey, Keymint } from '../core/types.js';
import { toResponse } from './authenticate.js';
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

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified API key's record, set by `requireApiKey()` of `keymint/fastify`. */
    apiKey?: ApiKey;
  }
}

/**
 * Options of {@link requireApiKey}.
 *
 * @example
 * ```ts
 * const options: RequireApiKeyOptions = {
 *   role: 'Editor',
 *   scope: (request) => (request.params as { org: string }).org,
 *   onError: (error, request) => request.log.error({ err: error }, 'API key check failed'),
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
   * A function of the request picks the scope per request, for example from `request.params`
   * (already set in `onRequest`); a value no key can have (empty, `'*'`, over 190 characters) is
   * answered `401` too. A function that throws or returns no string is a programming error,
   * thrown to Fastify's error handler.
   */
  scope?: string | ((request: FastifyRequest) => string | Promise<string>);
  /**
   * Told about server faults (`503` after a store failure, `500` after a hasher failure) with
   * their cause, which the client never sees. A reporter that throws changes nothing.
   */
  onError?: (error: unknown, request: FastifyRequest) => void;
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
 * A Fastify hook that lets a request through only with a valid API key, read as
 * `authenticateRequest()` of `keymint/http` reads it: `Authorization: Bearer <key>`, or Basic
 * with the user `api_key` and the key as password. The verified key's record (no secret, no
 * hash) is then on `request.apiKey`. Use it per route (`{ onRequest: requireApiKey(...) }`) or
 * for every route of a plugin (`app.addHook('onRequest', requireApiKey(...))`); `preHandler`
 * works too. Fastify advises declaring request properties for a stable object shape: call
 * `app.decorateRequest('apiKey', undefined)` once if you like; the hook works either way.
 *
 * A refusal is answered at once as JSON `{ message }` with `Cache-Control: no-store`: `401`
 * (`Invalid API key`, `Expired API key`, `Revoked API key`, with `WWW-Authenticate: Bearer`;
 * `Invalid API key` for a request with two `Authorization` headers, whichever holds the key),
 * `403` below `options.role`, `429` with `Retry-After` for a rate-limited key id, `503` with
 * `Retry-After` when hashing is busy or the store failed, `500` when the hasher failed. The
 * handler never runs then, and a fault's cause goes to `options.onError`, never to the client.
 * Only programming errors are thrown, to Fastify's error handler.
 *
 * Bad options (an unknown role or option, a malformed scope) throw a `KeymintError` here, at
 * setup: `INVALID_ROLE` or `INVALID_INPUT`.
 *
 * @example
 * ```ts
 * import { requireApiKey } from 'keymint/fastify';
 *
 * app.get('/api/dashboards', { onRequest: requireApiKey(keymint, { role: 'Editor' }) }, (request) => {
 *   return { caller: request.apiKey?.name, role: request.apiKey?.role };
 * });
 *
 * // Every route of a plugin:
 * app.register(async (api) => {
 *   api.addHook('onRequest', requireApiKey(keymint));
 *   api.get('/api/folders', async (request) => ({ caller: request.apiKey?.name }));
 * });
 * ```
 */
export function requireApiKey(
  keymint: Pick<Keymint<never>, 'verifyKey' | 'roles'>,
  options?: RequireApiKeyOptions,
): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const check = createKeyCheck<FastifyRequest>(keymint, options);
  return async (request, reply) => {
    const result = await check(nodeHeaderValues(request.headers, request.raw.rawHeaders), request);
    if (result.ok) {
      if (result.headers) reply.headers(result.headers);
      request.apiKey = result.apiKey;
      return undefined;
    }
    const { status, headers, body } = await failureReply(toResponse(result));
    // An async hook that answered must return the reply, so that Fastify stops there.
    return reply.code(status).headers(headers).send(body);
  };
}

/**
 * Options of {@link keymintErrorHandler}.
 *
 * @example
 * ```ts
 * const options: KeymintErrorHandlerOptions = {
 *   onError: (error, request) => request.log.error({ err: error }, 'keymint fault'),
 * };
 * ```
 */
export interface KeymintErrorHandlerOptions {
  /**
   * Told about the server faults it answers (`STORE_FAILURE`, `HASHER_FAILURE`, `CONFIG`), with
   * the error, whose cause the client never sees. A reporter that throws changes nothing.
   */
  onError?: (error: unknown, request: FastifyRequest) => void;
}

/**
 * A Fastify error handler (`app.setErrorHandler(keymintErrorHandler())`) that answers a
 * `KeymintError` thrown by a route with the status, headers and JSON body of `errorToHttp()` of
 * `keymint/http`: `400` bad input, `403` `FORBIDDEN`, `404` `NOT_FOUND`, `409` `NAME_TAKEN`,
 * `503` with `Retry-After` for `BUSY` and `STORE_FAILURE`, `500` otherwise; the body is
 * `{ message, code }`, or a generic `{ message }` for a server fault.
 *
 * Any other error (Fastify's own `400` for bad JSON, a validation error, your errors) is thrown
 * on, to the parent error handler: Fastify's default one answers it as it would have without
 * this handler.
 *
 * @example
 * ```ts
 * import { keymintErrorHandler } from 'keymint/fastify';
 *
 * app.setErrorHandler(keymintErrorHandler());
 * app.delete('/admin/keys/:id', async (request) => {
 *   // NOT_FOUND becomes 404 { message, code: 'NOT_FOUND' }
 *   return keymint.revokeApiKey((request.params as { id: string }).id);
 * });
 * ```
 */
export function keymintErrorHandler(
  options: KeymintErrorHandlerOptions = {},
): (error: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply {
  const onError = checkErrorHandlerOptions<FastifyRequest>(options);
  return (error, request, reply) => {
    if (!isKeymintError(error)) throw error;
    const { status, headers, body, serverFault } = errorToHttp(error);
    if (serverFault) report(onError, error, request);
    return reply
      .code(status)
      .headers({ ...JSON_HEADERS, ...headers })
      .send(body);
  };
}
