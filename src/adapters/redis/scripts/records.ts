// The Redis scripts that write or read one record, or a batch of records by id: insert, update,
// modify, touch, delete and find.
import { PUBLISH_ID, UNINDEX } from './functions.js';

/**
 * KEYS: record, names, order, expiry, and the owner's set (`owner:<scope> NUL <owner>`, a sorted
 * set of names like `order:`) when the record has an owner. ARGV: prefix, id, name, dropAt ('' for none), expiresAt,
 * member, fields… Returns 'ok', 'id' or 'name' (a conflict), or 'gone' when dropAt is already
 * past by the server's clock: then it writes nothing, as PEXPIREAT would drop the record at once.
 */
export const INSERT = `
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
export const UPDATE = `${PUBLISH_ID}
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
export const MODIFY = `${PUBLISH_ID}
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
export const TOUCH = `
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
export const DELETE = `${UNINDEX}${PUBLISH_ID}
local f = redis.call('HMGET', KEYS[1], 'scope', 'name', 'owner')
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
if f[1] and f[2] then unindex(ARGV[1], ARGV[2], f[1], f[2], f[3]) end
redis.call('DEL', ARGV[1] .. 'failures:' .. ARGV[2], ARGV[1] .. 'usage:' .. ARGV[2])
publish(ARGV[3], ARGV[2])
return 1
`;

/**
 * KEYS: record. The record's hash as one JSON object text, or nil when there is none: one bulk
 * string to read back instead of a reply item per field and value.
 */
export const FIND = `
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
local record = {}
for i = 1, #fields, 2 do record[fields[i]] = fields[i + 1] end
return cjson.encode(record)
`;
