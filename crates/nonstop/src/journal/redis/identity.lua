-- A stable replica id (NONSTOP_REPLICA_ID): whether a process holds it now, and taking it.
-- ARGV[1] prefix, ARGV[2] the id, ARGV[3] 'look' or 'take', ARGV[4] the taker's token.
-- look: {1 when the id's lease still runs else 0, how many times it was renewed}; the
-- renewals (`P:beat:<id>`, lease.lua) tell a live holder from a dead one.
-- take: the id's token becomes ARGV[4] (`P:inc:<id>`): scripts called with another token
-- refuse to write (fence.lua), so an older process under this id writes nothing more.
local p, me, what = ARGV[1], ARGV[2], ARGV[3]
if what == 'look' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local held = tonumber(redis.call('ZSCORE', p .. ':replicas', me) or '0') or 0
  local live = 0
  if held >= now then live = 1 end
  return { live, tonumber(redis.call('GET', p .. ':beat:' .. me) or '0') or 0 }
end
redis.call('SET', p .. ':inc:' .. me, ARGV[4])
return { 1 }
