import { KeymintError } from '../errors.js';
import { scopeSchema } from '../schemas.js';
import { safeCause } from './redact.js';
import { checkPermissionList, type PermissionMap } from './permissions.js';
import type { RoleSet } from './roles.js';

/** verifyKey()'s options, checked: what a verdict compares. */
export interface ParsedOptions {
  minRank: number;
  scope: string | undefined;
  /** Checked against the permissions map; undefined when not asked. */
  permissions?: readonly string[];
}

const NO_OPTIONS: ParsedOptions = { minRank: -1, scope: undefined };

/**
 * verifyKey()'s options parser: bad options are `INVALID_INPUT`. Memoized by role spelling, then
 * scope, and by permission strings already checked: hosts pass the same few on every request.
 */
export function optionsParser(
  roles: RoleSet,
  permissionMap: PermissionMap | null,
): (options: unknown) => ParsedOptions {
  const parsedMemo = new Map<unknown, Map<unknown, ParsedOptions>>();
  let parsedCount = 0;
  /** Permission strings already checked against the map. */
  const knownWanted = new Set<string>();

  function readOptions(options: unknown): ParsedOptions {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new KeymintError(
        'INVALID_INPUT',
        'Invalid verifyKey() options: verifyKey() options must be an object: { role?, scope?, cost? }.',
      );
    }
    for (const name in options) {
      if (name !== 'role' && name !== 'scope' && name !== 'permissions' && name !== 'cost') {
        throw new KeymintError(
          'INVALID_INPUT',
          `Invalid verifyKey() options: unknown option ${JSON.stringify(name)}; the options are role, scope, permissions and cost.`,
        );
      }
    }
    const { role, scope, permissions } = options as {
      role?: unknown;
      scope?: unknown;
      permissions?: unknown;
    };
    const base = parseRoleAndScope(role, scope);
    if (permissions === undefined) return base;
    return { minRank: base.minRank, scope: base.scope, permissions: checkWanted(permissions) };
  }

  /** Whether every entry is a permission already checked (the usual case: a route's list). */
  function allKnown(value: unknown): value is readonly string[] {
    if (!Array.isArray(value)) return false;
    for (let i = 0; i < value.length; i++) if (!knownWanted.has(value[i])) return false;
    return true;
  }

  function checkWanted(value: unknown): readonly string[] {
    if (!permissionMap) {
      throw new KeymintError(
        'INVALID_INPUT',
        'Invalid verifyKey() options: permissions need the permissions option of createKeymint() (this instance has none).',
      );
    }
    if (allKnown(value)) return value;
    const checked = checkPermissionList(permissionMap.known, value, 'verifyKey() options');
    if (knownWanted.size > 1_000) knownWanted.clear();
    for (const p of checked) knownWanted.add(p);
    return checked;
  }

  function parseRoleAndScope(role: unknown, scope: unknown): ParsedOptions {
    const known = parsedMemo.get(role)?.get(scope);
    if (known) return known;
    if (role !== undefined && typeof role !== 'string') {
      throw new KeymintError(
        'INVALID_INPUT',
        'Invalid verifyKey() options: role must be a string.',
      );
    }
    const parsed: ParsedOptions = {
      minRank: role === undefined ? -1 : roles.rankOf(roles.require(role, 'minimum role')),
      scope: scope === undefined ? undefined : checkScope(scope),
    };
    if (++parsedCount > 1_000) {
      parsedMemo.clear();
      parsedCount = 1;
    }
    let byScope = parsedMemo.get(role);
    if (!byScope) parsedMemo.set(role, (byScope = new Map()));
    byScope.set(scope, parsed);
    return parsed;
  }

  return function parseOptions(options: unknown): ParsedOptions {
    if (options === undefined) return NO_OPTIONS;
    try {
      return readOptions(options);
    } catch (error) {
      if (error instanceof KeymintError) throw error;
      // A throwing getter or Proxy trap: still bad options, not a reason to throw something else.
      throw new KeymintError(
        'INVALID_INPUT',
        'Invalid verifyKey() options: they cannot be read as plain data.',
        { cause: safeCause(error) },
      );
    }
  };
}

function checkScope(value: unknown): string {
  const parsed = scopeSchema.safeParse(value);
  if (!parsed.success) {
    throw new KeymintError(
      'INVALID_INPUT',
      `Invalid verifyKey() options: scope: ${parsed.error.issues[0]?.message ?? 'invalid'}.`,
      { cause: parsed.error },
    );
  }
  return parsed.data;
}
