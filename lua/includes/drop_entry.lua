-- drop_entry(keys, name): delete every trace of an entry from its shard.
-- keys = {defs, meta, due, refill, quarantine}
local function drop_entry(keys, name)
  redis.call('HDEL', keys[1], name)
  redis.call('HDEL', keys[2], name)
  redis.call('ZREM', keys[3], name)
  redis.call('SREM', keys[4], name)
  redis.call('HDEL', keys[5], name)
end
