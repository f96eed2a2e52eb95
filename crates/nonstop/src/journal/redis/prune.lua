-- Deletes finished entries received before the cutoff, then the oldest finished entries
-- beyond the size bound; the same for finished answers (by when they were written, then
-- beyond the newest `max` ids). At most `limit` in all: each call costs in proportion to what
-- it deletes. Unfinished entries and answers are never touched.
--
-- By age, the finished are walked in arrival order (seq, id) and the walk stops at the first
-- one too young: arrival order is time order, up to the receiving replicas' clock skew, so a
-- skewed one holds the others back by that skew at most.
--
-- ARGV[1] prefix, ARGV[2] cutoff (ms since the epoch), ARGV[3] max entries, ARGV[4] limit.
-- Returns how many were deleted.
local p, cutoff, max, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local removed = 0

local function drop_entry(key)
  local k = p .. ':e:' .. key
  local st = redis.call('HGET', k, 'st')
  redis.call('DEL', k, p .. ':r:' .. key)
  redis.call('ZREM', p .. ':es', key)
  redis.call('ZREM', p .. ':efs', key)
  if st then redis.call('ZREM', p .. ':st:' .. st, key) end
  removed = removed + 1
end

local function drop_output(id)
  local k = p .. ':o:' .. id
  local f = redis.call('HMGET', k, 'key', 'st')
  redis.call('DEL', k, p .. ':oa:' .. id)
  if f[1] then redis.call('HDEL', p .. ':ok', f[1]) end
  if f[2] then redis.call('ZREM', p .. ':ost:' .. f[2], id) end
  redis.call('ZREM', p .. ':os', id)
  redis.call('ZREM', p .. ':ofs', id)
  removed = removed + 1
end

-- The oldest finished members of `set` whose hash under `hash` says they arrived before the
-- cutoff, at most `room`.
local function older(set, hash, room)
  local found = {}
  if room <= 0 then return found end
  for _, name in ipairs(redis.call('ZRANGE', set, 0, room - 1)) do
    local at = tonumber(redis.call('HGET', hash .. name, 'at'))
    -- No hash (an inconsistency) counts as old: it goes.
    if at and at >= cutoff then break end
    found[#found + 1] = name
  end
  return found
end

for _, key in ipairs(older(p .. ':efs', p .. ':e:', limit)) do
  drop_entry(key)
end

local excess = redis.call('ZCARD', p .. ':es') - max
if excess > 0 and removed < limit then
  for _, key in ipairs(redis.call('ZRANGE', p .. ':efs', 0, math.min(excess, limit - removed) - 1)) do
    drop_entry(key)
  end
end

for _, id in ipairs(older(p .. ':ofs', p .. ':o:', limit - removed)) do
  drop_output(id)
end

if removed < limit then
  local newest = redis.call('ZREVRANGE', p .. ':os', 0, 0)
  if newest[1] then
    local boundary = tonumber(newest[1]) - max
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. ':ofs', '-inf', boundary,
      'LIMIT', 0, limit - removed)) do
      drop_output(id)
    end
  end
end

return removed
