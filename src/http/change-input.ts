import type { RotateApiKeyOptions, UpdateApiKeyInput } from '../core/types.js';
import type { TtlInput } from '../core/ttl.js';
import { isPermissionList, PERMISSIONS_TYPE } from './create-input.js';
import { MESSAGES } from './responses.js';

/**
 * The JSON body of `PATCH /api/auth/keys/:id`: at least one field. A field that is absent or
 * `null` stays as it is; `secondsToLive: 0` alone means "never expires" (as on create: only with
 * `allowNonExpiring`). Other fields are ignored.
 *
 * @example
 * ```ts
 * const body: UpdateApiKeyBody = { name: 'ci (read-only)', role: 'Viewer' };
 * const renew: UpdateApiKeyBody = { ttl: '30d' };
 * ```
 */
export interface UpdateApiKeyBody {
  name?: string | null;
  role?: string | null;
  /** Seconds from now; `0` alone means no expiry. */
  secondsToLive?: number | null;
  /** A time to live from now such as `'12h'`, instead of `secondsToLive`. */
  ttl?: TtlInput | null;
  /**
   * A new explicit list within the (new) role; unlike the other fields, `null` is a change: the
   * key then holds everything its role grants. Absent: kept (narrowed on a role change).
   */
  permissions?: string[] | null;
}

/**
 * The JSON body of `POST /api/auth/keys/:id/rotate`; it may be empty or `{}` (the defaults of
 * `rotateApiKey()`: no grace period, the key's own time to live). Other fields are ignored.
 *
 * @example
 * ```ts
 * const body: RotateApiKeyBody = { gracePeriod: '1h' };
 * ```
 */
export interface RotateApiKeyBody {
  /** How long the old key keeps verifying: `'1h'`, seconds, or `0`. At most 7 days. */
  gracePeriod?: TtlInput | null;
  /** The new time to live from now; default the key's own. */
  ttl?: TtlInput | null;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const isSet = (value: unknown): boolean => value !== undefined && value !== null;
const isTtl = (value: unknown): value is TtlInput =>
  typeof value === 'string' || typeof value === 'number';
const TTL_TYPE = 'must be a string such as "12h" or a number of seconds';

function asObject(body: unknown): Record<string, unknown> | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  return body as Record<string, unknown>;
}

/** Checks the shape of an update body; keymint checks the values (name rules, TTL, maximum). */
export function parseUpdateBody(
  body: unknown,
  roles: readonly string[],
): Parsed<UpdateApiKeyInput> {
  const fields = asObject(body);
  if (!fields) {
    return {
      ok: false,
      message: 'The request body must be a JSON object: { "name", "role", "secondsToLive" }',
    };
  }
  const { name, role, secondsToLive, ttl, permissions } = fields;
  const patch: UpdateApiKeyInput = {};
  if (isSet(name)) {
    if (typeof name !== 'string') return { ok: false, message: 'name must be a string' };
    patch.name = name;
  }
  if (isSet(role)) {
    const wanted = typeof role === 'string' ? role.trim().toLowerCase() : undefined;
    if (wanted === undefined || !roles.some((known) => known.toLowerCase() === wanted)) {
      return { ok: false, message: MESSAGES.invalidRole };
    }
    patch.role = role as string;
  }
  if (isSet(secondsToLive) && typeof secondsToLive !== 'number') {
    return {
      ok: false,
      message: 'secondsToLive must be a whole number of seconds (0 for no expiry)',
    };
  }
  if (isSet(ttl) && !isTtl(ttl)) return { ok: false, message: `ttl ${TTL_TYPE}` };
  if (isSet(ttl)) {
    // As on create, Grafana's zero value next to a ttl is "not set".
    if (isSet(secondsToLive) && secondsToLive !== 0) {
      return { ok: false, message: 'Give either secondsToLive or ttl, not both' };
    }
    patch.ttl = ttl as TtlInput;
  } else if (isSet(secondsToLive)) {
    patch.ttl = secondsToLive === 0 ? null : (secondsToLive as number);
  }
  if (permissions !== undefined) {
    if (permissions !== null && !isPermissionList(permissions)) {
      return { ok: false, message: PERMISSIONS_TYPE };
    }
    patch.permissions = permissions;
  }
  if (Object.keys(patch).length === 0) {
    return {
      ok: false,
      message:
        'Nothing to change: give at least one of name, role, ttl, secondsToLive or permissions',
    };
  }
  return { ok: true, value: patch };
}

/** Checks the shape of a rotate body (`undefined` for an empty body). */
export function parseRotateBody(body: unknown): Parsed<RotateApiKeyOptions> {
  if (body === undefined) return { ok: true, value: {} };
  const fields = asObject(body);
  if (!fields) {
    return {
      ok: false,
      message: 'The request body must be empty or a JSON object: { "gracePeriod", "ttl" }',
    };
  }
  const { gracePeriod, ttl } = fields;
  const options: RotateApiKeyOptions = {};
  if (isSet(gracePeriod)) {
    if (!isTtl(gracePeriod)) return { ok: false, message: `gracePeriod ${TTL_TYPE}` };
    options.gracePeriod = gracePeriod;
  }
  if (isSet(ttl)) {
    if (!isTtl(ttl)) return { ok: false, message: `ttl ${TTL_TYPE}` };
    options.ttl = ttl;
  }
  return { ok: true, value: options };
}
