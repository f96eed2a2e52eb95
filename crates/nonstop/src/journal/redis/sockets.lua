-- Takes one of the sockets all replicas of the app may hold together, or says how many they
-- hold. Each replica's count is the field of its id in the hash `sockets`; a replica whose
-- lease ran out (or that left) no longer counts, and its field is removed. One script, so
-- two replicas never both take the last one.
-- ARGV[1] prefix, ARGV[2] replica id, ARGV[3] the total, ARGV[4] what this replica holds now.
-- Returns {1, held by all with this one} when taken, {0, held by all} when not.
local p, me, total, mine = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counts = redis.call('HGETALL', p .. ':sockets')
local others = 0
for i = 1, #counts, 2 do
  local replica, held = counts[i], tonumber(counts[i + 1]) or 0
  if replica ~= me then
    local until_ms = tonumber(redis.call('ZSCORE', p .. ':replicas', replica) or '0') or 0
    if until_ms >= now then
      others = others + held
    else
      redis.call('HDEL', p .. ':sockets', replica)
    end
  end
end
if others + mine + 1 <= total then
  redis.call('HSET', p .. ':sockets', me, mine + 1)
  return {1, others + mine + 1}
end
redis.call('HSET', p .. ':sockets', me, mine)
return {0, others + mine}
