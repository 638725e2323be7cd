/**
 * `parseTtl` on its own, for the browser: the same rules and the same messages as keymint's
 * server side, with no dependency and nothing from Node.js, so a form can check a time to live as
 * the user types it. The server still checks it again: this is a convenience, not a defence.
 *
 * ```sh
 * npm install keymint
 * ```
 *
 * @example
 * ```ts
 * import { parseTtl, isKeymintError } from 'keymint/ttl';
 *
 * input.addEventListener('input', () => {
 *   try {
 *     parseTtl(input.value);
 *     input.setCustomValidity('');
 *   } catch (error) {
 *     input.setCustomValidity(isKeymintError(error) ? error.message : 'Invalid time to live');
 *   }
 * });
 * ```
 *
 * @module
 */
export { parseTtl, DEFAULT_MAX_TTL_SECONDS } from './core/ttl.js';
export type { ParseTtlOptions, TtlInput, TtlUnit } from './core/ttl.js';
export { KeymintError, isKeymintError } from './errors.js';
export type { KeymintErrorCode } from './errors.js';
