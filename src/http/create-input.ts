import type { TtlInput } from '../core/ttl.js';
import { MESSAGES } from './responses.js';

/**
 * The JSON body of `POST /api/auth/keys`: Grafana's `{ name, role, secondsToLive }`, or `ttl` as
 * keymint writes it (`'12h'`). Fields other than these are ignored, as Grafana ignores them.
 *
 * @example
 * ```ts
 * const body: CreateApiKeyBody = { name: 'ci', role: 'Editor', secondsToLive: 43200 };
 * const same: CreateApiKeyBody = { name: 'ci', role: 'Editor', ttl: '12h' };
 * ```
 */
export interface CreateApiKeyBody {
  name: string;
  role: string;
  /** Seconds; `0` or absent means no expiry, which keymint accepts only with `allowNonExpiring`. */
  secondsToLive?: number;
  /** A time to live such as `'12h'` or `'1M'`, instead of `secondsToLive`. */
  ttl?: TtlInput;
  /** Narrows the key to these permissions of its role (docs/permissions.md); default all of them. */
  permissions?: string[] | null;
}

export type ParsedCreateBody =
  | { ok: true; name: string; role: string; ttl: TtlInput | null; permissions?: string[] }
  | { ok: false; message: string };

/** The shape of a `permissions` field; keymint checks the strings against its map. */
export function isPermissionList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((entry) => typeof entry === 'string');
}

export const PERMISSIONS_TYPE =
  'permissions must be an array of permission strings, for example ["dashboards:read"]';

const isSet = (value: unknown) => value !== undefined && value !== null;

/** Checks the shape of a create body; keymint checks the values (name rules, TTL, maximum). */
export function parseCreateBody(body: unknown, roles: readonly string[]): ParsedCreateBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return {
      ok: false,
      message: 'The request body must be a JSON object: { "name", "role", "secondsToLive" }',
    };
  }
  const { name, role, secondsToLive, ttl, permissions } = body as Record<string, unknown>;
  if (typeof name !== 'string') {
    return { ok: false, message: 'name is required and must be a string' };
  }
  const wanted = typeof role === 'string' ? role.trim().toLowerCase() : undefined;
  if (wanted === undefined || !roles.some((known) => known.toLowerCase() === wanted)) {
    return { ok: false, message: MESSAGES.invalidRole };
  }
  if (isSet(secondsToLive) && typeof secondsToLive !== 'number') {
    return {
      ok: false,
      message: 'secondsToLive must be a whole number of seconds (0 or absent for no expiry)',
    };
  }
  if (isSet(ttl) && typeof ttl !== 'string' && typeof ttl !== 'number') {
    return { ok: false, message: 'ttl must be a string such as "12h" or a number of seconds' };
  }
  // Grafana's zero value: 0 means "not set", so it never conflicts with ttl.
  const seconds = secondsToLive === 0 ? undefined : (secondsToLive as number | null | undefined);
  if (isSet(seconds) && isSet(ttl)) {
    return { ok: false, message: 'Give either secondsToLive or ttl, not both' };
  }
  if (isSet(permissions) && !isPermissionList(permissions)) {
    return { ok: false, message: PERMISSIONS_TYPE };
  }
  const chosen = isSet(seconds) ? seconds : ttl;
  return {
    ok: true,
    name,
    role: role as string,
    ttl: isSet(chosen) ? (chosen as TtlInput) : null,
    ...(isSet(permissions) && { permissions: permissions as string[] }),
  };
}
