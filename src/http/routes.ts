import type { ApiKey, CallContext, Keymint } from '../core/types.js';
import { KeymintError } from '../errors.js';
import { checkLimit, readJsonBody } from './body.js';
import { parseCreateBody } from './create-input.js';
import { parseRotateBody, parseUpdateBody } from './change-input.js';
import { BAD_PATH_MESSAGE, isAmbiguousPath } from './request-path.js';
import { errorResponse, fromError, json, MESSAGES } from './responses.js';
import {
  matchServiceAccounts,
  SERVICE_ACCOUNT_MESSAGES,
  SERVICE_ACCOUNT_METHODS,
  serviceAccountHandler,
  type ServiceAccounts,
} from './service-accounts.js';

/**
 * Options of {@link createApiKeyRoutes}.
 *
 * @example
 * ```ts
 * const options: ApiKeyRoutesOptions<User> = {
 *   authenticate: (request) => sessions.userOf(request), // the actor, or null for 401
 *   scopeOf: (user) => user.orgId,
 * };
 * ```
 */
export interface ApiKeyRoutesOptions<Actor> {
  /**
   * The host's own sign-in check: the actor making the request, or `null` (or `undefined`) to
   * answer `401`. The actor is passed to keymint as `{ actor }`, so the instance's `authorize`
   * and `actorRole` hooks decide what it may do.
   */
  authenticate: (request: Request) => Actor | null | undefined | Promise<Actor | null | undefined>;
  /** The scope (Grafana's organisation) the actor manages. Default: `'default'` for everyone. */
  scopeOf?: (actor: Actor) => string | Promise<string>;
  /**
   * Accept an instance made without `authorize`: then every actor `authenticate` returns may
   * create keys (up to its `actorRole`, when set), list, revoke and delete every key of its scope.
   * Default `false`: such an instance is refused with `CONFIG`, because that is rarely meant.
   */
  allowAnyActor?: boolean;
  /** Where the routes live. Default `'/api/auth/keys'`, as in Grafana. */
  basePath?: string;
  /** The largest request body accepted, in bytes; larger answers `413`. Default 16 KiB. */
  maxBodyBytes?: number;
  /**
   * Told about server faults (a `500` or a store failure), with the original error, which the
   * response never carries. Default: nothing is reported.
   */
  onError?: (error: unknown, request: Request) => void;
  /**
   * Turns on Grafana's service-account token routes under `/api/serviceaccounts/:id/tokens`,
   * where `:id` is the owner of the tokens. `role(id, actor)` is the host's: the role the
   * account's tokens get, or `null` for an account that does not exist (or that the actor may
   * not see), answered `404`.
   */
  serviceAccounts?: ServiceAccounts<Actor>;
}

/**
 * A Web-standard request handler, as Hono, Next.js route handlers, Bun and Deno take it.
 *
 * @example
 * ```ts
 * const routes: ApiKeyRoutes = createApiKeyRoutes(keymint, { authenticate });
 * const response = await routes(new Request('http://localhost/api/auth/keys'));
 * ```
 */
export type ApiKeyRoutes = (request: Request) => Promise<Response>;

/**
 * One key in the answer of `GET /api/auth/keys`, as Grafana lists keys. Dates are ISO 8601
 * strings; `expiration` is absent for a key that never expires, `lastUsedAt` for one never used.
 *
 * @example
 * ```ts
 * const keys = (await (await routes(listRequest)).json()) as ApiKeyListItem[];
 * for (const key of keys) console.log(key.name, key.role, key.expiration ?? 'never');
 * ```
 */
export interface ApiKeyListItem {
  id: string;
  name: string;
  role: string;
  expiration?: string;
  lastUsedAt?: string;
  /** As Grafana's list reports it: `true` once the key is revoked (it then never verifies). */
  isRevoked: boolean;
  /** The user or service account the key belongs to; absent for a key without an owner. */
  owner?: string;
}

const PAGE = 1000;

