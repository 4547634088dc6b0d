--@include drop_entry
-- quarantine(keys, name, reason, now): move an entry whose records cannot be used into the
-- quarantine HASH as msgpack {reason, at_ms, definition, meta} and out of the schedule.
-- keys = {defs, meta, due, refill, quarantine}
local function quarantine(keys, name, reason, now)
  local def = redis.call('HGET', keys[1], name) or ''
  local meta = redis.call('HGET', keys[2], name) or ''
  drop_entry(keys, name)
  redis.call('HSET', keys[5], name, cmsgpack.pack({reason, now, def, meta}))
end
