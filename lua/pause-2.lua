--[[
  Pause or resume an entry. A paused entry leaves the due ZSET and keeps its pending instant;
  on resume it goes back with that instant, and the claim's misfire policy decides what the
  instants missed while paused become (coalesce: one catch-up fire).

  KEYS[1] meta HASH, KEYS[2] due ZSET
  ARGV[1] entry name, ARGV[2] 1 = pause, 0 = resume
  ARGV[3] change channel, ARGV[4] shard name
  Returns 1, or 0 when there is no such entry
]]
--@include meta
--@include due_score
--@include schedule_next

local name = ARGV[1]
local m = decode_meta(redis.call('HGET', KEYS[1], name))
if not m then
  return 0
end
m[PAUSED] = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], name, cmsgpack.pack(m))
schedule_next(m, KEYS[2], name)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
