--[[
  Heartbeat of one replica in the cluster's membership: join, beat or leave, forget the
  members whose expiry passed, and announce any change of the set of members.

  KEYS[1] members ZSET  replica id -> expiry (epoch ms, Redis TIME)
  ARGV[1] replica id
  ARGV[2] ttl (ms): the replica expires this long after its heartbeat
  ARGV[3] mode: 'join' or 'beat' (add or refresh the replica), 'leave' (remove it)
  ARGV[4] channel: published with the replica id when a member joined, left or expired
  Returns the live replica ids
]]
--@include now_ms

local now = now_ms()
local changed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) > 0
if ARGV[3] == 'leave' then
  changed = redis.call('ZREM', KEYS[1], ARGV[1]) > 0 or changed
else
  changed = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) > 0 or changed
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  -- the set outlives its longest-lived member, and no longer
  redis.call('PEXPIREAT', KEYS[1], last[2])
end
if changed then
  redis.call('PUBLISH', ARGV[4], ARGV[1])
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
