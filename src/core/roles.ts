import { KeymintError } from '../errors.js';
import { echo } from '../internal/echo.js';

/**
 * Grafana's organisation roles, lowest to highest: the default `roles` option.
 *
 * @example
 * ```ts
 * import { DEFAULT_ROLES } from 'keymint';
 * DEFAULT_ROLES; // ['Viewer', 'Editor', 'Admin']
 * ```
 */
export const DEFAULT_ROLES = Object.freeze(['Viewer', 'Editor', 'Admin'] as const);

/** Role names in order, matched case-insensitively, kept in their canonical spelling. */
export class RoleSet {
  readonly names: readonly string[];
  private readonly rank = new Map<string, number>();

  constructor(names: readonly string[]) {
    this.names = Object.freeze([...names]);
    names.forEach((name, i) => this.rank.set(name.toLowerCase(), i));
  }

  /** The canonical spelling, or `undefined` for an unknown role. */
  canonical(role: unknown): string | undefined {
    if (typeof role !== 'string') return undefined;
    const i = this.rank.get(role.trim().toLowerCase());
    return i === undefined ? undefined : this.names[i];
  }

  /** The canonical spelling; throws `INVALID_ROLE` listing the valid ones. */
  require(role: unknown, what = 'role'): string {
    const found = this.canonical(role);
    if (found !== undefined) return found;
    throw new KeymintError(
      'INVALID_ROLE',
      `Invalid ${what} ${echo(role)}: choose one of ${this.names.join(', ')}.`,
    );
  }

  /** Position from 0 (lowest); -1 for a role this set does not know. */
  rankOf(role: string): number {
    return this.rank.get(role.toLowerCase()) ?? -1;
  }
}
