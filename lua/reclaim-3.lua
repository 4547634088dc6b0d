--[[
  Re-claim fires whose lease expired (their replica died between claim and ack): lease them
  again to the caller and return them with their definitions. A fire keeps its id, so its
  re-publication carries the same task id. Leases of removed entries are dropped.

  KEYS[1] leases ZSET   "<instant ms>:<entry name>" -> lease expiry (ms)
  KEYS[2] defs HASH
  KEYS[3] fire log STREAM
  ARGV[1] now override (ms, '' = Redis TIME), ARGV[2] batch bound, ARGV[3] lease (ms)
  ARGV[4] replica id, ARGV[5] fire log length (0 = no log)
  Returns {now, {name, instant, definition, ...}}
]]
--@include now_ms
--@include log_fires

local now = now_ms(ARGV[1])
local lease_until = now + tonumber(ARGV[3])
local fires, logged = {}, {}
local expired = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(expired) do
  local sep = string.find(member, ':', 1, true)
  local name = string.sub(member, sep + 1)
  local def = redis.call('HGET', KEYS[2], name)
  if def then
    local instant = tonumber(string.sub(member, 1, sep - 1))
    redis.call('ZADD', KEYS[1], lease_until, member)
    fires[#fires + 1] = name
    fires[#fires + 1] = instant
    fires[#fires + 1] = def
    logged[#logged + 1] = name
    logged[#logged + 1] = instant
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
log_fires(KEYS[3], tonumber(ARGV[5]), logged, now, ARGV[4], 'reclaim')
return {now, fires}
