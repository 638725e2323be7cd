import type { StoredApiKey } from '../../adapter.js';
import type { RedisCommands } from './options.js';
import { fromFields } from './records.js';
import { isNoScript, SCRIPTS } from './scripts.js';

/** An error the server answered with (ioredis's ReplyError), as opposed to a lost connection. */
const isReply = (error: unknown) => error instanceof Error && error.name === 'ReplyError';

/**
 * Verification's read of one record: the `find` script, which returns the hash as one JSON text
 * (ioredis then decodes one bulk string instead of two per field, and JSON.parse makes the object), or HGETALL. A server that
 * refuses the script (one without Lua's cjson, say) while HGETALL works gets HGETALL from then on.
 */
export function recordReader(
  commands: RedisCommands,
): (key: string) => Promise<StoredApiKey | null> {
  const { sha, lua } = SCRIPTS.find;
  let scripted = true;
  const plain = async (key: string) => fromFields(await commands.hgetall(key));
  return async (key) => {
    if (!scripted) return plain(key);
    let reply: unknown;
    try {
      try {
        reply = await commands.evalsha(sha, 1, key);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        reply = await commands.eval(lua, 1, key);
      }
    } catch (error) {
      if (!isReply(error)) throw error;
      const record = await plain(key);
      scripted = false;
      return record;
    }
    if (reply === null || reply === undefined) return null;
    if (typeof reply !== 'string')
      throw new Error('Unexpected reply from the keymint find script.');
    return fromFields(JSON.parse(reply));
  };
}
