-- Takes one of the sockets all replicas of the app may hold together, or says how many they
-- hold. Each replica's count is the field of its id in the hash `sockets`, good until the
-- time in the sorted set `sockexp` (renewed every 2 s, good for 6: shares are advisory, and
-- Slack's own limit is the backstop, so a dead replica's count must not keep the others
-- deaf for a whole lease, issue 25). A count past its time, or with a time no replica would
-- set (further ahead than the share's life: planted), no longer counts and is removed. One
-- script, so two replicas never both take the last one.
-- ARGV[1] prefix, ARGV[2] replica id, ARGV[3] the total, ARGV[4] what this replica holds now,
-- ARGV[5] a share's life in ms.
-- Returns {1, held by all with this one} when taken, {0, held by all} when not.
local p, me, total, mine = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local life = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counts = redis.call('HGETALL', p .. ':sockets')
local others = 0
for i = 1, #counts, 2 do
  local replica, held = counts[i], tonumber(counts[i + 1]) or 0
  if replica ~= me then
    local until_ms = tonumber(redis.call('ZSCORE', p .. ':sockexp', replica) or '0') or 0
    if until_ms >= now and until_ms <= now + life then
      others = others + held
    else
      redis.call('HDEL', p .. ':sockets', replica)
      redis.call('ZREM', p .. ':sockexp', replica)
    end
  end
end
redis.call('ZADD', p .. ':sockexp', now + life, me)
if others + mine + 1 <= total then
  redis.call('HSET', p .. ':sockets', me, mine + 1)
  return {1, others + mine + 1}
end
redis.call('HSET', p .. ':sockets', me, mine)
return {0, others + mine}
