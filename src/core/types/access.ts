// What the host's `authorize` hook is asked, and the caller context every management call may carry.

/**
 * The RBAC action names Grafana uses for API keys, and `apikeys:write` for changing an existing
 * key ({@link Keymint.updateApiKey}, {@link Keymint.rotateApiKey}).
 *
 * @example
 * ```ts
 * const action: ApiKeyAction = 'apikeys:create';
 * ```
 */
export type ApiKeyAction =
  'apikeys:create' | 'apikeys:read' | 'apikeys:write' | 'apikeys:delete' | 'apikeys:purge';

/**
 * What the host's `authorize` hook is asked.
 *
 * @example
 * ```ts
 * const authorize = ({ actor, action, scope }: AuthorizeRequest<User>) =>
 *   actor.orgId === scope && (action === 'apikeys:read' || actor.isAdmin);
 * ```
 */
export interface AuthorizeRequest<Actor = unknown> {
  actor: Actor;
  action: ApiKeyAction;
  /** The scope acted on: the new key's, the listed one, or the existing key's; `'*'` for purge. */
  scope: string;
  /**
   * In canonical spelling: the role of the key to create (`apikeys:create`), the new role of an
   * update that changes it, or the role of the key to rotate (`apikeys:write`).
   */
  role?: string;
  /** The key acted on (get, update, rotate, revoke, delete). */
  keyId?: string;
  /**
   * The owner of the key acted on where known: the stored owner of an existing key, the owner
   * of the key to create, or the owner a list or `revokeApiKeys` selects. Absent for keys
   * without an owner. A host lets users manage only their own keys by comparing it with the
   * actor.
   */
  owner?: string;
}

/**
 * The second argument of the managing methods: who is acting. Required when `authorize` is set.
 *
 * @example
 * ```ts
 * await keymint.listApiKeys({ scope: 'org-42' }, { actor: currentUser });
 * // A tenant's admin acting on a key by id: another tenant's key is NOT_FOUND, as a missing one.
 * await keymint.deleteApiKey(id, { actor: currentUser, scope: currentUser.orgId });
 * ```
 */
export interface CallContext<Actor = unknown> {
  actor: Actor;
  /**
   * The only scope this call may act in. `getApiKey`, `revokeApiKey` and `deleteApiKey` answer a
   * key of another scope `NOT_FOUND`, exactly as a missing id, before `authorize` is asked, so a
   * tenant learns nothing about another tenant's keys (not even that an id exists).
   * `createApiKey` and `listApiKeys` default their scope to it and refuse another (`FORBIDDEN`);
   * `purgeExpired`, which works across scopes, refuses a context with a scope (`INVALID_INPUT`).
   */
  scope?: string;
}
