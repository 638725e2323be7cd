import { KeymintError } from '../errors.js';
import { echo } from '../internal/echo.js';

/**
 * One of the unit letters a time to live accepts: `s` seconds, `m` minutes, `h` hours, `d` days,
 * `w` weeks, `M` months of 30 days.
 *
 * @example
 * ```ts
 * import type { TtlUnit } from 'keymint';
 * const unit: TtlUnit = 'M';
 * ```
 */
export type TtlUnit = 's' | 'm' | 'h' | 'd' | 'w' | 'M';

/** Seconds in each unit letter, as Grafana reads them (`M` is a month of 30 days). */
const UNIT_SECONDS: Readonly<Record<TtlUnit, number>> = Object.freeze({
  s: 1,
  m: 60,
  h: 3_600,
  d: 86_400,
  w: 604_800,
  M: 2_592_000,
});

/**
 * A time to live: a string such as `'12h'` or `'1M'`, or a number of seconds.
 *
 * @example
 * ```ts
 * import type { TtlInput } from 'keymint';
 * const ttl: TtlInput = '12h';
 * ```
 */
export type TtlInput = string | number;

/**
 * Options of {@link parseTtl}.
 *
 * @example
 * ```ts
 * parseTtl('90d', { max: '365d' }); // 7776000
 * ```
 */
export interface ParseTtlOptions {
  /** The longest accepted time to live, in the same forms as the input. Default `'30d'`. */
  max?: TtlInput;
}

/**
 * 30 days in seconds (2,592,000), the default maximum time to live (Grafana's limit for API keys).
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_TTL_SECONDS, parseTtl } from 'keymint';
 * parseTtl('1M') === DEFAULT_MAX_TTL_SECONDS; // true
 * ```
 */
export const DEFAULT_MAX_TTL_SECONDS = 2_592_000;

/** No maximum may exceed 100 years: keeps every expiry a valid `Date` and a sane value. */
const MAX_OF_MAX_SECONDS = 100 * 365 * 86_400;

const TTL_PATTERN = /^(\d+)([smhdwM])$/;

/** How to write a time to live, for messages. */
export const HOW_TO = 'enter a whole number followed by s, m, h, d, w or M, for example 12h or 1M';

/** Describes a duration in seconds in the largest unit that divides it, for messages. */
export function describeSeconds(seconds: number): string {
  for (const [unit, word] of [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ] as const) {
    if (seconds % unit === 0) {
      const n = seconds / unit;
      return `${n} ${word}${n === 1 ? '' : 's'}`;
    }
  }
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}

/** Parses without a maximum; throws INVALID_TTL. */
function toSeconds(input: unknown, maxText: string): number {
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input > 0) return input;
    throw new KeymintError(
      'INVALID_TTL',
      `Invalid time to live ${String(input)}: a number is a count of seconds and must be a positive whole number; or ${HOW_TO}; the maximum is ${maxText}.`,
    );
  }
  if (typeof input !== 'string') {
    throw new KeymintError(
      'INVALID_TTL',
      `Invalid time to live (got ${input === null ? 'null' : typeof input}): ${HOW_TO}; the maximum is ${maxText}.`,
    );
  }
  const match = TTL_PATTERN.exec(input.trim());
  if (!match) {
    throw new KeymintError(
      'INVALID_TTL',
      `Invalid time to live ${echo(input)}: ${HOW_TO}; the maximum is ${maxText}.`,
    );
  }
  const count = Number(match[1]);
  if (count === 0) {
    throw new KeymintError(
      'INVALID_TTL',
      `Invalid time to live ${echo(input)}: it must be longer than zero; ${HOW_TO}; the maximum is ${maxText}.`,
    );
  }
  return count * UNIT_SECONDS[match[2] as TtlUnit];
}

/** Resolves `options.max` to seconds; a bad maximum is the host's configuration error. */
export function resolveMaxTtl(max: TtlInput | undefined): number {
  if (max === undefined) return DEFAULT_MAX_TTL_SECONDS;
  let seconds: number;
  try {
    seconds = toSeconds(max, 'not set');
  } catch (error) {
    throw new KeymintError('CONFIG', `Invalid maximum time to live ${echo(max)}: ${HOW_TO}.`, {
      cause: error,
    });
  }
  if (seconds > MAX_OF_MAX_SECONDS) {
    throw new KeymintError(
      'CONFIG',
      `The maximum time to live may not exceed 100 years (${MAX_OF_MAX_SECONDS} seconds).`,
    );
  }
  return seconds;
}

/**
 * Parses a time to live the way Grafana's "Time to live" field does, strictly, and returns it in
 * whole seconds.
 *
 * A string is one whole number and one unit letter: `s` seconds, `m` minutes, `h` hours, `d`
 * days, `w` weeks, `M` months of 30 days. Letters are case-sensitive (`m` is a minute, `M` a
 * month); surrounding whitespace is ignored. A number is a count of seconds and must be a
 * positive integer. The maximum is 30 days inclusive unless `options.max` says otherwise.
 *
 * Grafana reads `1.5h` and `1h30m` as one hour without a word; keymint refuses both. Wherever
 * keymint accepts an input, the result equals Grafana's.
 *
 * @throws {@link KeymintError} `INVALID_TTL` for anything else, `TTL_TOO_LONG` over the maximum,
 * `CONFIG` when `options.max` itself is invalid.
 *
 * @example
 * ```ts
 * import { parseTtl } from 'keymint';
 *
 * parseTtl('12h'); // 43200
 * parseTtl('1M'); // 2592000 (30 days, the default maximum)
 * parseTtl(' 15m '); // 900
 * parseTtl(3600); // 3600
 * parseTtl('90d', { max: '365d' }); // 7776000
 * parseTtl('1h30m'); // throws KeymintError { code: 'INVALID_TTL' }
 * parseTtl('31d'); // throws KeymintError { code: 'TTL_TOO_LONG' }
 * ```
 */
export function parseTtl(input: TtlInput, options?: ParseTtlOptions): number {
  const max = resolveMaxTtl(options?.max);
  return parseTtlWithMax(input, max);
}

/** {@link parseTtl} with the maximum already resolved to seconds (the hot path of create). */
export function parseTtlWithMax(input: unknown, maxSeconds: number): number {
  const maxText = describeSeconds(maxSeconds);
  const seconds = toSeconds(input, maxText);
  if (seconds > maxSeconds) {
    throw new KeymintError(
      'TTL_TOO_LONG',
      `Time to live ${echo(input)} is too long: the maximum is ${maxText} (${maxSeconds} seconds); ${HOW_TO}.`,
    );
  }
  return seconds;
}
