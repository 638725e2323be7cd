// The Redis scripts that walk an index rather than one record: a scope's (or an owner's) names
// for list, count and revoke by owner, and the expiry set for purge.
import { PUBLISH_ID, UNINDEX } from './functions.js';

/**
 * KEYS: order (or one owner's set), names. ARGV: prefix, lex min ('-' or '(' .. after), limit,
 * activeAt ('' for none), how many names to look at in this call, the owner ('' for every key;
 * a record of another owner is a stale entry of the owner's set, and is removed from it). Returns { more, last name, records }: `more` is
 * 1 when the budget ran out before the page was full.
 */
export const LIST = `
local p, min, limit, budget = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[5])
local active = ARGV[4] ~= '' and tonumber(ARGV[4]) or nil
local owner = ARGV[6] ~= '' and ARGV[6] or nil
local out, seen, last = {}, 0, ''
while #out < limit and seen < budget do
  local batch = redis.call('ZRANGEBYLEX', KEYS[1], min, '+', 'LIMIT', 0, math.min(budget - seen, 200))
  if #batch == 0 then return { 0, last, out } end
  for _, name in ipairs(batch) do
    seen = seen + 1
    last = name
    local id = redis.call('HGET', KEYS[2], name)
    local fields = id and redis.call('HGETALL', p .. 'key:' .. id) or {}
    if #fields == 0 then
      if id then redis.call('HDEL', KEYS[2], name) end
      redis.call('ZREM', KEYS[1], name)
    else
      local keep = true
      if owner then
        local held = false
        for i = 1, #fields, 2 do
          if fields[i] == 'owner' then held = fields[i + 1] == owner end
        end
        if not held then
          keep = false
          redis.call('ZREM', KEYS[1], name)
        end
      end
      if keep and active then
        for i = 1, #fields, 2 do
          if fields[i] == 'expiresAt' then keep = tonumber(fields[i + 1]) > active end
        end
      end
      if keep then
        out[#out + 1] = fields
        if #out == limit then break end
      end
    end
  end
  min = '(' .. last
end
return { #out < limit and 1 or 0, last, out }
`;

/** KEYS: expiry. ARGV: prefix, before (epoch ms), batch size. Returns { looked at, deleted }. */
export const PURGE = `${UNINDEX}
local p, before = ARGV[1], tonumber(ARGV[2])
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local deleted = 0
for _, member in ipairs(members) do
  local a = string.find(member, '\\0', 1, true)
  local b = string.find(member, '\\0', a + 1, true)
  local id, scope, name = string.sub(member, 1, a - 1), string.sub(member, a + 1, b - 1), string.sub(member, b + 1)
  local key = p .. 'key:' .. id
  local f = redis.call('HMGET', key, 'scope', 'name', 'expiresAt', 'owner')
  local same = f[1] == scope and f[2] == name
  if same and f[3] and tonumber(f[3]) <= before then
    redis.call('DEL', key, p .. 'usage:' .. id)
    deleted = deleted + 1
    unindex(p, id, scope, name, f[4])
  elseif same then
    redis.call('ZREM', KEYS[1], member)
  else
    unindex(p, id, scope, name)
  end
end
return { #members, deleted }
`;

/**
 * KEYS: names. ARGV: prefix, at (epoch ms). Counts the scope's records that are not revoked and
 * have no expiry or one later than `at`. One pass over the scope's name index.
 */
export const COUNT_LIVE = `
local p, at = ARGV[1], tonumber(ARGV[2])
local ids = redis.call('HVALS', KEYS[1])
local live = 0
for _, id in ipairs(ids) do
  local f = redis.call('HMGET', p .. 'key:' .. id, 'id', 'revokedAt', 'expiresAt')
  if f[1] and not f[2] and (not f[3] or tonumber(f[3]) > at) then live = live + 1 end
end
return live
`;

/**
 * KEYS: the owner's set, names. ARGV: prefix, at (epoch ms), channel, owner. Revokes every
 * record of the owner's set that still has this owner and no revokedAt (HSETNX, as UPDATE),
 * publishes each id, and returns them; removes stale entries (no record, or another owner's).
 */
export const REVOKE_OWNER = `${PUBLISH_ID}
local p, at, channel, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local revoked = {}
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local id = redis.call('HGET', KEYS[2], name)
  local f = id and redis.call('HMGET', p .. 'key:' .. id, 'owner', 'revokedAt') or {}
  if f[1] ~= owner then
    redis.call('ZREM', KEYS[1], name)
  elseif not f[2] then
    redis.call('HSET', p .. 'key:' .. id, 'revokedAt', at)
    revoked[#revoked + 1] = id
  end
end
for _, id in ipairs(revoked) do publish(channel, id) end
return revoked
`;
