import { createHash } from 'node:crypto';

// Every script gets the full key prefix (the client's keyPrefix plus the adapter's) as ARGV[1]:
// ioredis prefixes KEYS itself, but not the keys a script builds from an id or a scope.
// The expiry set's members are `id NUL scope NUL name`; the core never lets NUL into either.

const UNINDEX = `
local function unindex(p, id, scope, name, owner)
  local names = p .. 'names:' .. scope
  if redis.call('HGET', names, name) == id then
    redis.call('HDEL', names, name)
    redis.call('ZREM', p .. 'order:' .. scope, name)
    if owner then redis.call('ZREM', p .. 'owner:' .. scope .. '\\0' .. owner, name) end
  end
  redis.call('ZREM', p .. 'expiry', id .. '\\0' .. scope .. '\\0' .. name)
end
`;

/**
 * Tells subscribers (`subscribe`) that a key was revoked or deleted: PUBLISH of the id on the
 * adapter's channel, after the change, in the same script. On Redis Cluster a PUBLISH reaches
 * every node. It runs in pcall: a user whose ACL lacks the channel (Redis 7 gives new users no
 * channel by default) still revokes and deletes; the subscriber's SUBSCRIBE then fails instead,
 * which `subscribe()` reports.
 */
const PUBLISH_ID = `
local function publish(channel, id)
  pcall(redis.call, 'PUBLISH', channel, id)
end
`;

/**
 * KEYS: record, names, order, expiry, and the owner's set (`owner:<scope> NUL <owner>`, a sorted
 * set of names like `order:`) when the record has an owner. ARGV: prefix, id, name, dropAt ('' for none), expiresAt,
 * member, fields… Returns 'ok', 'id' or 'name' (a conflict), or 'gone' when dropAt is already
 * past by the server's clock: then it writes nothing, as PEXPIREAT would drop the record at once.
 */
const INSERT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'id' end
local holder = redis.call('HGET', KEYS[2], ARGV[3])
if holder and redis.call('EXISTS', ARGV[1] .. 'key:' .. holder) == 1 then return 'name' end
if ARGV[4] ~= '' then
  -- TIME before a write needs effects replication: Redis 3.2 and 4 turn it on with this call;
  -- it is the default since Redis 5 and the call a no-op since 7 (pcall, should it be removed).
  pcall(redis.replicate_commands)
  local time = redis.call('TIME')
  local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  if tonumber(ARGV[4]) <= nowMs then return 'gone' end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
if ARGV[4] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
  -- Unreachable in practice (it needs the clock to pass the drop time between TIME and
  -- PEXPIREAT); if it happens, the record is gone and nothing is left.
  if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[3])
if KEYS[5] then redis.call('ZADD', KEYS[5], 0, ARGV[3]) end
if ARGV[5] ~= '' then redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6]) end
return 'ok'
`;

/**
 * KEYS: record. ARGV: lastUsedAt, revokedAt ('' when absent), '1' to set secretHash, secretHash,
 * channel, id. lastUsedAt only moves forward (SQL `GREATEST`): a late write of an older time
 * changes nothing. revokedAt is kept once set (SQL `COALESCE`). A patch with revokedAt publishes
 * the id on the channel (see PUBLISH_ID), also when the record was already revoked.
 */
const UPDATE = `${PUBLISH_ID}
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if ARGV[1] ~= '' then
  -- nil when absent (HGET's false) or unreadable: then the new time is written.
  local last = tonumber(redis.call('HGET', KEYS[1], 'lastUsedAt'))
  if not last or tonumber(ARGV[1]) > last then
    redis.call('HSET', KEYS[1], 'lastUsedAt', ARGV[1])
  end
end
if ARGV[2] ~= '' then redis.call('HSETNX', KEYS[1], 'revokedAt', ARGV[2]) end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'secretHash', ARGV[4]) end
if ARGV[2] ~= '' then publish(ARGV[5], ARGV[6]) end
return redis.call('HGETALL', KEYS[1])
`;

/**
 * KEYS: record. ARGV: prefix, id, channel, '1' when there is a condition, the secretHash it
 * names, retention (ms), then one triple per changed field: name, 's' (set) or 'd' (delete: a
 * null), value. Checks, in this order: the record exists ('not_found'), is not revoked
 * ('revoked'), has the condition's secretHash ('secret'), its new name is free in its scope or
 * held by a record that no longer exists ('name'); a new expiry must not be past by the server's
 * clock once retention is added ('gone'). Then it writes every field, moves the name and expiry
 * index entries and the record's Redis expiry, publishes the id, and returns { 'ok', fields }.
 * Nothing is written unless every check passed.
 */
const MODIFY = `${PUBLISH_ID}
local p, id, channel = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 0 then return 'not_found' end
local f = redis.call('HMGET', KEYS[1], 'revokedAt', 'secretHash', 'scope', 'name', 'expiresAt', 'owner')
if f[1] then return 'revoked' end
if ARGV[4] == '1' and f[2] ~= ARGV[5] then return 'secret' end
local scope, oldName, oldExpires = f[3], f[4], f[5]
local newName, newExpires, expiresChanged = oldName, oldExpires, false
for i = 7, #ARGV, 3 do
  if ARGV[i] == 'name' then newName = ARGV[i + 2] end
  if ARGV[i] == 'expiresAt' then
    expiresChanged = true
    newExpires = ARGV[i + 1] == 's' and ARGV[i + 2] or false
  end
