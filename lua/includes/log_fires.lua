-- log_fires(key, maxlen, fires, now, replica, kind): append one record for a batch of fires to
-- the shard's capped fire log (a stream; maxlen 0 turns logging off). Fields: c claimed at
-- (ms), r replica, k kind ('claim', 'reclaim', 'trigger'), f msgpack {name, instant, ...}.
local function log_fires(key, maxlen, fires, now, replica, kind)
  if maxlen > 0 and #fires > 0 then
    redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'c', string.format('%.0f', now),
      'r', replica, 'k', kind, 'f', cmsgpack.pack(fires))
  end
end
