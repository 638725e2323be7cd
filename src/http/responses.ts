import { redactKeys } from '../core/redact.js';
import { isKeymintError } from '../errors.js';
import { errorToHttp, INTERNAL_MESSAGE, UNAVAILABLE_MESSAGE } from './error-to-http.js';

export { retryAfterSeconds } from './error-to-http.js';

/**
 * The body of every error response of `keymint/http`: one human-readable message, as Grafana's
 * HTTP API answers. Never a stack trace, an error code of a driver, or a key.
 *
 * @example
 * ```ts
 * const response = await routes(request);
 * if (!response.ok) console.error(((await response.json()) as ErrorBody).message);
 * ```
 */
export interface ErrorBody {
  message: string;
}

/** Replaces anything that looks like a key or a secret: the same rule as `KeymintError`'s. */
export const redact = redactKeys;

/** A JSON response that no cache and no browser sniffing keeps: bodies may carry a new key. */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...headers,
    },
  });
}

/** `{ message }` with the given status; the message is redacted. */
export function errorResponse(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const body: ErrorBody = { message: redact(message) };
  return json(status, body, headers);
}

export const MESSAGES = {
  notFound: 'Not found',
  methodNotAllowed: 'Method not allowed',
  unauthorized: 'Unauthorized',
  keyNotFound: 'API key not found',
  invalidRole: 'Invalid role specified',
  unavailable: UNAVAILABLE_MESSAGE,
  internal: INTERNAL_MESSAGE,
} as const;

/**
 * What a thrown error becomes in the routes, and whether the host should hear about it: the
 * status and headers of {@link errorToHttp}, with Grafana's `{ message }` body (no code) and its
 * wording for an unknown role or key.
 */
export function fromError(error: unknown): { response: Response; serverFault: boolean } {
  const { status, headers, body, serverFault } = errorToHttp(error);
  let message = body.message;
  if (isKeymintError(error, 'INVALID_ROLE')) message = MESSAGES.invalidRole;
  else if (isKeymintError(error, 'NOT_FOUND')) message = MESSAGES.keyNotFound;
  return { response: errorResponse(status, message, headers), serverFault };
}
