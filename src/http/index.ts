/**
 * The HTTP side of keymint, on Web-standard `Request` and `Response` (Node 20, Bun, Deno, Hono,
 * Next.js route handlers), with no framework dependency:
 *
 * - {@link createApiKeyRoutes}: Grafana's legacy API-key endpoints (`POST`, `GET` and
 *   `DELETE /api/auth/keys`) as one handler, with keymint's revoke, update (`PATCH`) and rotate.
 * - {@link authenticateRequest}: checks `Authorization: Bearer <key>` (or Basic with the user
 *   `api_key`, or `X-API-Key` when asked) on any request, and {@link toResponse} turns a refusal into a JSON response.
 * - {@link createSecretScanningHandler}: GitHub's secret-scanning partner endpoint, which
 *   revokes leaked keys GitHub reports.
 * - {@link toNodeListener}: mounts a Web handler in `node:http` or Express.
 * - {@link errorToHttp}: the status, headers and body for a `KeymintError` thrown in your own
 *   routes (the framework entry points build `keymintErrorHandler()` on it).
 *
 * docs/http.md in the package has the whole guide, with examples that are compiled in its tests.
 *
 * ```sh
 * npm install keymint
 * ```
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 * import { authenticateRequest, createApiKeyRoutes, toNodeListener, toResponse } from 'keymint/http';
 *
 * interface User { role: string; isAdmin: boolean }
 * // Your sign-in: the signed-in user of a request, or null (the routes then answer 401).
 * const userOf = async (request: Request): Promise<User | null> => mySessions.lookup(request);
 *
 * const keymint = createKeymint<User>({
 *   adapter: memoryAdapter(),
 *   authorize: ({ actor }) => actor.isAdmin, // who may manage keys: required by the routes
 *   actorRole: (actor) => actor.role, // nobody creates a key above their own role
 * });
 * const routes = createApiKeyRoutes(keymint, { authenticate: userOf });
 *
 * createServer(
 *   toNodeListener(async (request) => {
 *     if (new URL(request.url).pathname.startsWith('/api/auth/keys')) return routes(request);
 *     const auth = await authenticateRequest(keymint, request, { role: 'Viewer' });
 *     if (!auth.ok) return toResponse(auth);
 *     return Response.json({ hello: auth.apiKey.name });
 *   }),
 * ).listen(3000, '127.0.0.1');
 * ```
 *
 * @module
 */
export { createApiKeyRoutes } from './routes.js';
export type { ApiKeyListItem, ApiKeyRoutes, ApiKeyRoutesOptions } from './routes.js';
export type { ServiceAccounts, ServiceAccountTokenItem } from './service-accounts.js';
export type { CreateApiKeyBody } from './create-input.js';
export type { RotateApiKeyBody, UpdateApiKeyBody } from './change-input.js';
export type { ErrorBody } from './responses.js';
export { authenticateRequest, rateLimitHeaders, readApiKey, toResponse } from './authenticate.js';
export type {
  AuthenticateRequestOptions,
  AuthenticationFailure,
  AuthenticationResult,
} from './authenticate.js';
export { toNodeListener } from './node.js';
export type { NodeListenerOptions } from './node.js';
export { DEFAULT_MAX_BODY_BYTES } from './body.js';
export { errorToHttp, KEYMINT_ERROR_STATUS } from './error-to-http.js';
export type { HttpError } from './error-to-http.js';
export { createSecretScanningHandler } from './secret-scanning.js';
export type {
  GitHubPublicKeys,
  SecretScanningHandlerOptions,
  SecretScanningLabel,
} from './secret-scanning.js';
