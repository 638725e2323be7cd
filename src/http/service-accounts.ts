import type { ApiKey, CallContext, Keymint } from '../core/types.js';
import { isKeymintError, KeymintError } from '../errors.js';
import { ownerSchema } from '../schemas.js';
import { readJsonBody } from './body.js';
import { parseCreateBody } from './create-input.js';
import { errorResponse, json } from './responses.js';

/**
 * The host's service accounts, for the token routes of {@link createApiKeyRoutes}: which role an
 * account's tokens get, or `null` when there is no such account (or the actor may not see it),
 * which answers `404`.
 *
 * @example
 * ```ts
 * const serviceAccounts: ServiceAccounts<User> = {
 *   role: async (id, user) => (await db.serviceAccount(id, user.orgId))?.role ?? null,
 * };
 * ```
 */
export interface ServiceAccounts<Actor> {
  role(id: string, actor: Actor): string | null | undefined | Promise<string | null | undefined>;
}

/**
 * One token in the answer of `GET /api/serviceaccounts/:id/tokens`, as Grafana lists them:
 * `expiration` is `null` for a token that never expires; `secondsUntilExpiration` is counted
 * only for a live token expiring within 7 days (else `0`). `hasExpired` and
 * `secondsUntilExpiration` are by the server's clock (`Date.now()`), as in Grafana.
 *
 * @example
 * ```ts
 * const tokens = (await (await routes(listRequest)).json()) as ServiceAccountTokenItem[];
 * ```
 */
export interface ServiceAccountTokenItem {
  id: string;
  name: string;
  role: string;
  created: string;
  expiration: string | null;
  secondsUntilExpiration: number;
  hasExpired: boolean;
  isRevoked: boolean;
  lastUsedAt: string | null;
}

/** Grafana's answers (pkg/services/serviceaccounts/api/token.go). */
export const SERVICE_ACCOUNT_MESSAGES = {
  accountNotFound: 'Failed to retrieve service account',
  invalidAccountId: 'Service Account ID is invalid',
  deleteFailed: 'Failed to delete API key',
  deleted: 'API key deleted',
  duplicate: 'service account token with given name already exists in the organization',
} as const;

const PAGE = 1000;
const SEVEN_DAYS_MS = 7 * 86_400_000;
const BASE = '/api/serviceaccounts/';

type Target = { kind: 'tokens'; account: string } | { kind: 'token'; account: string; id: string };

/** The target of a path under `/api/serviceaccounts/`, or null for any other path. */
export function matchServiceAccounts(pathname: string): Target | 'bad-id' | null {
  if (!pathname.startsWith(BASE)) return null;
  const parts = pathname.slice(BASE.length).split('/');
  if (parts.length < 2 || parts.length > 3 || parts[1] !== 'tokens' || parts[0] === '') {
    return null;
  }
  let account: string;
  try {
    account = decodeURIComponent(parts[0]!);
  } catch {
    return 'bad-id';
  }
  if (parts.length === 2) return { kind: 'tokens', account };
  if (parts[2] === '') return null;
  return { kind: 'token', account, id: parts[2]! };
}

export const SERVICE_ACCOUNT_METHODS: Record<Target['kind'], string[]> = {
  tokens: ['GET', 'POST'],
  token: ['DELETE'],
};

function tokenItem(apiKey: ApiKey, nowMs: number): ServiceAccountTokenItem {
  const expires = apiKey.expiresAt?.getTime() ?? null;
  const hasExpired = expires !== null && expires <= nowMs;
  const soon = expires !== null && !hasExpired && expires < nowMs + SEVEN_DAYS_MS;
  return {
    id: apiKey.id,
    name: apiKey.name,
    role: apiKey.role,
    created: apiKey.createdAt.toISOString(),
    expiration: apiKey.expiresAt ? apiKey.expiresAt.toISOString() : null,
    secondsUntilExpiration: soon ? (expires - nowMs) / 1000 : 0,
    hasExpired,
    isRevoked: apiKey.revokedAt !== null,
    lastUsedAt: apiKey.lastUsedAt ? apiKey.lastUsedAt.toISOString() : null,
  };
}

