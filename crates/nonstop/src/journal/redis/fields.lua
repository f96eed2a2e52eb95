-- Put before write.lua, take_over.lua and lease.lua (mod.rs joins them). An entry's envelope and an
-- answer's arguments live in keys of their own (`r:<key>`, `oa:<id>`), not in the hashes:
-- a hash with a field over 64 bytes takes Redis's general encoding, about twice the memory
-- of its compact one. These return what HGETALL would, with that field added.
local function fields_with(p, hash, own, field, name)
  local h = redis.call('HGETALL', p .. ':' .. hash .. ':' .. name)
  local value = redis.call('GET', p .. ':' .. own .. ':' .. name)
  if value then h[#h + 1] = field; h[#h + 1] = value end
  return h
end

local function entry_fields(p, key) return fields_with(p, 'e', 'r', 'raw', key) end
local function output_fields(p, id) return fields_with(p, 'o', 'oa', 'args', id) end

-- Writes `bot` as the bot the journal serves (`P:bot`) when the name is gone (a Redis that
-- lost its data, a FLUSHDB), so that no other bot is let in afterwards; 1 when it names
-- another bot, else 0. Nothing when `bot` is '' (not known yet).
local function claim_bot(p, bot)
  if bot == nil or bot == '' then return 0 end
  local held = redis.call('GET', p .. ':bot')
  if not held then
    redis.call('SET', p .. ':bot', bot)
    return 0
  end
  if held ~= bot then return 1 end
  return 0
end

-- With a stable replica id (`token` not ''): refuses the whole call when another process took
-- the id since (identity.lua), before anything is written: a process paused while its
-- successor started under its id must not act on what is now the successor's.
local function fence(p, me, token)
  if token == nil or token == '' then return end
  if redis.call('GET', p .. ':inc:' .. me) ~= token then
    error({ err = 'NONSTOP_FENCED another process holds this replica id now' })
  end
end
