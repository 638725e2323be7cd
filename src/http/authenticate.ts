import { isKeymintError } from '../errors.js';
import type {
  ApiKey,
  Keymint,
  UsageLimits,
  VerifyFailureReason,
  VerifyOptions,
  VerifyResult,
} from '../core/types.js';
import { json, retryAfterSeconds } from './responses.js';
import {
  checkKeyHeaders,
  findKey,
  MAX_HEADER_VALUE_LENGTH,
  webHeaderValues,
  type HeaderValues,
} from './key-headers.js';

/**
 * Options of {@link authenticateRequest}: `verifyKey`'s, and the headers to read the key from.
 *
 * @example
 * ```ts
 * const options: AuthenticateRequestOptions = { role: 'Editor', scope: 'org-42' };
 * const withHeader: AuthenticateRequestOptions = { headers: ['authorization', 'x-api-key'] };
 * ```
 */
export interface AuthenticateRequestOptions extends VerifyOptions {
  /**
   * The request headers that may carry the key, by name (any letter case). `'authorization'`
   * is read as `Bearer <key>` or Basic with the user `api_key`; any other header (such as
   * `'x-api-key'`) holds the key as its whole value. Default `['authorization']`. The query
   * string is never read: URLs land in access logs, browser history and `Referer` headers.
   *
   * A request is refused (`401 Invalid API key`) when a listed header comes twice, or when two
   * listed headers carry different keys; the same key in two listed headers is accepted. An
   * empty list, a name that is no header name, a name listed twice, or `cookie`, `host`,
   * `content-type` or `content-length` throw a `KeymintError` with the code `CONFIG`.
   */
  headers?: readonly string[];
}

/**
 * Why {@link authenticateRequest} refused a request, ready to send with {@link toResponse}.
 * `cause` is set for a server fault (`500` or `503` after a store or hasher failure) so the host
 * can log it; it is never sent.
 *
 * @example
 * ```ts
 * const failure: AuthenticationFailure = { ok: false, status: 401, message: 'Invalid API key' };
 * ```
 */