/** The token routes, over the instance and the host's accounts. */
export function serviceAccountHandler<Actor>(
  keymint: Keymint<Actor>,
  accounts: ServiceAccounts<Actor>,
  maxBodyBytes: number,
  now: () => number = Date.now,
) {
  if (typeof accounts?.role !== 'function') {
    throw new KeymintError(
      'CONFIG',
      'serviceAccounts must be { role(id, actor) }: the role of the account, or null when there is none.',
    );
  }

  async function list(account: string, scope: string, context: CallContext<Actor>) {
    const keys: ApiKey[] = [];
    for (let after: string | undefined; ;) {
      const page = await keymint.listApiKeys(
        {
          scope,
          owner: account,
          includeExpired: true,
          limit: PAGE,
          ...(after !== undefined && { after }),
        },
        context,
      );
      keys.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.name;
    }
    const at = now();
    return json(
      200,
      keys.map((key) => tokenItem(key, at)),
    );
  }

  async function create(
    request: Request,
    account: string,
    role: string,
    scope: string,
    context: CallContext<Actor>,
  ) {
    const body = await readJsonBody(request, maxBodyBytes);
    if (!body.ok) return errorResponse(body.status, body.message);
    const given = body.value;
    // Grafana's body is { name, secondsToLive }: the role is the account's, whatever is sent.
    const input = parseCreateBody(
      typeof given === 'object' && given !== null && !Array.isArray(given)
        ? { ...given, role }
        : given,
      keymint.roles,
    );
    if (!input.ok) return errorResponse(400, input.message);
    try {
      const { key, apiKey } = await keymint.createApiKey(
        { name: input.name, role: input.role, ttl: input.ttl, scope, owner: account },
        context,
      );
      return json(200, { id: apiKey.id, name: apiKey.name, key });
    } catch (error) {
      if (isKeymintError(error, 'NAME_TAKEN')) {
        return errorResponse(409, SERVICE_ACCOUNT_MESSAGES.duplicate);
      }
      throw error;
    }
  }

  async function remove(account: string, id: string, scope: string, context: CallContext<Actor>) {
    const scoped = { ...context, scope };
    try {
      const apiKey = await keymint.getApiKey(id, scoped);
      // Another account's token is no token of this one.
      if (apiKey.owner !== account)
        return errorResponse(404, SERVICE_ACCOUNT_MESSAGES.deleteFailed);
      await keymint.deleteApiKey(id, scoped);
    } catch (error) {
      if (isKeymintError(error, 'NOT_FOUND')) {
        return errorResponse(404, SERVICE_ACCOUNT_MESSAGES.deleteFailed);
      }
      throw error;
    }
    return json(200, { message: SERVICE_ACCOUNT_MESSAGES.deleted });
  }

  /** Answers a matched request once the actor is known. */
  return async function handle(
    request: Request,
    target: Target,
    actor: Actor,
    scope: string,
  ): Promise<Response> {
    // Grafana checks the id's form first (400), then that the account exists (404).
    if (!ownerSchema.safeParse(target.account).success) {
      return errorResponse(400, SERVICE_ACCOUNT_MESSAGES.invalidAccountId);
    }
    const role = await accounts.role(target.account, actor);
    if (role === null || role === undefined) {
      return errorResponse(404, SERVICE_ACCOUNT_MESSAGES.accountNotFound);
    }
    if (typeof role !== 'string') {
      throw new KeymintError('CONFIG', 'serviceAccounts.role() must return a role name or null.');
    }
    const context: CallContext<Actor> = { actor };
    if (target.kind === 'token') return remove(target.account, target.id, scope, context);
    return request.method === 'POST'
      ? create(request, target.account, role, scope, context)
      : list(target.account, scope, context);
  };
}
