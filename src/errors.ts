/**
 * Errors thrown by keymint. Every failure a caller can act on is a {@link KeymintError} with a
 * stable {@link KeymintErrorCode}; `switch` on `error.code`, never on the message.
 *
 * ```sh
 * npm install keymint
 * ```
 *
 * @example
 * ```ts
 * import { isKeymintError } from 'keymint/errors';
 *
 * try {
 *   await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
 * } catch (error) {
 *   if (isKeymintError(error, 'NAME_TAKEN')) console.error(error.message);
 *   else throw error;
 * }
 * ```
 *
 * @module
 */

import { redactKeys } from './core/redact.js';

/**
 * Every code a {@link KeymintError} can carry. The list only grows; a code never changes meaning.
 *
 * | code | when |
 * | --- | --- |
 * | `CONFIG` | `createKeymint()` was given bad options |
 * | `INVALID_TTL` | a time to live is not a whole number followed by s, m, h, d, w or M |
 * | `TTL_TOO_LONG` | a time to live is over the maximum (30 days unless configured) |
 * | `INVALID_ROLE` | a role is not one of the configured roles |
 * | `INVALID_INPUT` | any other bad argument to a public method (`cause` holds the details) |
 * | `NAME_TAKEN` | another key in the same scope already has this name |
 * | `NOT_FOUND` | no key has this id |
 * | `FORBIDDEN` | the host's `authorize` hook refused, or the role is above the actor's own |
 * | `STORE_FAILURE` | the adapter (database) failed; `cause` holds the driver's error |
 * | `HASHER_FAILURE` | the hasher failed (for example a stored hash it cannot read) |
 * | `BUSY` | `createApiKey()` would wait too long for its hash (see the `hashing` option); retry after `retryAfterMs` |
 * | `REVOKED` | `updateApiKey()` or `rotateApiKey()` of a revoked key: a revoked key never changes |
 * | `EXPIRED` | `updateApiKey()` or `rotateApiKey()` of an expired key: create a new one |
 * | `CONFLICT` | `rotateApiKey()` lost a race with another rotation of the same key |
 *
 * @example
 * ```ts
 * import type { KeymintErrorCode } from 'keymint/errors';
 *
 * function status(code: KeymintErrorCode): number {
 *   switch (code) {
 *     case 'NAME_TAKEN': case 'REVOKED': case 'EXPIRED': case 'CONFLICT': return 409;
 *     case 'NOT_FOUND': return 404;
 *     case 'FORBIDDEN': return 403;
 *     case 'BUSY': return 503;
 *     case 'STORE_FAILURE': case 'HASHER_FAILURE': case 'CONFIG': return 500;
 *     default: return 400;
 *   }
 * }
 * ```
 */
export type KeymintErrorCode =
  | 'CONFIG'
  | 'INVALID_TTL'
  | 'TTL_TOO_LONG'
  | 'INVALID_ROLE'
  | 'INVALID_INPUT'
  | 'NAME_TAKEN'
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'STORE_FAILURE'
  | 'HASHER_FAILURE'
  | 'BUSY'
  | 'REVOKED'
  | 'EXPIRED'
  | 'CONFLICT';

/**
 * All error codes, for iteration (for example to map each to an HTTP status).
 *
 * @example
 * ```ts
 * import { KEYMINT_ERROR_CODES } from 'keymint/errors';
 * console.log(KEYMINT_ERROR_CODES.includes('NAME_TAKEN')); // true
 * ```
 */
export const KEYMINT_ERROR_CODES: readonly KeymintErrorCode[] = Object.freeze([
  'CONFIG',
  'INVALID_TTL',
  'TTL_TOO_LONG',
  'INVALID_ROLE',
  'INVALID_INPUT',
  'NAME_TAKEN',
  'NOT_FOUND',
  'FORBIDDEN',
  'STORE_FAILURE',
  'HASHER_FAILURE',
  'BUSY',
  'REVOKED',
  'EXPIRED',
  'CONFLICT',
]);

const BRAND = Symbol.for('keymint.error');

/**
 * The one error class keymint throws. `code` is stable; `message` is for people; `cause` (when
 * present) is the underlying error: a `ZodError` for `INVALID_INPUT` / `CONFIG`, the driver's
 * error for `STORE_FAILURE`. Messages and causes never contain a plaintext key.
 *
 * @example
 * ```ts
 * import { KeymintError } from 'keymint/errors';
 *
 * try {
 *   parseTtl('1.5h');
 * } catch (error) {
 *   if (error instanceof KeymintError && error.code === 'INVALID_TTL') {
 *     console.error(error.message);
 *   }
 * }
 * ```
 */
export class KeymintError extends Error {
  /** The stable, machine-readable failure code. */
  readonly code: KeymintErrorCode;
  /** For `BUSY`: the estimated wait for a hash in ms, when a retry may get through. */
  readonly retryAfterMs?: number;

  constructor(
    code: KeymintErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    // A safety net: keymint's messages never quote a key, but they quote names and scopes, and a
    // caller may pass a key there. Redacted before super(), so the stack never holds it either.
    super(redactKeys(message), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeymintError';
    this.code = code;
    if (options?.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** A JSON form without the stack or the cause: safe to send to a client. */
  toJSON(): { name: 'KeymintError'; code: KeymintErrorCode; message: string } {
    return { name: 'KeymintError', code: this.code, message: this.message };
  }
}

/**
 * True when `error` is a {@link KeymintError} (optionally with the given code). Unlike
 * `instanceof`, it also recognises errors from another copy of keymint loaded in the same
 * process (ESM and CJS builds side by side).
 *
 * @example
 * ```ts
 * import { isKeymintError } from 'keymint/errors';
 *
 * if (isKeymintError(error, 'TTL_TOO_LONG')) reply.status(400).send({ message: error.message });
 * ```
 */
export function isKeymintError(error: unknown, code?: KeymintErrorCode): error is KeymintError {
  if (typeof error !== 'object' || error === null) return false;
  if (!(error instanceof KeymintError) && (error as Record<symbol, unknown>)[BRAND] !== true) {
    return false;
  }
  return code === undefined || (error as KeymintError).code === code;
}