end
local names, order = p .. 'names:' .. scope, p .. 'order:' .. scope
if newName ~= oldName then
  local holder = redis.call('HGET', names, newName)
  if holder and holder ~= id and redis.call('EXISTS', p .. 'key:' .. holder) == 1 then
    return 'name'
  end
end
local dropAt = nil
if expiresChanged and newExpires then
  dropAt = tonumber(newExpires) + tonumber(ARGV[6])
  pcall(redis.replicate_commands)
  local time = redis.call('TIME')
  if dropAt <= tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) then
    return 'gone'
  end
end
for i = 7, #ARGV, 3 do
  if ARGV[i + 1] == 's' then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  else
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
if newName ~= oldName then
  if redis.call('HGET', names, oldName) == id then
    redis.call('HDEL', names, oldName)
    redis.call('ZREM', order, oldName)
  end
  redis.call('HSET', names, newName, id)
  redis.call('ZADD', order, 0, newName)
  if f[6] then
    local owned = p .. 'owner:' .. scope .. '\\0' .. f[6]
    redis.call('ZREM', owned, oldName)
    redis.call('ZADD', owned, 0, newName)
  end
end
if newName ~= oldName or expiresChanged then
  redis.call('ZREM', p .. 'expiry', id .. '\0' .. scope .. '\0' .. oldName)
  if newExpires then
    redis.call('ZADD', p .. 'expiry', newExpires, id .. '\0' .. scope .. '\0' .. newName)
  end
end
if expiresChanged then
  if dropAt then redis.call('PEXPIREAT', KEYS[1], dropAt) else redis.call('PERSIST', KEYS[1]) end
end
publish(channel, id)
return { 'ok', redis.call('HGETALL', KEYS[1]) }
`;

/**
 * KEYS: the records. ARGV: one lastUsedAt (epoch ms) per key, in the same order. Each only moves
 * forward, as in UPDATE; a missing record is skipped, never created. Returns how many it wrote.
 */
const TOUCH = `
local written = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local last = tonumber(redis.call('HGET', key, 'lastUsedAt'))
    if not last or tonumber(ARGV[i]) > last then
      redis.call('HSET', key, 'lastUsedAt', ARGV[i])
      written = written + 1
    end
  end
