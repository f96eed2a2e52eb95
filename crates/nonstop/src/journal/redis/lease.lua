-- Renews (ARGV[4] = 'renew') or gives up (ARGV[4] = 'release') a replica's lease, by the
-- Redis server's clock so that replicas' clocks never matter. Given up: a replica with
-- nothing unfinished leaves the list; one with leftovers (a drain cut short) marks its lease
-- run out, so another replica claims them at once.
-- Renewing also publishes how many sockets the replica holds (`sockets.lua`); giving up
-- takes its count away.
-- ARGV[1] prefix, ARGV[2] replica id, ARGV[3] lease in ms, ARGV[5] sockets held, ARGV[6] a
-- socket share's life in ms (`sockets.lua`), ARGV[7] the bot this replica serves or ''
-- (`fields.lua`'s claim_bot).
-- Returns {lapsed, foreign}: lapsed 1 when renewing found the lease run out (or gone)
-- already: the replica was paused or cut off for longer than the lease, and others may have
-- taken its work; foreign 1 when `P:bot` names another bot.
local p, me, lease, what = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
-- ARGV[8]: this process's token for a stable replica id, or '' (`fields.lua`'s fence). A
-- renewal under a stable id also counts itself (`P:beat:<id>`, identity.lua).
fence(p, me, ARGV[8])
if ARGV[8] ~= nil and ARGV[8] ~= '' then
  redis.call('INCR', p .. ':beat:' .. me)
  redis.call('PEXPIRE', p .. ':beat:' .. me, lease * 4)
end
if what == 'renew' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local held = tonumber(redis.call('ZSCORE', p .. ':replicas', me) or '0') or 0
  redis.call('ZADD', p .. ':replicas', now + lease, me)
  redis.call('HSET', p .. ':sockets', me, tonumber(ARGV[5]) or 0)
  redis.call('ZADD', p .. ':sockexp', now + tonumber(ARGV[6]), me)
  -- Counts only: gone by themselves once no replica renews (unlike the leases, which say
  -- whose leftovers to claim however late the next replica comes).
  redis.call('PEXPIRE', p .. ':sockets', lease * 4)
  redis.call('PEXPIRE', p .. ':sockexp', lease * 4)
  local foreign = claim_bot(p, ARGV[7])
  if held < now then return { 1, foreign } end
  return { 0, foreign }
end
redis.call('HDEL', p .. ':sockets', me)
redis.call('ZREM', p .. ':sockexp', me)
if redis.call('ZCARD', p .. ':eu:' .. me) == 0 and redis.call('ZCARD', p .. ':ou:' .. me) == 0 then
  redis.call('ZREM', p .. ':replicas', me)
else
  redis.call('ZADD', p .. ':replicas', 0, me)
end
return { 0, 0 }
