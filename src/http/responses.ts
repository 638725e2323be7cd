import { redactKeys } from '../core/redact.js';
import { isKeymintError } from '../errors.js';

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
  unavailable: 'The key store is unavailable; try again later',
  internal: 'Internal server error',
} as const;

/** A `Retry-After` value from an estimate in ms: whole seconds, rounded up, at least 1. */
export function retryAfterSeconds(ms: number | undefined): string {
  return String(Math.max(1, Math.ceil((ms ?? 1_000) / 1_000)));
}

/** What a thrown error becomes, and whether the host should hear about it (server faults). */
export function fromError(error: unknown): { response: Response; serverFault: boolean } {
  if (!isKeymintError(error)) {
    return { response: errorResponse(500, MESSAGES.internal), serverFault: true };
  }
  switch (error.code) {
    case 'INVALID_TTL':
    case 'TTL_TOO_LONG':
    case 'INVALID_INPUT':
      return { response: errorResponse(400, error.message), serverFault: false };
    case 'INVALID_ROLE':
      return { response: errorResponse(400, MESSAGES.invalidRole), serverFault: false };
    case 'NAME_TAKEN':
    case 'REVOKED':
    case 'EXPIRED':
    case 'CONFLICT':
      return { response: errorResponse(409, error.message), serverFault: false };
    case 'NOT_FOUND':
      return { response: errorResponse(404, MESSAGES.keyNotFound), serverFault: false };
    case 'FORBIDDEN':
      return { response: errorResponse(403, error.message), serverFault: false };
    case 'BUSY':
      return {
        response: errorResponse(503, error.message, {
          'retry-after': retryAfterSeconds(error.retryAfterMs),
        }),
        serverFault: false,
      };
    case 'STORE_FAILURE':
      return {
        response: errorResponse(503, MESSAGES.unavailable, { 'retry-after': '5' }),
        serverFault: true,
      };
    default:
      // HASHER_FAILURE, CONFIG: the cause stays on the server.
      return { response: errorResponse(500, MESSAGES.internal), serverFault: true };
  }
}
