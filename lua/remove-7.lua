--[[
  Remove an entry from its shard, or quarantine it when a reason is given. When the shard is
  left without entries its leases and fire log go too, so no key is left behind.

  KEYS[1] defs HASH, KEYS[2] meta HASH, KEYS[3] due ZSET, KEYS[4] refill SET,
  KEYS[5] quarantine HASH   name -> msgpack {reason, at_ms, definition, meta}
  KEYS[6] leases ZSET, KEYS[7] fire log STREAM
  ARGV[1] now override (ms, '' = Redis TIME)
  ARGV[2] entry name
  ARGV[3] change channel, ARGV[4] shard name
  ARGV[5] quarantine reason ('' = plain removal)
  Returns the entry's run-state blob as it was (false when the shard held no such entry)
]]
--@include now_ms
--@include quarantine

local name = ARGV[2]
local meta = redis.call('HGET', KEYS[2], name)
local exists = meta or redis.call('HEXISTS', KEYS[1], name) == 1
  or redis.call('HEXISTS', KEYS[5], name) == 1
if ARGV[5] ~= '' then
  quarantine(KEYS, name, ARGV[5], now_ms(ARGV[1]))
else
  drop_entry(KEYS, name)
end
if exists then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
if redis.call('EXISTS', KEYS[1], KEYS[5]) == 0 then
  redis.call('DEL', KEYS[6], KEYS[7])
end
return meta or (exists and '') or false
