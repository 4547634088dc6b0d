--[[
  Append computed cron instants to entries' buffers (instants are computed in Python with
  croniter and zoneinfo, off the claim path). Only instants after the buffer's tail are taken,
  so a claim that ran meanwhile is never undone; a group whose revision no longer matches
  (the entry was re-saved since it was read) is ignored.

  KEYS[1] meta HASH, KEYS[2] due ZSET, KEYS[3] refill SET
  ARGV[1] change channel, ARGV[2] shard name
  ARGV[3..] groups of 4: entry name, revision, done (1 = the calendar has no more instants),
            msgpack array of instants (ms, ascending)
  Returns the number of entries refilled
]]
--@include meta
--@include due_score
--@include schedule_next

local refilled = 0
for g = 3, #ARGV, 4 do
  local name = ARGV[g]
  local m = decode_meta(redis.call('HGET', KEYS[1], name))
  if not m then
    redis.call('SREM', KEYS[3], name)
  elseif m[REV] == tonumber(ARGV[g + 1]) then
    local buf = m[BUF]
    local tail = math.max(m[CURSOR], buf[#buf] or 0)
    for _, t in ipairs(cmsgpack.unpack(ARGV[g + 3])) do
      if t > tail then
        buf[#buf + 1] = t
        tail = t
      end
    end
    m[BUF], m[CURSOR] = buf, tail
    if ARGV[g + 2] == '1' then
      m[DONE] = 1
    end
    m[NEXT] = buf[1] or 0
    if m[MAX_RUNS] > 0 and m[COUNT] >= m[MAX_RUNS] then
      m[NEXT] = 0
    end
    redis.call('HSET', KEYS[1], name, cmsgpack.pack(m))
    schedule_next(m, KEYS[2], name)
    redis.call('SREM', KEYS[3], name)
    refilled = refilled + 1
  end
end
if refilled > 0 then
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return refilled
