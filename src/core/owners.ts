import type { KeyAdapter, StoredApiKey } from '../adapter.js';
import { KeymintError } from '../errors.js';
import { revokeOwnerInputSchema } from '../schemas.js';
import type { ManageParts } from './manage.js';
import { fromStore, parseWith } from './parse.js';
import type { CallContext, RevokeApiKeysInput } from './types.js';

/** Records read per page when naming revoked keys in events. */
const PAGE = 1_000;

/** The adapter's `revokeByOwner`, or CONFIG: without it, there is no atomic revocation by owner. */
function revokeByOwnerOf(adapter: KeyAdapter): NonNullable<KeyAdapter['revokeByOwner']> {
  if (typeof adapter.revokeByOwner !== 'function') {
    throw new KeymintError(
      'CONFIG',
      'revokeApiKeys() needs an adapter with revokeByOwner() (every adapter keymint ships has it since 0.3.0): update your adapter.',
    );
  }
  return adapter.revokeByOwner.bind(adapter);
}

/**
 * The records of `ids`, for their `key.revoked` events: one owner listing (paged), then a read by
 * id for any the listing missed. Only called when something listens to events.
 */
async function recordsOf(
  adapter: KeyAdapter,
  scope: string,
  owner: string,
  ids: readonly string[],
): Promise<StoredApiKey[]> {
  const wanted = new Set(ids);
  const found: StoredApiKey[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await adapter.list({
      scope,
      owner,
      limit: PAGE,
      ...(after !== undefined && { after }),
    });
    for (const record of page) {
      if (wanted.delete(record.id)) found.push(record);
    }
    if (page.length < PAGE || wanted.size === 0) break;
    after = page[page.length - 1]!.name;
  }
  for (const id of wanted) {
    const record = await adapter.findById(id);
    if (record) found.push(record);
  }
  return found;
}

/** `revokeApiKeys`, over the instance's parts. */
export function ownerOperations<Actor>(parts: ManageParts<Actor>) {
  const { adapter, access, clock, forget, events } = parts;

  return {
    async revokeApiKeys(input: RevokeApiKeysInput, context?: CallContext<Actor>): Promise<number> {
      const parsed = parseWith(
        revokeOwnerInputSchema,
        input,
        'INVALID_INPUT',
        'revokeApiKeys() input',
      );
      const revokeByOwner = revokeByOwnerOf(adapter);
      const scope = access.scopeFor(parsed.scope, context);
      await access.check(context, 'apikeys:delete', scope, { owner: parsed.owner });
      const at = clock();
      const ids = await fromStore('revokeByOwner', () => revokeByOwner(scope, parsed.owner, at));
      // The other instances hear of each id from the store; this one forgets them now.
      for (const id of ids) forget(id);
      if (events.enabled && ids.length > 0) {
        try {
          for (const record of await recordsOf(adapter, scope, parsed.owner, ids)) {
            events.key(record, context, { type: 'key.revoked', revokedAt: at });
          }
        } catch {
          // The revocation stands; a store that failed to name the keys costs only their events.
        }
      }
      return ids.length;
    },
  };
}
