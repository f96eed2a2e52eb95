-- One batch of the journal, atomically (Redis runs a script to the end before anything
-- else): envelopes deduplicated by key, their marks, answers deduplicated by key, the
-- answers' marks; and the writing replica's lease renewed.
--
-- KEYS: none declared (the key names are computed from the prefix: one Redis primary, not a
-- cluster). ARGV[1] prefix, ARGV[2] replica id, ARGV[3] lease in ms, ARGV[4] the batch as
-- JSON: {id, lost, seq_floor, id_floor, entries:[{key,env,kind,raw,at,dispatched}],
-- marks:[{key,kind,error}], outputs:[{key,lane,method,args,at,aat?,ws?}],
-- output_marks:[{id,kind,at,result,error}]}.
--
-- ARGV[6] this process's token for a stable replica id, or '' (`fields.lua`'s fence).
-- ARGV[5] the bot this replica serves (`P:bot`, written again when it is gone: a Redis that
-- lost its data must not let another bot in), or '' before it knows.
--
-- Returns {appended, outputs, fenced, fenced_marks, lapsed, foreign}: appended[i] is the new entry's
-- seq, or 0 for a duplicate; outputs[i] is the new answer's id, or the stored answer's fields
-- (fields.lua) when its key was written before; fenced the ids of answers whose marks were
-- not applied because another replica owns them now, fenced_marks how many entry marks were
-- not applied for that reason; lapsed 1 when this replica's lease had run out (or was gone)
-- before this batch renewed it; foreign 1 when `P:bot` names another bot.
--
-- Fencing: a mark applies only to what the writing replica still owns. A replica paused past
-- its lease may wake to find its entries and answers taken over; its late marks (an attempt
-- its sender is about to make, a handler's outcome) are refused, so it neither posts an
-- answer the taker posts nor overwrites the taker's record.
local p, me, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
fence(p, me, ARGV[6])
local batch = cjson.decode(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = tonumber(redis.call('ZSCORE', p .. ':replicas', me) or '0') or 0
local lapsed = 0
if held < now then lapsed = 1 end
redis.call('ZADD', p .. ':replicas', now + lease, me)
local foreign = claim_bot(p, ARGV[5])

-- The counters never go below what the writing replica has seen: a Redis that lost its last
-- writes (a crash with appendfsync everysec, a failover) would otherwise hand out again seqs
-- and answer ids a live replica still holds, and its late marks would land on other answers.
local function not_below(counter, floor)
  local n = tonumber(floor or '0') or 0
  if n > 0 and (tonumber(redis.call('GET', counter) or '0') or 0) < n then
    redis.call('SET', counter, floor)
  end
end
not_below(p .. ':seq', batch.seq_floor)
not_below(p .. ':oseq', batch.id_floor)

local function finished(st) return st >= 2 end

-- Entries and answers that finished well (state 2: done, sent) are most of what Redis holds,
-- so they have no set of their own: they are the finished set (`efs`, `ofs`) less the failed
-- (state 3). One sorted-set member fewer each: about 110 bytes an event, and as many an
-- answer. Every other state has its set `st:<state>` / `ost:<state>`.
local function by_state(st) return st ~= 2 end

-- Moves an entry between the sets that index it when its state changes.
local function entry_state(key, h, old, new)
  if old == new then return end
  local seq = tonumber(h.seq)
  if by_state(old) then redis.call('ZREM', p .. ':st:' .. old, key) end
  if by_state(new) then redis.call('ZADD', p .. ':st:' .. new, seq, key) end
  if finished(new) and not finished(old) then
    redis.call('ZREM', p .. ':eu:' .. h.own, key)
    redis.call('ZADD', p .. ':efs', seq, key)
  elseif finished(old) and not finished(new) then
    redis.call('ZADD', p .. ':eu:' .. h.own, seq, key)
    redis.call('ZREM', p .. ':efs', key)
  end
end

-- Batches of this replica whose answer never came back (a timeout, a dropped connection):
-- they may have been written. Their envelopes were not acked, so Slack delivers them again;
-- such a delivery finds its entry written by a lost batch of this same replica and takes it
-- as fresh, or it would be a "duplicate" of an entry nobody handles.
local lost = {}
for _, id in ipairs(batch.lost or {}) do lost[id] = true end

local appended = {}
for i, e in ipairs(batch.entries or {}) do
  local k = p .. ':e:' .. e.key
  local f = redis.call('HMGET', k, 'seq', 'st', 'own', 'b', 'at', 'att')
  if f[1] then
    local old = tonumber(f[2])
    if f[3] == me and f[4] and lost[f[4]] and not finished(old) then
      local new = old
      if e.dispatched then new = 1 end
      redis.call('HSET', k, 'b', batch.id, 'st', new)
      if new == 1 and tonumber(f[6]) == 0 then redis.call('HSET', k, 'att', 1) end
      entry_state(e.key, { seq = f[1], own = f[3], at = f[5] }, old, new)
      appended[i] = tonumber(f[1])
    else
      appended[i] = 0
    end
  else
    local seq = redis.call('INCR', p .. ':seq')
    local st = 0
    if e.dispatched then st = 1 end
    redis.call('HSET', k, 'seq', seq, 'key', e.key, 'env', e.env, 'kind', e.kind,
      'at', e.at, 'st', st, 'att', st, 'own', me, 'b', batch.id)
    redis.call('SET', p .. ':r:' .. e.key, e.raw)
    redis.call('ZADD', p .. ':es', seq, e.key)
    redis.call('ZADD', p .. ':st:' .. st, seq, e.key)
    redis.call('ZADD', p .. ':eu:' .. me, seq, e.key)
    appended[i] = seq
  end
end

local fenced_marks = 0
for _, m in ipairs(batch.marks or {}) do
  local k = p .. ':e:' .. m.key
  local f = redis.call('HMGET', k, 'seq', 'st', 'own', 'at')
  if f[1] and f[3] ~= me then
    fenced_marks = fenced_marks + 1
  elseif f[1] then
    local h = { seq = f[1], own = f[3], at = f[4] }
    local old = tonumber(f[2])
    local new = old
    if m.kind == 'dispatched' then
      new = 1
      redis.call('HINCRBY', k, 'att', 1)
    elseif m.kind == 'done' then
      new = 2
    else
      new = 3
      redis.call('HSET', k, 'err', m.error)
    end
    redis.call('HSET', k, 'st', new)
    entry_state(m.key, h, old, new)
  end
end

local function output_state(id, h, old, new)
  if old == new then return end
  if by_state(old) then redis.call('ZREM', p .. ':ost:' .. old, id) end
  if by_state(new) then redis.call('ZADD', p .. ':ost:' .. new, id, id) end
  if finished(new) and not finished(old) then
    redis.call('ZREM', p .. ':ou:' .. h.own, id)
    redis.call('ZADD', p .. ':ofs', tonumber(id), id)
  end
end

local outputs = {}
for i, o in ipairs(batch.outputs or {}) do
  local known = redis.call('HGET', p .. ':ok', o.key)
  local mine = nil
  if known then
    -- Written by a batch of this replica whose answer was lost: the writer never handed it
    -- to its sender, so it is new to it now.
    local f = redis.call('HMGET', p .. ':o:' .. known, 'own', 'b', 'st')
    if f[1] == me and f[2] and lost[f[2]] and tonumber(f[3]) == 0 then
      redis.call('HSET', p .. ':o:' .. known, 'b', batch.id)
      mine = tonumber(known)
    end
  end
  if mine then
    outputs[i] = mine
  elseif known then
    outputs[i] = output_fields(p, known)
  else
    local id = redis.call('INCR', p .. ':oseq')
    redis.call('HSET', p .. ':o:' .. id, 'id', id, 'key', o.key, 'lane', o.lane,
      'method', o.method, 'at', o.at, 'st', 0, 'att', 0, 'own', me, 'b', batch.id)
    if o.aat then redis.call('HSET', p .. ':o:' .. id, 'aat', o.aat) end
    if o.ws then redis.call('HSET', p .. ':o:' .. id, 'ws', o.ws) end
    redis.call('SET', p .. ':oa:' .. id, o.args)
    redis.call('HSET', p .. ':ok', o.key, id)
    redis.call('ZADD', p .. ':os', id, id)
    redis.call('ZADD', p .. ':ost:0', id, id)
    redis.call('ZADD', p .. ':ou:' .. me, id, id)
    outputs[i] = id
  end
end

local fenced = {}
for _, m in ipairs(batch.output_marks or {}) do
  local k = p .. ':o:' .. m.id
  local f = redis.call('HMGET', k, 'st', 'own', 'at')
  if f[1] and f[2] ~= me then
    fenced[#fenced + 1] = m.id
  elseif f[1] then
    local old = tonumber(f[1])
    local new = old
    if m.kind == 'attempt' then
      redis.call('HINCRBY', k, 'att', 1)
      redis.call('HSET', k, 'aat', m.at)
    elseif m.kind == 'not_posted' then
      redis.call('HDEL', k, 'aat')
    elseif m.kind == 'sent' then
      new = 2
      redis.call('HSET', k, 'st', 2, 'res', m.result)
    else
      new = 3
      redis.call('HSET', k, 'st', 3, 'err', m.error)
    end
    output_state(tostring(m.id), { own = f[2], at = f[3] }, old, new)
  end
end

return { appended, outputs, fenced, fenced_marks, lapsed, foreign }
