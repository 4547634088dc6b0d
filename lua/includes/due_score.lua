--@include ms_str
-- due_score(m, name, instant): the score of an entry in the due ZSET. It is the instant itself,
-- plus a jitter that is deterministic per (entry, instant) when the entry asks for one.
local function due_score(m, name, instant)
  local jitter = m[JITTER]
  if jitter <= 0 then
    return instant
  end
  local h = tonumber(string.sub(redis.sha1hex(name .. ':' .. ms_str(instant)), 1, 8), 16)
  return instant + h % (jitter + 1)
end
