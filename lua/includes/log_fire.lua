--@include ms_str
-- log_fire(key, maxlen, name, instant, now, replica, kind): append a fire to the shard's capped
-- fire log (a stream; maxlen 0 turns logging off). Fields: e entry, i instant, c claimed at,
-- r replica, k kind ('claim', 'reclaim', 'trigger').
local function log_fire(key, maxlen, name, instant, now, replica, kind)
  if maxlen > 0 then
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'e', name, 'i', ms_str(instant),
      'c', ms_str(now), 'r', replica, 'k', kind)
  end
end
