import { redactKeys } from '../core/redact.js';
import { isKeymintError, type KeymintErrorCode } from '../errors.js';

/**
 * What {@link errorToHttp} makes of an error: the status, the headers to set
 * (`Cache-Control: no-store`, and `Retry-After` for a `503`) and a JSON body.
 *
 * @example
 * ```ts
 * import { errorToHttp, type HttpError } from 'keymint/http';
 *
 * const answer: HttpError = errorToHttp(new Error('boom'));
 * console.log(answer.status, answer.body); // 500 { message: 'Internal server error' }
 * ```
 */
export interface HttpError {
  status: number;
  headers: Record<string, string>;
  /** `code` is the `KeymintError` code, absent for a server fault the client learns nothing of. */
  body: { message: string; code?: string };
  /**
   * `true` for a `5xx` a host should log (`STORE_FAILURE`, `HASHER_FAILURE`, `CONFIG`, any
   * error that is not a `KeymintError`): the client is told nothing of its cause.
   */
  serverFault: boolean;
}

/**
 * The HTTP status of each {@link KeymintErrorCode}, as {@link errorToHttp} answers it and the
 * README's table lists it. An error that is not a `KeymintError` is a `500`.
 *
 * @example
 * ```ts
 * import { KEYMINT_ERROR_STATUS } from 'keymint/http';
 * console.log(KEYMINT_ERROR_STATUS.NAME_TAKEN); // 409
 * ```
 */
export const KEYMINT_ERROR_STATUS: Readonly<Record<KeymintErrorCode, number>> = Object.freeze({
  CONFIG: 500,
  INVALID_TTL: 400,
  TTL_TOO_LONG: 400,
  INVALID_ROLE: 400,
  INVALID_INPUT: 400,
  NAME_TAKEN: 409,
  NOT_FOUND: 404,
  FORBIDDEN: 403,
  STORE_FAILURE: 503,
  HASHER_FAILURE: 500,
  BUSY: 503,
  KEYS_LIMIT: 409,
  REVOKED: 409,
  EXPIRED: 409,
  CONFLICT: 409,
});

/** A `Retry-After` value from an estimate in ms: whole seconds, rounded up, at least 1. */
export function retryAfterSeconds(ms: number | undefined): string {
  return String(Math.max(1, Math.ceil((ms ?? 1_000) / 1_000)));
}

export const INTERNAL_MESSAGE = 'Internal server error';
export const UNAVAILABLE_MESSAGE = 'The key store is unavailable; try again later';

/**
 * Maps an error thrown by a keymint method to an HTTP answer, for a host's own management
 * routes: `400` for bad input (`INVALID_TTL`, `TTL_TOO_LONG`, `INVALID_ROLE`,
 * `INVALID_INPUT`), `403` `FORBIDDEN`, `404` `NOT_FOUND`, `409` `NAME_TAKEN`, `503` with
 * `Retry-After` for `BUSY` (the error's `retryAfterMs` in whole seconds, at least 1) and
 * `STORE_FAILURE` (5 s), `500` for `HASHER_FAILURE` and
 * `CONFIG`. Client errors carry keymint's message (which never holds a key) and the `code`; a
 * server fault and any error that is not a `KeymintError` get a generic message and no code,
 * so neither a driver's error nor a stack reaches the client. It never throws.
 *
 * @example
 * ```ts
 * import { errorToHttp } from 'keymint/http';
 *
 * app.post('/admin/keys', async (req, res) => {
 *   try {
 *     res.json(await keymint.createApiKey(req.body));
 *   } catch (error) {
 *     const { status, headers, body, serverFault } = errorToHttp(error);
 *     if (serverFault) console.error(error);
 *     res.status(status).set(headers).json(body);
 *   }
 * });
 * ```
 */
export function errorToHttp(error: unknown): HttpError {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (!isKeymintError(error)) {
    return { status: 500, headers, body: { message: INTERNAL_MESSAGE }, serverFault: true };
  }
  const code = error.code;
  const status = KEYMINT_ERROR_STATUS[code] ?? 500;
  switch (code) {
    case 'STORE_FAILURE':
      headers['retry-after'] = '5';
      return { status, headers, body: { message: UNAVAILABLE_MESSAGE, code }, serverFault: true };
    case 'BUSY':
      headers['retry-after'] = retryAfterSeconds(error.retryAfterMs);
      break;
    case 'HASHER_FAILURE':
    case 'CONFIG':
      return { status, headers, body: { message: INTERNAL_MESSAGE }, serverFault: true };
    default:
      if (status >= 500) {
        // A code added later that this table does not know yet: a fault, told nothing.
        return { status, headers, body: { message: INTERNAL_MESSAGE }, serverFault: true };
      }
  }
  let message: string;
  try {
    message = redactKeys(String(error.message));
  } catch {
    message = INTERNAL_MESSAGE;
  }
  return { status, headers, body: { message, code }, serverFault: false };
}