export interface AuthenticationFailure {
  ok: false;
  status: 401 | 403 | 429 | 500 | 503;
  message: string;
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * The outcome of {@link authenticateRequest}: the verified key's record, or a failure.
 *
 * @example
 * ```ts
 * const result: AuthenticationResult = await authenticateRequest(keymint, request);
 * if (result.ok) console.log(result.apiKey.name);
 * ```
 */
export type AuthenticationResult =
  | {
      ok: true;
      apiKey: ApiKey;
      /**
       * For a key with a rate limit: the `RateLimit-Policy` and `RateLimit` headers
       * (draft-ietf-httpapi-ratelimit-headers) to send with the answer. The middlewares set them.
       */
      headers?: Record<string, string>;
    }
  | AuthenticationFailure;

/**
 * The IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers-09) for a verification's
 * `limits`: `RateLimit-Policy: "default";q=<limit>;w=<window s>` and
 * `RateLimit: "default";r=<remaining>;t=<s to reset>`. Empty without a rate limit.
 *
 * @example
 * ```ts
 * const result = await keymint.verifyKey(key);
 * const headers = result.valid ? rateLimitHeaders(result.limits) : {};
 * ```
 */
export function rateLimitHeaders(limits: UsageLimits | undefined): Record<string, string> {
  const rate = limits?.rateLimit;
  if (!rate) return {};
  const reset = Math.max(0, Math.ceil(rate.resetAfterMs / 1000));
  return {
    'ratelimit-policy': `"default";q=${rate.limit};w=${Math.ceil(rate.windowMs / 1000)}`,
    ratelimit: `"default";r=${rate.remaining};t=${reset}`,
  };
}

const CREDENTIALS = /^([A-Za-z]+)[ \t]+([^ \t]+)$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** `Bearer`, one space, then visible ASCII characters other than a comma. */
const PLAIN_BEARER = /^Bearer [!-+\--~]+$/;

const INVALID = 'Invalid API key';
const challenge = { 'www-authenticate': 'Bearer' };

const FAILURES: Record<VerifyFailureReason, AuthenticationFailure> = {
  malformed: { ok: false, status: 401, message: INVALID, headers: challenge },
  not_found: { ok: false, status: 401, message: INVALID, headers: challenge },
  expired: { ok: false, status: 401, message: 'Expired API key', headers: challenge },
  revoked: { ok: false, status: 401, message: 'Revoked API key', headers: challenge },
  rotated: { ok: false, status: 401, message: 'Rotated API key', headers: challenge },
  insufficient_role: { ok: false, status: 403, message: 'Insufficient role for this API key' },
  insufficient_permission: {
    ok: false,
    status: 403,
    message: 'Insufficient permissions for this API key',
  },
  usage_exceeded: { ok: false, status: 429, message: 'API key usage exceeded' },
  rate_limited: {
    ok: false,
    status: 429,
    message: 'Too many failed attempts with this API key; try again later',
    headers: { 'retry-after': '60' },
  },
  busy: {
    ok: false,
    status: 503,
    message: 'Too many keys are being checked right now; try again in a moment',
    headers: { 'retry-after': '1' },
  },
};

/** A fresh copy: a host may change what it gets back. */
function failure(reason: VerifyFailureReason): AuthenticationFailure {
  const { headers, ...rest } = FAILURES[reason];
  return headers ? { ...rest, headers: { ...headers } } : { ...rest };
}

/**
 * The key in an `Authorization` header value, or `null`. Reads `Bearer <key>` and, as Grafana
 * does, `Basic` with the user `api_key` and the key as password. The scheme is matched in any
 * letter case; one or more spaces may follow it. Values over 512 characters are refused without
 * being read, and so is a value with a comma: that is what the Web `Headers` makes of two
 * `Authorization` headers (`"Bearer a, Bearer b"`), and no key or Basic credential holds one, so
 * a request with two is refused whichever holds the key. The key itself is not checked here.
 *
 * @example
 * ```ts
 * readApiKey('Bearer km_7Y1FsObMb7Nf_moaAvFVY6RXGJsvSIXLqpghgOqqq16Cbey'); // the key
 * readApiKey('Basic ' + btoa('api_key:' + key)); // the key
 * readApiKey('Basic ' + btoa('admin:secret')); // null
 * ```
 */
export function readApiKey(authorization: string | null | undefined): string | null {
  if (typeof authorization !== 'string' || authorization.length > MAX_HEADER_VALUE_LENGTH) {
    return null;
  }
  // The form clients send, read without a capture or a copy of the value: the general rule
  // below reads it the same way (no comma, nothing to trim, one space, one token).
  if (PLAIN_BEARER.test(authorization)) return authorization.slice(7);
  if (authorization.includes(',')) return null;
  const match = CREDENTIALS.exec(authorization.trim());
  if (!match) return null;
  const scheme = match[1]!.toLowerCase();
  const token = match[2]!;
  if (scheme === 'bearer') return token;
  if (scheme !== 'basic' || token.length % 4 !== 0 || !BASE64.test(token)) return null;
  let decoded: string;
  try {
    decoded = atob(token);
  } catch {
    return null;
  }
  const colon = decoded.indexOf(':');
  if (colon === -1 || decoded.slice(0, colon) !== 'api_key') return null;
  const password = decoded.slice(colon + 1);
  return password.length > 0 ? password : null;
}

/**
 * Checks the API key of a request: reads it from the `Authorization` header with
 * {@link readApiKey} (or from the headers `options.headers` lists, such as `X-API-Key`; never
 * from the query string), verifies it with `keymint.verifyKey(key, options)` and answers the
 * verified key's record, or a failure to send with {@link toResponse}:
 *
 * | status | message | when |
 * | --- | --- | --- |
 * | 401 | `Invalid API key` | no key, a header twice, two different keys, unknown key or wrong secret |
 * | 401 | `Expired API key` / `Revoked API key` | the correct key, expired or revoked |
 * | 401 | `Rotated API key` | the key's old secret after `rotateApiKey()` and its grace period |
 * | 403 | `Insufficient role for this API key` | below `options.role` |
 * | 403 | `Insufficient permissions for this API key` | without every one of `options.permissions` |
 * | 429 | `API key rate limit exceeded` (with `Retry-After`, `RateLimit-Policy`, `RateLimit`) | the key's rate limit is used up for this window |
 * | 429 | `API key usage exceeded` | the key's credits are spent |
 * | 429 | (with `Retry-After`) | too many wrong secrets for this key id lately |
 * | 503 | (with `Retry-After`) | hashing busy (`Retry-After` from the estimated wait), or the store failed (`cause` set) |
 * | 500 | `Internal server error` | the hasher failed (`cause` set) |
 *
 * It never answers `ok: true` after a failure of the store or the hasher. It throws only for
 * bad `options` (`INVALID_ROLE`, `INVALID_INPUT`, `CONFIG` for `headers`) and a broken clock
 * (`CONFIG`): programming errors.
 *
 * @example
 * ```ts
 * import { authenticateRequest, toResponse } from 'keymint/http';
 *
 * export async function GET(request: Request): Promise<Response> {
 *   const auth = await authenticateRequest(keymint, request, { role: 'Viewer' });
 *   if (!auth.ok) return toResponse(auth);
 *   return Response.json({ caller: auth.apiKey.name, role: auth.apiKey.role });
 * }
 *
 * // Clients that send X-API-Key: <key> (Authorization still works):
 * export async function POST(request: Request): Promise<Response> {
 *   const auth = await authenticateRequest(keymint, request, {
 *     headers: ['authorization', 'x-api-key'],
 *   });
 *   return auth.ok ? Response.json({ caller: auth.apiKey.name }) : toResponse(auth);
 * }
 * ```
 */
export async function authenticateRequest(
  keymint: Pick<Keymint<never>, 'verifyKey'>,
  request: { readonly headers: Pick<Headers, 'get'> },
  options?: AuthenticateRequestOptions,
): Promise<AuthenticationResult> {
  let verifyOptions: unknown = options;
  let names: readonly string[] = checkKeyHeaders(undefined);
  if (typeof options === 'object' && options !== null && 'headers' in options) {
    const { headers, ...rest } = options;
    names = checkKeyHeaders(headers);
    verifyOptions = rest;
  }
  return verifyFrom(keymint, webHeaderValues(request.headers), names, verifyOptions);
}

/**
 * The key in the `names` headers of `values`, verified: the core of every key check. A plain
 * function rather than an `async` one: a request with a key costs one `then` on `verifyKey`'s
 * promise, not an async frame of its own (the middlewares run it on every request). Whatever
 * goes wrong, synchronously or not, is a rejected promise, as from an `async` function.
 */
export function verifyFrom(
  keymint: Pick<Keymint<never>, 'verifyKey'>,
  values: HeaderValues,
  names: readonly string[],
  options: unknown,
): Promise<AuthenticationResult> {
  try {
    const found = findKey(names, values, readApiKey);
    if (found.kind !== 'key') return refuseUnread(keymint, options);
    let verified: Promise<VerifyResult>;
    try {
      verified = Promise.resolve(
        keymint.verifyKey(found.key, options as VerifyOptions | undefined),
      );
    } catch (error) {
      verified = Promise.reject(error as Error);
    }
    return verified.then(fromVerifyResult, fromVerifyError);
  } catch (error) {
    return Promise.reject(error as Error);
  }
}

/** No key in the request: `401`, after checking the options, so that a bad role fails loudly. */
async function refuseUnread(
  keymint: Pick<Keymint<never>, 'verifyKey'>,
  options: unknown,
): Promise<AuthenticationResult> {
  if (options !== undefined) await keymint.verifyKey('', options as VerifyOptions);
  return failure('malformed');
}

/** A store or hasher failure of `verifyKey` is an answer (`503`, `500`); anything else is thrown on. */
function fromVerifyError(error: unknown): AuthenticationResult {
  if (isKeymintError(error, 'STORE_FAILURE')) {
    return {
      ok: false,
      status: 503,
      message: 'The key store is unavailable; try again later',
      headers: { 'retry-after': '5' },
      cause: error,
    };
  }
  if (isKeymintError(error, 'HASHER_FAILURE')) {
    return { ok: false, status: 500, message: 'Internal server error', cause: error };
  }
  throw error;
}

/** `verifyKey`'s verdict as an answer. */
function fromVerifyResult(result: VerifyResult): AuthenticationResult {
  if (result.valid) {
    // A key without a rate limit (the common case) allocates no header object.
    if (!result.limits?.rateLimit) return { ok: true, apiKey: result.apiKey };
    return { ok: true, apiKey: result.apiKey, headers: rateLimitHeaders(result.limits) };
  }
  const refused = failure(result.reason);
  if (result.reason === 'busy' || result.reason === 'rate_limited') {
    refused.headers!['retry-after'] = retryAfterSeconds(result.retryAfterMs);
    if (result.limits?.rateLimit) {
      refused.message = 'API key rate limit exceeded';
      Object.assign(refused.headers!, rateLimitHeaders(result.limits));
    }
  }
  return refused;
}

/**
 * A JSON `Response` for a failure of {@link authenticateRequest}: its status, its headers
 * (`WWW-Authenticate`, `Retry-After`) and the body `{ message }`. Never the `cause`.
 *
 * @example
 * ```ts
 * const auth = await authenticateRequest(keymint, request);
 * if (!auth.ok) return toResponse(auth); // 401 { "message": "Invalid API key" }
 * ```
 */
export function toResponse(failure: AuthenticationFailure): Response {
  return json(failure.status, { message: failure.message }, failure.headers);
}
