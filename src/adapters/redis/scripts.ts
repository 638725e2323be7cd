// The Lua scripts of the Redis adapter as SCRIPTS (their text and SHA1), and runScript, which runs
// one by its SHA1. The texts live in scripts/, by family.
import { createHash } from 'node:crypto';
import { COUNT_LIVE, LIST, PURGE, REVOKE_OWNER } from './scripts/indexes.js';
import { DELETE, FIND, INSERT, MODIFY, TOUCH, UPDATE } from './scripts/records.js';
import { USAGE, USAGE_RATE } from './scripts/usage.js';

// Every script gets the full key prefix (the client's keyPrefix plus the adapter's) as ARGV[1]:
// ioredis prefixes KEYS itself, but not the keys a script builds from an id or a scope.
// The expiry set's members are `id NUL scope NUL name`; the core never lets NUL into either.

export interface Script {
  readonly lua: string;
  readonly sha: string;
}

const script = (lua: string): Script =>
  Object.freeze({ lua, sha: createHash('sha1').update(lua).digest('hex') });

export const SCRIPTS = Object.freeze({
  insert: script(INSERT),
  update: script(UPDATE),
  modify: script(MODIFY),
  touch: script(TOUCH),
  delete: script(DELETE),
  list: script(LIST),
  purge: script(PURGE),
  countLive: script(COUNT_LIVE),
  revokeOwner: script(REVOKE_OWNER),
  find: script(FIND),
  usage: script(USAGE),
  usageRate: script(USAGE_RATE),
});

/** The two ioredis commands the scripts need; `Redis` and `Cluster` both have them. */
export interface ScriptRunner {
  evalsha(sha: string, numkeys: number, ...args: string[]): Promise<unknown>;
  eval(lua: string, numkeys: number, ...args: string[]): Promise<unknown>;
}

/** The adapter's way to run a script: runScript over its client. */
export type RunScript = (script: Script, keys: string[], args: string[]) => Promise<unknown>;

/** The error for a reply the script never gives. */
export const unexpected = (reply: unknown, operation: string) =>
  new Error(`Unexpected reply from the keymint ${operation} script: ${String(reply).slice(0, 80)}`);

export const isNoScript = (error: unknown) =>
  error instanceof Error && error.message.startsWith('NOSCRIPT');

/**
 * Runs a script by its SHA1, sending the source only when the server does not have it yet (first
 * call, after SCRIPT FLUSH or a restart, or on another Cluster node). EVAL caches it again.
 */
export async function runScript(
  client: ScriptRunner,
  { lua, sha }: Script,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  try {
    return await client.evalsha(sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return client.eval(lua, keys.length, ...keys, ...args);
  }
}
