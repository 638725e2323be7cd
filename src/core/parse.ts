import type { z } from 'zod';
import { isKeymintError, KeymintError } from '../errors.js';
import { describeIssues } from '../schemas.js';
import { echo } from '../internal/echo.js';
import { redactKeysDeep, safeCause } from './redact.js';
import { HOW_TO, parseTtlWithMax } from './ttl.js';

/** Parses a public input with zod; issues become a KeymintError with the ZodError as cause. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  value: unknown,
  code: 'INVALID_INPUT' | 'CONFIG',
  what: string,
): z.output<S> {
  let result: z.ZodSafeParseResult<z.output<S>>;
  try {
    result = schema.safeParse(value);
  } catch (error) {
    // Cyclic or absurdly deep values make JSON checks throw: still the caller's bad input.
    throw new KeymintError(code, `Invalid ${what}: it cannot be read as plain data.`, {
      cause: safeCause(error),
    });
  }
  if (result.success) return result.data;
  // Issue paths and unknown option names come from the caller's object: a key used as a property
  // name must not reach the cause (the message is redacted by KeymintError itself).
  redactKeysDeep(result.error.issues);
  throw new KeymintError(code, `Invalid ${what}: ${describeIssues(result.error)}.`, {
    cause: result.error,
  });
}

/** Zero in any spelling: 0, '0', '0s', ' 0d '. */
export const isZero = (value: unknown) =>
  value === 0 || (typeof value === 'string' && /^0+[smhdwM]?$/.test(value.trim()));

/**
 * Runs an adapter or hasher call; any throw becomes a typed, fail-closed KeymintError. The
 * message is written only for a failure (this runs on every store read of a verification).
 */
async function wrapped<T>(
  code: 'STORE_FAILURE' | 'HASHER_FAILURE',
  operation: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const message =
      code === 'STORE_FAILURE'
        ? `The key store failed during ${operation}`
        : `The hasher failed to ${operation}`;
    throw new KeymintError(code, `${message}; see the cause.`, { cause: error });
  }
}

export const fromStore = <T>(operation: string, run: () => Promise<T>) =>
  wrapped('STORE_FAILURE', operation, run);

export const fromHasher = <T>(operation: string, run: () => Promise<T>) =>
  wrapped('HASHER_FAILURE', operation, run);

export const notFound = (id: string) =>
  new KeymintError('NOT_FOUND', `No API key has the id ${JSON.stringify(id)}.`);

/** What a time to live resolves to: seconds, or null for a key that never expires. */
export interface TtlRules {
  maxTtlSeconds: number;
  allowNonExpiring: boolean;
}

/** A time to live given to create, update or rotate, in seconds (`null`: never expires, when allowed). */
export function resolveTtl(value: unknown, rules: TtlRules): number | null {
  if (value === null && rules.allowNonExpiring) return null;
  if (value === null || value === undefined) {
    const orNull = rules.allowNonExpiring ? ', or null for a key that never expires' : '';
    throw new KeymintError('INVALID_TTL', `A time to live is required: ${HOW_TO}${orNull}.`);
  }
  return parseTtlWithMax(value, rules.maxTtlSeconds);
}

/** `at + seconds` as a Date (null for null); CONFIG when the clock is so late it overflows. */
export function expiryFrom(at: Date, ttlSeconds: number | null): Date | null {
  if (ttlSeconds === null) return null;
  const expiresAt = new Date(at.getTime() + ttlSeconds * 1000);
  if (Number.isNaN(expiresAt.getTime())) {
    throw new KeymintError(
      'CONFIG',
      'now() is so late that the expiry is past the last valid Date.',
    );
  }
  return expiresAt;
}

/** A duration of the public API in seconds: 0 in any spelling, or a TTL up to `maxSeconds`. */
export function parseDuration(
  value: unknown,
  what: string,
  maxSeconds: number,
  maxWords: string,
): number {
  if (value === undefined || isZero(value)) return 0;
  try {
    return parseTtlWithMax(value, maxSeconds);
  } catch (error) {
    throw new KeymintError(
      isKeymintError(error, 'TTL_TOO_LONG') ? 'TTL_TOO_LONG' : 'INVALID_TTL',
      `Invalid ${what} ${echo(value)}: ${HOW_TO}, at most ${maxWords}, or 0.`,
      { cause: error },
    );
  }
}
