-- The bot's key-value storage, shared by all replicas: values in one hash, names in a sorted
-- set (all scores 0) so that keys can be listed by prefix in order.
-- ARGV[1] prefix, ARGV[2] operation, ARGV[3] key, then:
--   set: ARGV[4] value                        -> 1
--   delete:                                   -> 1 when the key existed, else 0
--   cas: ARGV[4] '1' when a value is expected, ARGV[5] the expected value,
--        ARGV[6] '1' when a new value is given, ARGV[7] the new value -> 1 when written
local p, op, key = ARGV[1], ARGV[2], ARGV[3]
local values, names = p .. ':kv', p .. ':kvk'
if op == 'set' then
  redis.call('HSET', values, key, ARGV[4])
  redis.call('ZADD', names, 0, key)
  return 1
elseif op == 'delete' then
  redis.call('ZREM', names, key)
  return redis.call('HDEL', values, key)
elseif op == 'cas' then
  local current = redis.call('HGET', values, key)
  if ARGV[4] == '1' then
    if current ~= ARGV[5] then return 0 end
  elseif current then
    return 0
  end
  if ARGV[6] == '1' then
    redis.call('HSET', values, key, ARGV[7])
    redis.call('ZADD', names, 0, key)
  else
    redis.call('HDEL', values, key)
    redis.call('ZREM', names, key)
  end
  return 1
end
return redis.error_reply('unknown kv operation ' .. tostring(op))
