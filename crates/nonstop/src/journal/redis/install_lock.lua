-- A lock on an installation, held by one process at a time and expiring by itself.
-- ARGV[1] the lock's key, ARGV[2] the holder, ARGV[3] milliseconds to hold it,
-- ARGV[4] 'take' (-> 1 when the holder has it now: it was free, expired, or the holder's)
-- or 'give' (deletes it when the holder has it).
local key, holder = ARGV[1], ARGV[2]
local held = redis.call('GET', key)
if ARGV[4] == 'give' then
  if held == holder then redis.call('DEL', key) end
  return 1
end
if held and held ~= holder then return 0 end
redis.call('SET', key, holder, 'PX', ARGV[3])
return 1
