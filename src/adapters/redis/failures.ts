import type { FailureReservation, KeyAdapter } from '../../adapter.js';
import { runScript, type Script, type ScriptRunner } from './scripts.js';
import { createHash } from 'node:crypto';

const script = (lua: string): Script =>
  Object.freeze({ lua, sha: createHash('sha1').update(lua).digest('hex') });

/**
 * KEYS: record, window. ARGV: limit, windowMs. Nothing (nil) when the record does not exist:
 * unknown ids keep no state. The window is a hash (start, reset, count) that Redis drops at its
 * end (PEXPIREAT), on the server's clock. Returns { 1, start } or { 0, ms left }.
 */
const RESERVE = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
pcall(redis.replicate_commands)
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local w = redis.call('HMGET', KEYS[2], 'start', 'reset', 'count')
local start, reset, count = tonumber(w[1]), tonumber(w[2]), tonumber(w[3])
if not start or not reset or not count or count <= 0 or now >= reset or now < start then
  start, reset, count = now, now + tonumber(ARGV[2]), 0
end
if count >= tonumber(ARGV[1]) then return { 0, math.max(1, reset - now) } end
redis.call('HSET', KEYS[2], 'start', string.format('%.0f', start),
  'reset', string.format('%.0f', reset), 'count', count + 1)
redis.call('PEXPIREAT', KEYS[2], string.format('%.0f', reset))
return { 1, start }
`);

/** KEYS: window. ARGV: start. One place back, only in that same window. */
const RELEASE = script(`
local w = redis.call('HMGET', KEYS[1], 'start', 'count')
local count = tonumber(w[2])
if w[1] == ARGV[1] and count and count > 0 then redis.call('HINCRBY', KEYS[1], 'count', -1) end
return 0
`);

/**
 * `reserveFailure` and `releaseFailure`: one script each. The window's key (`failures:<id>`)
 * sits beside the record's under the same prefix, so a `{hash tag}` prefix keeps both in one
 * Cluster slot.
 */
export function failureMethods(
  commands: ScriptRunner,
  prefix: string,
): Required<Pick<KeyAdapter, 'reserveFailure' | 'releaseFailure'>> {
  const windowKey = (id: string) => `${prefix}failures:${id}`;
  return {
    async reserveFailure(
      id: string,
      limit: number,
      windowMs: number,
    ): Promise<FailureReservation | null> {
      const reply = await runScript(
        commands,
        RESERVE,
        [`${prefix}key:${id}`, windowKey(id)],
        [String(limit), String(windowMs)],
      );
      if (reply === null) return null;
      if (!Array.isArray(reply) || reply.length !== 2) {
        throw new Error(`Unexpected reply from the Redis failure counter: ${typeof reply}`);
      }
      return Number(reply[0]) === 1
        ? { ok: true, window: Number(reply[1]) }
        : { ok: false, retryAfterMs: Number(reply[1]) };
    },

    async releaseFailure(id: string, window: number): Promise<void> {
      await runScript(commands, RELEASE, [windowKey(id)], [String(window)]);
    },
  };
}
