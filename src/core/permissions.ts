import { KeymintError } from '../errors.js';
import { echo } from '../internal/echo.js';
import type { RoleSet } from './roles.js';

/**
 * A permission as Grafana writes its RBAC actions: lower-case `resource:action` segments
 * (letters, digits, `.`, `_`, `-`), such as `dashboards:read` or `alert.rules:write`. A last
 * segment `*` is a wildcard (`dashboards:*`: every action on dashboards), and `*` alone grants
 * everything.
 */
const SEGMENT = '[a-z0-9][a-z0-9._-]*';
export const PERMISSION_PATTERN = new RegExp(
  `^(?:\\*|${SEGMENT}(?::${SEGMENT})*:(?:${SEGMENT}|\\*))$`,
);
export const MAX_PERMISSION_LENGTH = 128;
/** The most permissions one role may grant, one key may hold or one check may ask for. */
export const MAX_PERMISSIONS = 256;

const FORM =
  'a permission is lower-case `resource:action` (letters, digits, ".", "_", "-"), for example "dashboards:read"; `resource:*` and `*` are wildcards';

/** Whether `grant` gives `wanted`: the same string, `*`, or a `prefix:*` wildcard over it. */
export function covers(grant: string, wanted: string): boolean {
  if (grant === wanted || grant === '*') return true;
  return grant.endsWith(':*') && wanted.startsWith(grant.slice(0, -1));
}

/**
 * The canonical form of a list: no repeats, nothing another entry covers (`dashboards:read`
 * goes when `dashboards:*` is there), sorted by code point. Two lists that grant the same are
 * stored alike.
 */
