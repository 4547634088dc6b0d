--[[
  Fire an entry once now, outside its schedule, through the lease path: the fire is leased
  with an expiry of now, so the next replica step re-claims it (reclaim), publishes and acks
  it like any other fire. The entry's schedule and run state are not changed.

  KEYS[1] defs HASH, KEYS[2] leases ZSET, KEYS[3] fire log STREAM
  ARGV[1] now override (ms, '' = Redis TIME), ARGV[2] entry name
  ARGV[3] change channel, ARGV[4] shard name
  ARGV[5] who triggered (for the fire log), ARGV[6] fire log length (0 = no log)
  Returns the fire's instant (ms), or false when there is no such entry
]]
--@include now_ms
--@include log_fires
--@include ms_str

local now = now_ms(ARGV[1])
local name = ARGV[2]
if redis.call('HEXISTS', KEYS[1], name) == 0 then
  return false
end
redis.call('ZADD', KEYS[2], now, ms_str(now) .. ':' .. name)
log_fires(KEYS[3], tonumber(ARGV[6]), {name, now}, now, ARGV[5], 'trigger')
redis.call('PUBLISH', ARGV[3], ARGV[4])
return now
