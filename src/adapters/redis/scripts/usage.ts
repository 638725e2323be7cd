// The Redis scripts of `consumeUsage`: a key's rate-limit window and credits, counted in one
// script on its `usage:<id>` hash.

/**
 * KEYS: the key's usage hash. ARGV: window start, limit, credits set at, refill period, fresh
 * balance, refill amount, cost ('' where it does not apply). `consumeUsage` in one script: the
 * rule of applyUsage (src/internal/usage.ts). Returns { ok (0/1), count, remaining ('' for none) }.
 */
export const USAGE = `
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
export const USAGE_RATE = `
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
