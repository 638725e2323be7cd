import { vi } from 'vitest';
import type { KeymintOptions } from '../src/index.js';
import { createApiKeyRoutes, type ApiKeyRoutesOptions } from '../src/http/index.js';
import { fastKeymint } from './helpers.js';

export interface User {
  name: string;
  role: string;
  org: string;
}

export const alice: User = { name: 'alice', role: 'Admin', org: 'org-1' };
export const bob: User = { name: 'bob', role: 'Viewer', org: 'org-1' };
export const carol: User = { name: 'carol', role: 'Admin', org: 'org-2' };
const SESSIONS: Record<string, User> = { alice, bob, carol };

export const ORIGIN = 'http://localhost';

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

/**
 * keymint over the memory adapter with the HMAC hasher and a test clock, its routes, and a
 * session header (`x-user: alice`) as the host's sign-in. Every response text is recorded.
 */
export function routesFixture(
  options: Partial<KeymintOptions<User>> = {},
  routeOptions: Partial<ApiKeyRoutesOptions<User>> = {},
) {
  const made = fastKeymint<User>({
    // Each user manages its own organisation's keys, never above its own role.
    authorize: ({ actor, scope }) => actor.org === scope,
    actorRole: (user) => user.role,
    ...options,
  });
  const onError = vi.fn();
  const routes = createApiKeyRoutes(made.keymint, {
    authenticate: (request) => SESSIONS[request.headers.get('x-user') ?? ''] ?? null,
    scopeOf: (user) => user.org,
    onError,
    ...routeOptions,
  });
  const texts: string[] = [];

  async function call(
    method: string,
    path: string,
    init: {
      as?: string | null;
      json?: unknown;
      body?: RequestInit['body'];
      headers?: RequestInit['headers'];
    } = {},
  ): Promise<CallResult> {
    const headers = new Headers(init.headers);
    const as = init.as === undefined ? 'alice' : init.as;
    if (as !== null) headers.set('x-user', as);
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    const request = new Request(`${ORIGIN}${path}`, {
      method,
      headers,
      ...(body !== undefined && { body, duplex: 'half' }),
    } as RequestInit);
    const response = await routes(request);
    const text = await response.text();
    texts.push(text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed };
  }

  /** Creates a key through the API; returns the parsed `{ id, name, key }`. */
  async function create(json: Record<string, unknown>, as = 'alice') {
    const response = await call('POST', '/api/auth/keys', { as, json });
    if (response.status !== 200) throw new Error(`create failed: ${response.text}`);
    return response.body as { id: string; name: string; key: string };
  }

  return { ...made, routes, onError, call, create, texts };
}
