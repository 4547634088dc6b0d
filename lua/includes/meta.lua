-- The run-state record ("meta") of an entry: a msgpack array whose positions are named here.
-- Positions 1..13 come from the definition (Entry.plan() in luasched/entry.py), 14..21 are
-- owned by the scripts. Instants are epoch ms; 0 means "none" unless stated.
local SCHEMA = 1
local KIND, INTERVAL, ANCHOR, START, END = 2, 3, 4, 5, 6
local MAX_RUNS, MISFIRE, GRACE, MAX_CATCHUP, JITTER, PAUSED, SIG = 7, 8, 9, 10, 11, 12, 13
local REV, LAST_RUN, COUNT, LAST_FIRE, NEXT, BUF, CURSOR, DONE = 14, 15, 16, 17, 18, 19, 20, 21
local META_LEN = 21
local EVERY, CRON, ONCE = 1, 2, 3
local COALESCE, SKIP, ALL = 1, 2, 3

local function decode_meta(raw)
  if not raw then
    return nil, 'run state missing'
  end
  local ok, m = pcall(cmsgpack.unpack, raw)
  if not ok or type(m) ~= 'table' then
    return nil, 'run state is not msgpack'
  end
  if m[1] ~= SCHEMA then
    return nil, 'run state schema version ' .. tostring(m[1]) .. ', expected ' .. SCHEMA
  end
  if #m ~= META_LEN then
    return nil, 'run state has ' .. #m .. ' fields, expected ' .. META_LEN
  end
  return m
end
