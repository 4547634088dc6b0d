-- schedule_next(m, kdue, name): record m[NEXT] in the due ZSET, or take the entry out of it
-- when it has no next instant or is paused.
local function schedule_next(m, kdue, name)
  if m[NEXT] > 0 and m[PAUSED] == 0 then
    redis.call('ZADD', kdue, due_score(m, name, m[NEXT]), name)
  else
    redis.call('ZREM', kdue, name)
  end
end
