-- Put before write.lua and take_over.lua (mod.rs joins them). An entry's envelope and an
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