end
return written
`;

/**
 * KEYS: record. ARGV: prefix, id, channel. Publishes the id when there was a record, and drops
 * the key's wrong-secret window (`failures:<id>`) and usage counters (`usage:<id>`) with it.
 */
const DELETE = `${UNINDEX}${PUBLISH_ID}
local f = redis.call('HMGET', KEYS[1], 'scope', 'name', 'owner')
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if f[1] and f[2] then unindex(ARGV[1], ARGV[2], f[1], f[2], f[3]) end
redis.call('DEL', ARGV[1] .. 'failures:' .. ARGV[2], ARGV[1] .. 'usage:' .. ARGV[2])
publish(ARGV[3], ARGV[2])
return 1
`;

/**
 * KEYS: order (or one owner's set), names. ARGV: prefix, lex min ('-' or '(' .. after), limit,
 * activeAt ('' for none), how many names to look at in this call, the owner ('' for every key;
 * a record of another owner is a stale entry of the owner's set, and is removed from it). Returns { more, last name, records }: `more` is
 * 1 when the budget ran out before the page was full.
 */
const LIST = `
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
const PURGE = `${UNINDEX}
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
const COUNT_LIVE = `
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
const REVOKE_OWNER = `${PUBLISH_ID}
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

/**
 * KEYS: record. The record's hash as one JSON object text, or nil when there is none: one bulk
 * string to read back instead of a reply item per field and value.
 */
const FIND = `
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
local record = {}
for i = 1, #fields, 2 do record[fields[i]] = fields[i + 1] end
return cjson.encode(record)
`;

/**
 * KEYS: the key's usage hash. ARGV: window start, limit, credits set at, refill period, fresh
 * balance, refill amount, cost ('' where it does not apply). `consumeUsage` in one script: the
 * rule of applyUsage (src/internal/usage.ts). Returns { ok (0/1), count, remaining ('' for none) }.
 */
const USAGE = `
local ws, lim, cset, period, fresh, refill, cost = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local s = redis.call('HMGET', KEYS[1], 'w', 'c', 's', 'p', 'r')
-- A request from an older window, period or setting (a lagging clock or cache) counts against
-- the newer one stored: counters never move back.
local count = 0
local storedWs = tonumber(s[1] or '')
if lim ~= '' and storedWs and storedWs >= tonumber(ws) then count = tonumber(s[2]) end
if lim ~= '' and storedWs and storedWs > tonumber(ws) then ws = s[1] end
local ok = lim == '' or count < tonumber(lim)
local balance = nil
if cset ~= '' then
  local storedSet = tonumber(s[3] or '')
  local storedPeriod = tonumber(s[4] or '')
  if not storedSet or storedSet < tonumber(cset) then balance = tonumber(fresh)
  elseif storedSet == tonumber(cset) and period ~= '' and (not storedPeriod or storedPeriod < tonumber(period)) then balance = tonumber(refill)
  else balance = tonumber(s[5]) end
  if storedSet and storedSet > tonumber(cset) then
    cset = s[3]
    period = s[4] or ''
  elseif storedSet and storedSet == tonumber(cset) and storedPeriod and period ~= '' and storedPeriod > tonumber(period) then
    period = s[4]
  end
  ok = ok and balance > 0 and balance >= tonumber(cost)
end
if ok then
  if lim ~= '' then count = count + 1 end
  if balance then balance = balance - tonumber(cost) end
end
local fields = {'w', ws, 'c', string.format('%.0f', count), 's', cset, 'p', period}
if balance then
  table.insert(fields, 'r')
  table.insert(fields, string.format('%.0f', balance))
end
redis.call('HSET', KEYS[1], unpack(fields))
if not balance then redis.call('HDEL', KEYS[1], 'r') end
return { ok and 1 or 0, count, balance and string.format('%.0f', balance) or '' }
`;

/**
 * KEYS: the key's usage hash. ARGV: window start, limit. `consumeUsage` for a rate limit without
 * credits, the warm path of such a key: the rule of USAGE for that request with two reads and
 * at most one write. The count of the stored window when it is this one or newer (counters never
 * move back), else 0; below the limit, one more. A refusal writes nothing (the stored window is
 * then this one or newer, and its count stays). Credit fields are left as they are. Returns
 * { ok (0/1), count, '' }.
 */
const USAGE_RATE = `
local s = redis.call('HMGET', KEYS[1], 'w', 'c')
local ws = ARGV[1]
local count = 0
local stored = tonumber(s[1] or '')
if stored and stored >= tonumber(ws) then
  count = tonumber(s[2])
  ws = s[1]
end
if count >= tonumber(ARGV[2]) then return { 0, count, '' } end
count = count + 1
redis.call('HSET', KEYS[1], 'w', ws, 'c', string.format('%.0f', count))
return { 1, count, '' }
`;

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
