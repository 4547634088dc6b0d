--[[
  Acknowledge published fires: their leases end and they can never be claimed again.

  KEYS[1] leases ZSET   "<instant ms>:<entry name>" -> lease expiry (ms)
  ARGV    the fire ids to acknowledge
  Returns the number of leases that ended
]]
local n = 0
for i = 1, #ARGV, 500 do
  n = n + redis.call('ZREM', KEYS[1], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
return n
