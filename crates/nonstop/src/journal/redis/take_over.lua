-- Claims what replicas whose lease ran out left unfinished: entries and answers move to this
-- replica, which runs them as replays. A replica renews its lease with every batch and from
-- a timer; one that died (or lost Redis) for longer than the lease is taken over. A replica
-- that stopped cleanly gave its lease up at once, so its leftovers are claimed at once.
--
-- ARGV[1] prefix, ARGV[2] replica id, ARGV[3] lease in ms, ARGV[4] at most this many of each,
-- ARGV[5] this replica's lost batch ids, ARGV[6] its lost claim tokens, ARGV[7] this call's,
-- ARGV[8] '1' to claim from replicas whose lease ran out, '0' from those that gave it up only
-- (while this replica has not had Redis for a whole lease, a run-out lease may be a live
-- replica's that lost Redis in the same outage; mod.rs).
-- Returns {entries, outputs, lapsed}: each claimed one's fields (fields.lua), oldest first;
-- lapsed 1 when this replica's own lease had run out (or was gone) before this call.
local p, me, lease, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
-- ARGV[9]: this process's token for a stable replica id, or '' (`fields.lua`'s fence).
fence(p, me, ARGV[9])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = tonumber(redis.call('ZSCORE', p .. ':replicas', me) or '0') or 0
local lapsed = 0
if held < now then lapsed = 1 end
redis.call('ZADD', p .. ':replicas', now + lease, me)

local entries, outputs = {}, {}

-- This replica's own batches whose answer never came (ARGV[5], space-separated): what they
-- wrote was never acked nor dispatched here. A redelivery on this replica re-appends such an
-- entry (write.lua); one on another replica was a "duplicate" there. Either way it is claimed
-- here now unless a re-append already took it: the batch id on the entry says which.
-- And this replica's earlier claims whose answer never came (ARGV[6]): what they claimed is
-- returned again. Every claim is marked with this call's token (ARGV[7]).
local lost, lost_claims, token = {}, {}, ARGV[7]
for id in string.gmatch(ARGV[5] or '', '%S+') do lost[id] = true end
for id in string.gmatch(ARGV[6] or '', '%S+') do lost_claims[id] = true end
if next(lost) or next(lost_claims) then
  for _, key in ipairs(redis.call('ZRANGE', p .. ':eu:' .. me, 0, -1)) do
    if #entries >= limit then break end
    local k = p .. ':e:' .. key
    local f = redis.call('HMGET', k, 'b', 'c')
    if (f[1] and lost[f[1]]) or (f[2] and lost_claims[f[2]]) then
      redis.call('HSET', k, 'b', 'reclaimed', 'c', token)
      entries[#entries + 1] = entry_fields(p, key)
    end
  end
end
if next(lost_claims) then
  for _, id in ipairs(redis.call('ZRANGE', p .. ':ou:' .. me, 0, -1)) do
    if #outputs >= limit then break end
    local c = redis.call('HGET', p .. ':o:' .. id, 'c')
    if c and lost_claims[c] then
      redis.call('HSET', p .. ':o:' .. id, 'c', token)
      outputs[#outputs + 1] = output_fields(p, id)
    end
  end
end

local gone
if ARGV[8] == '1' then
  gone = redis.call('ZRANGEBYSCORE', p .. ':replicas', '-inf', '(' .. now)
else
  -- Only those that gave their lease up (a clean stop, lease.lua): surely gone.
  gone = redis.call('ZRANGEBYSCORE', p .. ':replicas', '-inf', 0)
end
for _, dead in ipairs(gone) do
  if dead ~= me then
    local room = limit - #entries
    if room > 0 then
      local keys = redis.call('ZRANGE', p .. ':eu:' .. dead, 0, room - 1, 'WITHSCORES')
      for i = 1, #keys, 2 do
        local key, seq = keys[i], keys[i + 1]
        redis.call('HSET', p .. ':e:' .. key, 'own', me, 'c', token)
        redis.call('ZREM', p .. ':eu:' .. dead, key)
        redis.call('ZADD', p .. ':eu:' .. me, seq, key)
        entries[#entries + 1] = entry_fields(p, key)
      end
    end
    room = limit - #outputs
    if room > 0 then
      local ids = redis.call('ZRANGE', p .. ':ou:' .. dead, 0, room - 1)
      for _, id in ipairs(ids) do
        redis.call('HSET', p .. ':o:' .. id, 'own', me, 'c', token)
        redis.call('ZREM', p .. ':ou:' .. dead, id)
        redis.call('ZADD', p .. ':ou:' .. me, id, id)
        outputs[#outputs + 1] = output_fields(p, id)
      end
    end
    if redis.call('ZCARD', p .. ':eu:' .. dead) == 0
      and redis.call('ZCARD', p .. ':ou:' .. dead) == 0 then
      redis.call('ZREM', p .. ':replicas', dead)
    end
  end
end
return { entries, outputs, lapsed }
