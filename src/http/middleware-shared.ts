import { KeymintError } from '../errors.js';
import type { Keymint } from '../core/types.js';
import { checkPermissionList } from '../core/permissions.js';
import { RoleSet } from '../core/roles.js';
import { scopeSchema } from '../schemas.js';
import { verifyFrom, type AuthenticationResult } from './authenticate.js';
import { checkKeyHeaders, type HeaderValues } from './key-headers.js';

export { nodeHeaderValues, webHeaderValues } from './key-headers.js';
export type { HeaderValues } from './key-headers.js';

/** What the framework middlewares need of a keymint instance. */
export type MiddlewareKeymint = Pick<Keymint<never>, 'verifyKey' | 'roles'> &
  Partial<Pick<Keymint<never>, 'permissions'>>;

/** The options every `requireApiKey()` takes; `Req` is the framework's request (or context). */
export interface MiddlewareOptions<Req> {
  role?: string;
  /** Every one is required; a key without them all gets `403 Insufficient permissions for this API key`. */
  permissions?: readonly string[];
  scope?: string | ((request: Req) => string | Promise<string>);
  onError?: (error: unknown, request: Req) => void;
  headers?: readonly string[];
}

const OPTION_NAMES = new Set(['role', 'permissions', 'scope', 'onError', 'headers']);

function invalid(message: string): KeymintError {
  return new KeymintError('INVALID_INPUT', `Invalid requireApiKey() options: ${message}.`);
}

/**
 * Checks the options once, at setup: a typo in a role or an option name would otherwise leave a
 * route less protected than its author believes.
 */
function checkOptions<Req>(
  keymint: MiddlewareKeymint,
  options: unknown,
): MiddlewareOptions<Req> & { headers: readonly string[] } {
  if (options === undefined) return { headers: checkKeyHeaders(undefined) };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid(
      'requireApiKey() takes an object: { role?, permissions?, scope?, onError?, headers? }',
    );
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) {
      throw invalid(
        `unknown option ${JSON.stringify(name)}; the options are role, permissions, scope, onError and headers`,
      );
    }
  }
  const { role, permissions, scope, onError, headers } = options as Record<string, unknown>;
  const checked: MiddlewareOptions<Req> & { headers: readonly string[] } = {
    headers: checkKeyHeaders(headers),
  };
  if (role !== undefined) {
    if (typeof role !== 'string') throw invalid('role must be a string');
    checked.role = new RoleSet(keymint.roles).require(role, 'minimum role');
  }
  if (permissions !== undefined) {
    // Checked here, once: an unknown permission would otherwise fail every request.
    if (!keymint.permissions) {
      throw invalid(
        'permissions need a keymint instance made with the permissions option of createKeymint()',
      );
    }
    checked.permissions = Object.freeze([
      ...checkPermissionList(keymint.permissions.known, permissions, 'requireApiKey() options'),
    ]);
  }
  if (typeof scope === 'string') {
    const parsed = scopeSchema.safeParse(scope);
    if (!parsed.success) throw invalid(`scope: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    checked.scope = parsed.data;
  } else if (typeof scope === 'function') {
    checked.scope = scope as (request: Req) => string | Promise<string>;
  } else if (scope !== undefined) {
    throw invalid('scope must be a string or a function of the request');
  }
  if (typeof onError === 'function') {
    checked.onError = onError as (error: unknown, request: Req) => void;
  } else if (onError !== undefined) {
    throw invalid('onError must be a function');
  }
  return checked;
}

/**
 * The check behind every `requireApiKey()`: `authenticateRequest()` on the values of the
 * request's headers (read by the framework, see {@link nodeHeaderValues}), with the scope of
 * this request. Server faults go to `onError` (their `cause` is never
 * sent); it throws only for programming errors: a scope function that throws or returns no
 * string.
 */
export function createKeyCheck<Req>(
  keymint: MiddlewareKeymint,
  options: unknown,
): (values: HeaderValues, request: Req) => Promise<AuthenticationResult> {
  if (typeof keymint?.verifyKey !== 'function' || !Array.isArray(keymint.roles)) {
    throw new KeymintError('CONFIG', 'requireApiKey() needs a keymint instance (createKeymint()).');
  }
  const { role, permissions, scope, onError, headers } = checkOptions<Req>(keymint, options);
  const report = (error: unknown, request: Req) => {
    try {
      onError?.(error, request);
    } catch {
      // A failing reporter must not change the answer.
    }
  };

  const optionsFor = (requestScope: string | undefined) =>
    role === undefined && permissions === undefined && requestScope === undefined
      ? undefined
      : {
          ...(role !== undefined && { role }),
          ...(permissions !== undefined && { permissions }),
          ...(requestScope !== undefined && { scope: requestScope }),
        };
  // A fixed role, permissions and scope: one options object for every request (verifyKey reads
  // nothing for none at all), not a fresh one per request.
  const fixedOptions = typeof scope === 'function' ? undefined : optionsFor(scope);

  if (typeof scope !== 'function') {
    // The path of every request of a route with a fixed scope: verifyFrom's promise itself, with
    // no async frame around it, and no callback at all when there is no reporter to tell.
    if (onError === undefined)
      return (values) => verifyFrom(keymint, values, headers, fixedOptions);
    return (values, request) =>
      verifyFrom(keymint, values, headers, fixedOptions).then((result) => {
        if (!result.ok && result.cause !== undefined) report(result.cause, request);
        return result;
      });
  }
  return async (values, request) => {
    const requestScope: unknown = await scope(request);
    if (typeof requestScope !== 'string') {
      throw invalid('the scope function must return a string');
    }
    // Often taken from the URL, so the client's to choose: a scope no key can have (empty,
    // '*', too long) is an unknown key, not a server error.
    if (!scopeSchema.safeParse(requestScope).success) {
      return verifyFrom(keymint, () => [], headers, undefined);
    }
    const result = await verifyFrom(keymint, values, headers, optionsFor(requestScope));
    if (!result.ok && result.cause !== undefined) report(result.cause, request);
    return result;
  };
}

/** The headers and body `toResponse()` would send for a failure. */
export async function failureReply(
  response: Response,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { status: response.status, headers, body: await response.text() };
}

/** The headers of every JSON answer of keymint (as `json()` of responses.ts sets them). */
export const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
});

/** Checks the options of a `keymintErrorHandler()` once, at setup; returns its `onError`. */
export function checkErrorHandlerOptions<Req>(
  options: unknown,
): ((error: unknown, request: Req) => void) | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new KeymintError('INVALID_INPUT', 'keymintErrorHandler() takes an object: { onError? }.');
  }
  for (const name of Object.keys(options)) {
    if (name !== 'onError') {
      throw new KeymintError(
        'INVALID_INPUT',
        `Invalid keymintErrorHandler() options: unknown option ${JSON.stringify(name)}; the only option is onError.`,
      );
    }
  }
  const { onError } = options as { onError?: unknown };
  if (onError !== undefined && typeof onError !== 'function') {
    throw new KeymintError(
      'INVALID_INPUT',
      'Invalid keymintErrorHandler() options: onError must be a function.',
    );
  }
  return onError as ((error: unknown, request: Req) => void) | undefined;
}

/** Tells a host's reporter; a reporter that throws must not change the answer. */
export function report<Req>(
  onError: ((error: unknown, request: Req) => void) | undefined,
  error: unknown,
  request: Req,
): void {
  try {
    onError?.(error, request);
  } catch {
    // ignored on purpose
  }
}
