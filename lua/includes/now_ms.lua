-- now_ms(override): the current instant in epoch milliseconds.
-- Redis TIME decides; a non-empty override (tests travelling in time) replaces it.
local function now_ms(override)
  if override ~= nil and override ~= '' then
    return tonumber(override)
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