function listItem(apiKey: ApiKey): ApiKeyListItem {
  return {
    id: apiKey.id,
    name: apiKey.name,
    role: apiKey.role,
    ...(apiKey.expiresAt && { expiration: apiKey.expiresAt.toISOString() }),
    ...(apiKey.lastUsedAt && { lastUsedAt: apiKey.lastUsedAt.toISOString() }),
    isRevoked: apiKey.revokedAt !== null,
    ...(apiKey.owner !== null && { owner: apiKey.owner }),
  };
}

function checkBasePath(value: unknown): string {
  if (value === undefined) return '/api/auth/keys';
  if (typeof value !== 'string' || !/^\/[^?#\s]*$/.test(value)) {
    throw new KeymintError(
      'CONFIG',
      'basePath must be a path starting with "/", such as "/api/auth/keys".',
    );
  }
  return value.replace(/\/+$/, '');
}

type Target =
  | { kind: 'collection' }
  | { kind: 'item'; id: string }
  | { kind: 'revoke'; id: string }
  | { kind: 'rotate'; id: string };

function match(pathname: string, base: string): Target | null {
  if (pathname === base || pathname === `${base}/`) return { kind: 'collection' };
  if (!pathname.startsWith(`${base}/`)) return null;
  const parts = pathname.slice(base.length + 1).split('/');
  if (parts.length === 1 && parts[0]!.length > 0) return { kind: 'item', id: parts[0]! };
  if (parts.length === 2 && parts[0]!.length > 0 && parts[1] === 'revoke') {
    return { kind: 'revoke', id: parts[0]! };
  }
  if (parts.length === 2 && parts[0]!.length > 0 && parts[1] === 'rotate') {
    return { kind: 'rotate', id: parts[0]! };
  }
  return null;
}

const ALLOWED: Record<Target['kind'], string[]> = {
  collection: ['GET', 'POST'],
  item: ['PATCH', 'DELETE'],
  revoke: ['POST'],
  rotate: ['POST'],
};

/**
 * The key-management HTTP API of Grafana's legacy API keys, as one Web-standard handler:
 *
 * - `POST /api/auth/keys` with JSON `{ name, role, secondsToLive }` (or `ttl: '12h'`) answers
 *   `200 { id, name, key }`. The key is in this response only.
 * - `GET /api/auth/keys?includeExpired=true|false` answers the actor's scope's keys sorted by
 *   name, each {@link ApiKeyListItem}.
 * - `DELETE /api/auth/keys/:id` answers `200 { message: "API key deleted" }`, or `404` for an
 *   id that is not a key of the actor's scope.
 * - `POST /api/auth/keys/:id/revoke` (keymint's addition; Grafana's legacy API only deletes), with
 *   `Content-Type: application/json` and an empty or `{}` body, answers
 *   `200 { message: "API key revoked" }` (also when it already was), or `404`. A revoked key
 *   stays listed with `isRevoked: true` and never verifies again.
 * - `PATCH /api/auth/keys/:id` (keymint's addition) with JSON `{ name?, role?, ttl?,
 *   secondsToLive? }` (at least one; absent or `null` keeps the value; a new TTL counts from
 *   now, `secondsToLive: 0` alone means no expiry) answers `200` with the changed key as
 *   {@link ApiKeyListItem}. `409` for a revoked or expired key or a taken name.
 * - `POST /api/auth/keys/:id/rotate` (keymint's addition) with JSON `{ gracePeriod?, ttl? }` (or
 *   an empty body) gives the key a new secret and answers `200 { id, name, key }`: the new key,
 *   in this response only. The old key keeps verifying for `gracePeriod` (default `0`, at most
 *   7 days), then is answered `Rotated API key`. `409` for a revoked or expired key.
 *
 * Both are JSON only (`415` otherwise, so a cross-site form cannot send them), ask `authorize`
 * for `apikeys:write`, and answer `404` for another scope's key before `authorize` is asked.
 *
 * Every error is `{ message }` ({@link ErrorBody}): `400` bad input (`"Invalid role specified"`
 * for an unknown role; keymint's message for a bad or too long TTL; a path holding an encoded
 * dot, slash or backslash, `%2e`, `%2f` or `%5c`, which a proxy may have read as another path:
 * dot segments and backslashes are resolved by `new Request()` before the handler can see them,
 * so refuse those where the `Request` is built, as {@link toNodeListener} does), `401` when `authenticate`
 * returns `null`, `403` when keymint's `authorize` or `actorRole` refuses, `404`, `405`, `409`
 * taken name, `413` body over `maxBodyBytes`, `415` not `application/json`, `503` busy (with
 * `Retry-After`) or store down, `500` otherwise. Responses never carry a stack, a cause or, except
 * the create answer, a key; all are `Cache-Control: no-store`.
 *
 * Throws a `KeymintError` with the code `CONFIG` at once for bad options.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 * import { createApiKeyRoutes, toNodeListener } from 'keymint/http';
 *
 * const keymint = createKeymint<User>({
 *   adapter: memoryAdapter(),
 *   authorize: ({ actor }) => actor.isAdmin,
 *   actorRole: (actor) => actor.role,
 * });
 * const routes = createApiKeyRoutes(keymint, {
 *   authenticate: (request) => sessions.userOf(request), // your sign-in, or null
 *   scopeOf: (user) => user.orgId,
 * });
 * createServer(toNodeListener(routes)).listen(3000);
 * ```
 */
export function createApiKeyRoutes<Actor>(
  keymint: Keymint<Actor>,
  options: ApiKeyRoutesOptions<Actor>,
): ApiKeyRoutes {
  if (typeof options?.authenticate !== 'function') {
    throw new KeymintError(
      'CONFIG',
      'createApiKeyRoutes() needs { authenticate(request) }: the host sign-in.',
    );
  }
  if (!keymint.checksPermissions && options.allowAnyActor !== true) {
    // Fail closed: without authorize, every signed-in user could mint Admin keys and delete any.
    throw new KeymintError(
      'CONFIG',
      'createApiKeyRoutes() needs a keymint instance made with authorize (who may manage which ' +
        'keys), for example authorize: ({ actor }) => actor.isAdmin. If authenticate() admits ' +
        'only people who may manage every key of their scope, pass { allowAnyActor: true }.',
    );
  }
  const { authenticate, onError } = options;
  const scopeOf = options.scopeOf ?? (() => 'default');
  const basePath = checkBasePath(options.basePath);
  const maxBodyBytes = checkLimit(options.maxBodyBytes, 'maxBodyBytes');
  const serviceAccounts =
    options.serviceAccounts === undefined
      ? undefined
      : serviceAccountHandler(keymint, options.serviceAccounts, maxBodyBytes);

  /** The signed-in actor and its scope, or the 401 answer. */
  async function signedIn(request: Request) {
    const actor = await authenticate(request);
    if (actor === null || actor === undefined) return null;
    const scope = await scopeOf(actor);
    if (typeof scope !== 'string') {
      throw new KeymintError('CONFIG', 'scopeOf() must return a string.');
    }
    return { actor, scope };
  }

  async function create(request: Request, scope: string, context: CallContext<Actor>) {
    const body = await readJsonBody(request, maxBodyBytes);
    if (!body.ok) return errorResponse(body.status, body.message);
    const input = parseCreateBody(body.value, keymint.roles);
    if (!input.ok) return errorResponse(400, input.message);
    const { key, apiKey } = await keymint.createApiKey(
      { name: input.name, role: input.role, ttl: input.ttl, scope },
      context,
    );
    return json(200, { id: apiKey.id, name: apiKey.name, key });
  }

  async function list(url: URL, scope: string, context: CallContext<Actor>) {
    const flag = url.searchParams.get('includeExpired');
    if (flag !== null && flag !== 'true' && flag !== 'false') {
      return errorResponse(400, 'includeExpired must be true or false');
    }
    const includeExpired = flag === 'true';
    const keys: ApiKey[] = [];
    for (let after: string | undefined; ;) {
      const page = await keymint.listApiKeys(
        { scope, includeExpired, limit: PAGE, ...(after !== undefined && { after }) },
        context,
      );
      keys.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.name;
    }
    return json(200, keys.map(listItem));
  }

  async function remove(id: string, scope: string, context: CallContext<Actor>) {
    // `scope` in the context: a key of another scope is NOT_FOUND (404) before authorize is asked.
    await keymint.deleteApiKey(id, { ...context, scope });
    return json(200, { message: 'API key deleted' });
  }

  async function revoke(request: Request, id: string, scope: string, context: CallContext<Actor>) {
    // JSON only, like create: a cross-site HTML form cannot send it without a CORS preflight.
    const body = await readJsonBody(request, maxBodyBytes, true);
    if (!body.ok) return errorResponse(body.status, body.message);
    await keymint.revokeApiKey(id, { ...context, scope });
    return json(200, { message: 'API key revoked' });
  }

  async function update(request: Request, id: string, scope: string, context: CallContext<Actor>) {
    const body = await readJsonBody(request, maxBodyBytes);
    if (!body.ok) return errorResponse(body.status, body.message);
    const patch = parseUpdateBody(body.value, keymint.roles);
    if (!patch.ok) return errorResponse(400, patch.message);
    const apiKey = await keymint.updateApiKey(id, patch.value, { ...context, scope });
    return json(200, listItem(apiKey));
  }

  async function rotate(request: Request, id: string, scope: string, context: CallContext<Actor>) {
    const body = await readJsonBody(request, maxBodyBytes, true);
    if (!body.ok) return errorResponse(body.status, body.message);
    const options = parseRotateBody(body.value);
    if (!options.ok) return errorResponse(400, options.message);
    const { key, apiKey } = await keymint.rotateApiKey(id, options.value, { ...context, scope });
    return json(200, { id: apiKey.id, name: apiKey.name, key });
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    // `new Request()` has already resolved dot segments and backslashes, so only the encoded
    // forms it keeps (%2e, %2f, %5c) can be seen here; toNodeListener refuses the rest.
    if (isAmbiguousPath(url.pathname)) return errorResponse(400, BAD_PATH_MESSAGE);
    const account = serviceAccounts && matchServiceAccounts(url.pathname);
    if (account === 'bad-id') return errorResponse(400, SERVICE_ACCOUNT_MESSAGES.invalidAccountId);
    if (account && serviceAccounts) {
      const methods = SERVICE_ACCOUNT_METHODS[account.kind];
      if (!methods.includes(request.method)) {
        return errorResponse(405, MESSAGES.methodNotAllowed, { allow: methods.join(', ') });
      }
      const who = await signedIn(request);
      if (!who) return errorResponse(401, MESSAGES.unauthorized);
      return serviceAccounts(request, account, who.actor, who.scope);
    }
    const target = match(url.pathname, basePath);
    if (!target) return errorResponse(404, MESSAGES.notFound);
    const allowed = ALLOWED[target.kind];
    if (!allowed.includes(request.method)) {
      return errorResponse(405, MESSAGES.methodNotAllowed, { allow: allowed.join(', ') });
    }
    const who = await signedIn(request);
    if (!who) return errorResponse(401, MESSAGES.unauthorized);
    const { actor, scope } = who;
    const context: CallContext<Actor> = { actor };
    if (target.kind === 'item') {
      return request.method === 'PATCH'
        ? update(request, target.id, scope, context)
        : remove(target.id, scope, context);
    }
    if (target.kind === 'rotate') return rotate(request, target.id, scope, context);
    if (target.kind === 'revoke') return revoke(request, target.id, scope, context);
    return request.method === 'POST' ? create(request, scope, context) : list(url, scope, context);
  }

  return async (request) => {
    try {
      return await handle(request);
    } catch (error) {
      const { response, serverFault } = fromError(error);
      if (serverFault && onError) {
        try {
          onError(error, request);
        } catch {
          // A failing reporter must not change the answer.
        }
      }
      return response;
    }
  };
}
