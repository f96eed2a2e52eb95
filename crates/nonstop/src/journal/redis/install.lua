-- The app's installations, shared by all replicas: records in one hash.
-- ARGV[1] prefix, ARGV[2] key, ARGV[3] '1' when a value is expected ('-' to write whatever
-- is there), ARGV[4] the expected value ('' for absent when ARGV[3] is '0'),
-- ARGV[5] '1' when a new value is given (else the key is deleted), ARGV[6] the new value
-- -> 1 when written, 0 when the record was not what was expected.
local records, key = ARGV[1] .. ':inst', ARGV[2]
if ARGV[3] ~= '-' then
  local current = redis.call('HGET', records, key)
  if ARGV[3] == '1' then
    if current ~= ARGV[4] then return 0 end
  elseif current then
    return 0
  end
end
if ARGV[5] == '1' then
  redis.call('HSET', records, key, ARGV[6])
else
  redis.call('HDEL', records, key)
end
return 1
