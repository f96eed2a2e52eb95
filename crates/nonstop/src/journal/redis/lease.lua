-- Renews (ARGV[4] = 'renew') or gives up (ARGV[4] = 'release') a replica's lease, by the
-- Redis server's clock so that replicas' clocks never matter. Given up: a replica with
-- nothing unfinished leaves the list; one with leftovers (a drain cut short) marks its lease
-- run out, so another replica claims them at once.
-- Renewing also publishes how many sockets the replica holds (`sockets.lua`); giving up
-- takes its count away.
-- ARGV[1] prefix, ARGV[2] replica id, ARGV[3] lease in ms, ARGV[5] sockets held.
-- Returns 1, or 2 when renewing found the lease run out (or gone) already: the replica was
-- paused or cut off for longer than the lease, and others may have taken its work.
local p, me, lease, what = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if what == 'renew' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local held = tonumber(redis.call('ZSCORE', p .. ':replicas', me) or '0') or 0
  redis.call('ZADD', p .. ':replicas', now + lease, me)
  redis.call('HSET', p .. ':sockets', me, tonumber(ARGV[5]) or 0)
  -- Counts only: gone by themselves once no replica renews (unlike the leases, which say
  -- whose leftovers to claim however late the next replica comes).
  redis.call('PEXPIRE', p .. ':sockets', lease * 4)
  if held < now then return 2 end
  return 1
end
redis.call('HDEL', p .. ':sockets', me)
if redis.call('ZCARD', p .. ':eu:' .. me) == 0 and redis.call('ZCARD', p .. ':ou:' .. me) == 0 then
  redis.call('ZREM', p .. ':replicas', me)
else
  redis.call('ZADD', p .. ':replicas', 0, me)
end
return 1
