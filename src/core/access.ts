import type { KeyAdapter, StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { contextSchema } from '../schemas.js';
import { KEY_ALPHABET, KEY_ID_LENGTH } from './key-format.js';
import { fromStore, notFound, parseWith } from './parse.js';
import { safeCause } from './redact.js';
import type { RoleSet } from './roles.js';
import type { ApiKeyAction, CallContext, KeymintOptions } from './types.js';

const DEFAULT_SCOPE = 'default';
const ID_PATTERN = new RegExp(`^[${KEY_ALPHABET}]{${KEY_ID_LENGTH}}$`);

/** Who may do what, and which record a call by id acts on: shared by every managing operation. */
export interface Access<Actor> {
  /**
   * Asks `authorize`, then holds `extra.role` to the actor's own role (`actorRole`); FORBIDDEN
   * when refused, with `refusal` as the message of the role rule.
   */
  check(
    context: CallContext<Actor> | undefined,
    action: ApiKeyAction,
    scope: string,
    extra?: { role?: string; keyId?: string; owner?: string | null },
    refusal?: string,
  ): Promise<void>;
  /** `context.scope`, checked: undefined, or a string (read once, as a getter may throw). */
  contextScope(context: CallContext<Actor> | undefined): string | undefined;
  /**
   * The scope a create or a list works in: the input's, which must then be the context's scope
   * when the context names one (the default is the context's scope, else `'default'`).
   */
  scopeFor(inputScope: string | undefined, context: CallContext<Actor> | undefined): string;
  /**
   * The record, or NOT_FOUND (also for a key of a scope other than `context.scope`). `forget`
   * drops the id from the verify cache when the store has no record: another process may have
   * deleted a key this one still caches.
   */
  find(
    id: unknown,
    context: CallContext<Actor> | undefined,
    forget?: (id: string) => void,
  ): Promise<StoredApiKey>;
}

export function createAccess<Actor>(
  options: Pick<KeymintOptions<Actor>, 'authorize' | 'actorRole'>,
  roles: RoleSet,
  adapter: KeyAdapter,
): Access<Actor> {
  const { authorize, actorRole } = options;

  function contextScope(context: CallContext<Actor> | undefined): string | undefined {
    let only: unknown;
    try {
      only = (context as { scope?: unknown } | undefined)?.scope;
    } catch (error) {
      throw new KeymintError('INVALID_INPUT', 'Invalid context: it cannot be read as plain data.', {
        cause: safeCause(error),
      });
    }
    if (only !== undefined && typeof only !== 'string') {
      throw new KeymintError('INVALID_INPUT', 'context.scope must be a string when given.');
    }
    return only;
  }

  return {
    contextScope,

    async check(
      context,
      action,
      scope,
      extra = {},
      refusal = 'Cannot assign a role higher than your own role.',
    ) {
      if (!authorize && !actorRole) return;
      const parsed = parseWith(contextSchema, context, 'INVALID_INPUT', 'context');
      if (!parsed || !('actor' in parsed)) {
        throw new KeymintError(
          'FORBIDDEN',
          'This keymint instance checks permissions: pass { actor } as the last argument.',
        );
      }
      const actor = parsed.actor as Actor;
      const { owner, ...rest } = extra;
      const request = { actor, action, scope, ...rest, ...(owner != null && { owner }) };
      if (authorize && (await authorize(request)) !== true) {
        throw new KeymintError(
          'FORBIDDEN',
          `Not allowed to ${action.slice(8)} API keys in scope ${JSON.stringify(scope)}.`,
        );
      }
      if (actorRole && extra.role !== undefined) {
        const own = roles.canonical(await actorRole(actor));
        if (own === undefined || roles.rankOf(extra.role) > roles.rankOf(own)) {
          throw new KeymintError('FORBIDDEN', refusal);
        }
      }
    },

    scopeFor(inputScope, context) {
      const only = contextScope(context);
      const scope = inputScope ?? only ?? DEFAULT_SCOPE;
      if (only !== undefined && scope !== only) {
        throw new KeymintError(
          'FORBIDDEN',
          `This call is limited to scope ${JSON.stringify(only)} (context.scope): it cannot act in scope ${JSON.stringify(scope)}.`,
        );
      }
      return scope;
    },

    async find(id, context, forget) {
      const only = contextScope(context);
      if (typeof id !== 'string') {
        throw new KeymintError(
          'INVALID_INPUT',
          `Invalid id: expected a string, got ${id === null ? 'null' : typeof id}.`,
        );
      }
      if (!ID_PATTERN.test(id)) {
        // Never echo it: a caller may have passed a whole key where an id belongs.
        throw new KeymintError(
          'NOT_FOUND',
          `No API key has this id: an id is ${KEY_ID_LENGTH} letters and digits (the part after the prefix), not a key.`,
        );
      }
      const record = await fromStore('findById', () => adapter.findById(id));
      if (!record) {
        forget?.(id);
        throw notFound(id);
      }
      if (only !== undefined && record.scope !== only) throw notFound(id);
      return record;
    },
  };
}
