// Lua functions that several Redis scripts include at their top: removing a record's index
// entries, and telling subscribers of a revocation or delete.

export const UNINDEX = `
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
export const PUBLISH_ID = `
local function publish(channel, id)
  pcall(redis.call, 'PUBLISH', channel, id)
end
`;
