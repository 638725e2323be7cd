import type { StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { readonlyDate } from '../internal/readonly-date.js';

/**
 * What every event about one key carries. Never the key, its secret or its hash; `name` is the
 * key's name (a label the host chose), `actor` the `actor` of the call's context, when one was
 * given (a leak report has none).
 *
 * @example
 * ```ts
 * import type { KeyEventBase } from 'keymint';
 * const line = (event: KeyEventBase) => `${event.at.toISOString()} ${event.keyId} ${event.scope}`;
 * ```
 */
export interface KeyEventBase<Actor = unknown> {
  /** When the operation committed, by the instance's clock. */
  readonly at: Date;
  readonly keyId: string;
  readonly scope: string;
  readonly name: string;
  readonly actor?: Actor;
}

/**
 * The audit events {@link KeymintOptions.onEvent} receives, after the store committed. Switch on
 * `type`.
 *
 * - `key.created`: `role`, `expiresAt`.
 * - `key.updated`: `changes`, each changed field (`name`, `role`, `expiresAt`, `metadata`,
 *   `permissions`: the stored explicit list, `null` for all the role grants) with its value
 *   before and after (`updateApiKey`).
 * - `key.rotated`: the new `expiresAt` and `previousSecretExpiresAt`, when the old secret stops
 *   working (`rotateApiKey`; the id stays).
 * - `key.revoked`: `revokedAt`.
 * - `key.deleted`: nothing more.
 * - `key.purged`: one event per `purgeExpired()` call, with `count` and `expiredBefore`, and no
 *   key fields: the store deletes expired keys in one statement, without listing them.
 * - `key.leaked`: a presented key that verified was reported as leaked (the secret-scanning
 *   endpoint, `keymint scan --revoke`): `url` and `source` as reported, and `revoked`.
 *
 * @example
 * ```ts
 * import type { KeymintEvent } from 'keymint';
 *
 * function describe(event: KeymintEvent): string {
 *   switch (event.type) {
 *     case 'key.purged':
 *       return `${event.count} expired keys purged`;
 *     case 'key.leaked':
 *       return `key ${event.keyId} leaked at ${event.url ?? 'an unknown place'}`;
 *     default:
 *       return `${event.type} ${event.keyId} (${event.name}) in ${event.scope}`;
 *   }
 * }
 * ```
 */
export type KeymintEvent<Actor = unknown> =
  | (KeyEventBase<Actor> & {
      readonly type: 'key.created';
      readonly role: string;
      readonly expiresAt: Date | null;
    })
  | (KeyEventBase<Actor> & {
      readonly type: 'key.updated';
      readonly changes: Readonly<
        Partial<
          Record<
            'name' | 'role' | 'expiresAt' | 'metadata' | 'permissions',
            { readonly from: unknown; readonly to: unknown }
          >
        >
      >;
    })
  | (KeyEventBase<Actor> & {
      readonly type: 'key.rotated';
      readonly expiresAt: Date | null;
      /** When the old secret stops working (the grace period's end), null without one. */
      readonly previousSecretExpiresAt: Date | null;
    })
  | (KeyEventBase<Actor> & { readonly type: 'key.revoked'; readonly revokedAt: Date })
  | (KeyEventBase<Actor> & { readonly type: 'key.deleted' })
  | (KeyEventBase<Actor> & {
      readonly type: 'key.leaked';
      readonly url: string | null;
      readonly source: string | null;
      readonly revoked: boolean;
    })
  | {
      readonly type: 'key.purged';
      readonly at: Date;
      readonly count: number;
      readonly expiredBefore: Date;
      readonly actor?: Actor;
    };

/**
 * The type names of {@link KeymintEvent}.
 *
 * @example
 * ```ts
 * import type { KeymintEventType } from 'keymint';
 * const alerting: KeymintEventType[] = ['key.leaked', 'key.revoked'];
 * ```
 */
export type KeymintEventType = KeymintEvent['type'];

type Without<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** What an operation says of its event; the emitter adds `at`, the key fields and `actor`. */
type KeyEventFields<Actor> = Without<
  Exclude<KeymintEvent<Actor>, { type: 'key.purged' }>,
  keyof KeyEventBase
>;

/** The actor of a context, read defensively: the operation already accepted this context. */
function actorOf(context: unknown): { actor?: unknown } {
  try {
    if (typeof context === 'object' && context !== null && 'actor' in context) {
      return { actor: (context as { actor: unknown }).actor };
    }
  } catch {
    // A throwing getter: the operation passed, the event goes without an actor.
  }
  return {};
}

/**
 * The instance's event emitter. `emit*` are called after the store committed; the hook runs on a
 * later turn of the event loop, so a slow or throwing hook neither delays nor fails the
 * operation. Its throws and rejections go to `report` (onBackgroundError).
 */
export function createEvents<Actor>(
  onEvent: ((event: KeymintEvent<Actor>) => unknown) | undefined,
  report: (error: unknown) => void,
  now: () => Date,
) {
  const stamp = (): Date => {
    try {
      const date = now();
      if (date instanceof Date && !Number.isNaN(date.getTime())) return readonlyDate(date);
    } catch {
      // The operation committed: a broken clock must not fail it now.
    }
    return readonlyDate(new Date());
  };
  const failed = (error: unknown) =>
    report(new KeymintError('CONFIG', 'The onEvent hook failed; see the cause.', { cause: error }));

  function deliver(event: KeymintEvent<Actor>): void {
    if (!onEvent) return;
    const hook = onEvent;
    setImmediate(() => {
      try {
        const result = hook(event);
        if (result && typeof (result as PromiseLike<unknown>).then === 'function') {
          Promise.resolve(result).catch(failed);
        }
      } catch (error) {
        failed(error);
      }
    });
  }

  return {
    /** Whether anything listens: operations skip building events otherwise. */
    enabled: onEvent !== undefined,
    /** An event about one key, from its record as the store committed it. */
    key(record: StoredApiKey, context: unknown, fields: KeyEventFields<Actor>): void {
      if (!onEvent) return;
      deliver(
        Object.freeze({
          at: stamp(),
          keyId: record.id,
          scope: record.scope,
          name: record.name,
          ...actorOf(context),
          ...fields,
        }) as KeymintEvent<Actor>,
      );
    },
    /** A purge that deleted anything (one that deleted nothing changed nothing). */
    purged(count: number, expiredBefore: Date, context: unknown): void {
      if (!onEvent || count === 0) return;
      deliver(
        Object.freeze({
          type: 'key.purged',
          at: stamp(),
          count,
          expiredBefore: readonlyDate(expiredBefore),
          ...actorOf(context),
        }) as KeymintEvent<Actor>,
      );
    },
  };
}

export type Events<Actor> = ReturnType<typeof createEvents<Actor>>;