export function canonicalPermissions(list: Iterable<string>): string[] {
  const unique = [...new Set(list)];
  return unique
    .filter((p) => !unique.some((other) => other !== p && covers(other, p)))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** What both lists grant: each entry of one that an entry of the other covers. */
export function intersectPermissions(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  for (const x of a) {
    for (const y of b) {
      if (covers(y, x)) out.push(x);
      else if (covers(x, y)) out.push(y);
    }
  }
  return canonicalPermissions(out);
}

/** The entries of `wanted` that nothing in `grants` covers. */
export function uncoveredPermissions(
  wanted: readonly string[],
  grants: readonly string[],
): string[] {
  return wanted.filter((w) => !grants.some((g) => covers(g, w)));
}

/**
 * A key's effective permissions, prepared so that a check is a `Set` lookup and a few prefix
 * comparisons (it sits on the verify cache's hit path).
 */
export interface PermissionGrants {
  readonly list: readonly string[];
  readonly all: boolean;
  readonly exact: ReadonlySet<string>;
  /** `dashboards:` for `dashboards:*`. */
  readonly prefixes: readonly string[];
}

export function grantsOf(list: readonly string[]): PermissionGrants {
  return {
    list,
    all: list.includes('*'),
    exact: new Set(list),
    prefixes: list.filter((p) => p.endsWith(':*')).map((p) => p.slice(0, -1)),
  };
}

/** Whether the grants hold every one of `wanted`. */
export function holdsAll(grants: PermissionGrants, wanted: readonly string[]): boolean {
  if (grants.all) return true;
  const { exact, prefixes } = grants;
  outer: for (let i = 0; i < wanted.length; i++) {
    const w = wanted[i]!;
    if (exact.has(w)) continue;
    for (let j = 0; j < prefixes.length; j++) if (w.startsWith(prefixes[j]!)) continue outer;
    return false;
  }
  return true;
}

/**
 * Whether `permission` is one the map names: granted as written, under a `resource:*` grant, or
 * a wildcard over a grant. `*` grants everything but names nothing, so that a misspelt
 * permission stays unknown when some role holds `*`.
 */
export function isKnownPermission(known: readonly string[], permission: string): boolean {
  return known.some(
    (g) => g === permission || (g !== '*' && (covers(g, permission) || covers(permission, g))),
  );
}

/**
 * Checks a list given to a call: an array of well-formed permissions that the map knows.
 * `INVALID_INPUT` names the first malformed entry, or every unknown one.
 */
export function checkPermissionList(
  known: readonly string[],
  value: unknown,
  what: string,
): string[] {
  if (!Array.isArray(value)) {
    throw new KeymintError(
      'INVALID_INPUT',
      `Invalid ${what}: permissions must be an array of strings, for example ["dashboards:read"].`,
    );
  }
  if (value.length > MAX_PERMISSIONS) {
    throw new KeymintError(
      'INVALID_INPUT',
      `Invalid ${what}: at most ${MAX_PERMISSIONS} permissions.`,
    );
  }
  const unknown: string[] = [];
  for (const entry of value) {
    if (!isWellFormed(entry)) {
      throw new KeymintError(
        'INVALID_INPUT',
        `Invalid ${what}: ${echo(entry)} is not a permission: ${FORM}.`,
      );
    }
    if (!isKnownPermission(known, entry)) unknown.push(entry);
  }
  if (unknown.length > 0) {
    throw new KeymintError(
      'INVALID_INPUT',
      `Invalid ${what}: unknown permission${unknown.length > 1 ? 's' : ''} ${list(unknown)}: no role grants ${unknown.length > 1 ? 'them' : 'it'} (see the permissions option of createKeymint()); check the spelling.`,
    );
  }
  return value as string[];
}

const isWellFormed = (value: unknown): value is string =>
  typeof value === 'string' &&
  value.length <= MAX_PERMISSION_LENGTH &&
  PERMISSION_PATTERN.test(value);

const list = (entries: readonly string[]) => entries.map((e) => JSON.stringify(e)).join(', ');

/**
 * What {@link Keymint.permissions} shows of the `permissions` option.
 *
 * @example
 * ```ts
 * const info: PermissionsInfo | null = keymint.permissions;
 * console.log(info?.grants.Editor); // ['dashboards:read', 'dashboards:write']
 * ```
 */
export interface PermissionsInfo {
  /** Each role's effective grants: its own and the lower roles', canonical order. */
  readonly grants: Readonly<Record<string, readonly string[]>>;
  /**
   * Every permission the option names, sorted: what a call may ask for, with wildcards over
   * them. `*` grants everything but names nothing.
   */
  readonly known: readonly string[];
}

/**
 * The instance's permissions map: each role's own grants from the `permissions` option, plus
 * everything the roles below it grant (Admin ⊇ Editor ⊇ Viewer, as Grafana's basic roles).
 */
export class PermissionMap {
  /** Each role's effective grants, canonical and frozen; a role the option leaves out inherits only. */
  readonly byRole: Readonly<Record<string, readonly string[]>>;
  /** Every permission the option names, sorted: what calls may ask for (and their wildcards). */
  readonly known: readonly string[];
  /** What `keymint.permissions` shows. */
  readonly info: PermissionsInfo;

  constructor(
    private readonly roles: RoleSet,
    option: Readonly<Record<string, unknown>>,
  ) {
    const own = new Map<string, string[]>();
    for (const [name, grants] of Object.entries(option)) {
      const role = roles.canonical(name);
      if (role === undefined) {
        throw config(
          `permissions names the role ${echo(name)}, which is not one of the roles (${roles.names.join(', ')})`,
        );
      }
      if (own.has(role))
        throw config(
          `permissions names the role ${role} twice (roles are matched case-insensitively)`,
        );
      if (!Array.isArray(grants)) {
        throw config(
          `permissions.${name} must be an array of permissions, for example ["dashboards:read"]`,
        );
      }
      if (grants.length > MAX_PERMISSIONS) {
        throw config(`permissions.${name} grants more than ${MAX_PERMISSIONS} permissions`);
      }
      grants.forEach((grant, i) => {
        if (!isWellFormed(grant)) {
          throw config(`permissions.${name}[${i}] ${echo(grant)} is not a permission: ${FORM}`);
        }
      });
      own.set(role, grants as string[]);
    }
    const byRole: Record<string, readonly string[]> = {};
    let inherited: string[] = [];
    for (const role of roles.names) {
      inherited = canonicalPermissions([...inherited, ...(own.get(role) ?? [])]);
      byRole[role] = Object.freeze([...inherited]);
    }
    this.byRole = Object.freeze(byRole);
    this.known = Object.freeze([...new Set([...own.values()].flat())].sort());
    this.info = Object.freeze({ grants: this.byRole, known: this.known });
  }

  /** The grants of a role (canonical spelling); none for a role the instance does not know. */
  grantsOf(role: string): readonly string[] {
    return this.byRole[this.roles.canonical(role) ?? ''] ?? [];
  }

  /**
   * A key's explicit list narrowed to what it may hold under `role`; `INVALID_INPUT` naming
   * every entry the role does not grant.
   */
  narrow(role: string, value: unknown, what: string): string[] {
    const wanted = checkPermissionList(this.known, value, what);
    const grants = this.grantsOf(role);
    const extra = uncoveredPermissions(wanted, grants);
    if (extra.length > 0) {
      throw new KeymintError(
        'INVALID_INPUT',
        `Invalid ${what}: the role ${role} does not grant ${list(extra)}; a key holds at most its role's permissions (${grants.length > 0 ? list(grants) : 'none'}).`,
      );
    }
    return canonicalPermissions(wanted);
  }

  /** What a key holds: its explicit list within its role's grants, or all of them (`null`). */
  effective(role: string, explicit: readonly string[] | null | undefined): readonly string[] {
    const grants = this.grantsOf(role);
    return explicit == null ? grants : Object.freeze(intersectPermissions(explicit, grants));
  }
}

const config = (message: string) =>
  new KeymintError('CONFIG', `Invalid createKeymint() options: ${message}.`);
