--[[
  Claim the due fires of one shard in one round trip, at most ARGV[2] fires.

  For each due entry (in due order): work out its due instants up to now, let the misfire
  policy pick the fires (instants later than the grace window are "missed": coalesce keeps
  the newest one when no instant is on time, skip drops them, all keeps up to max_catchup),
  lease each fire, update last_run_at / total_run_count, and re-score the entry at its next
  instant. A cron entry whose buffer does not reach past now is sent to the refill set
  first, so a long outage is caught up by the policy and not by the buffer's length.
  Entries whose records cannot be read are quarantined; the rest of the batch goes on.

  KEYS[1] due ZSET, KEYS[2] meta HASH, KEYS[3] defs HASH,
  KEYS[4] leases ZSET   "<instant ms>:<entry name>" -> lease expiry (ms)
  KEYS[5] refill SET, KEYS[6] quarantine HASH
  KEYS[7] fire log STREAM (capped; see includes/log_fires.lua)
  ARGV[1] now override (ms, '' = Redis TIME)
  ARGV[2] batch bound (fires, at most 5000)
  ARGV[3] lease (ms)
  ARGV[4] replica id (for the fire log), ARGV[5] fire log length (0 = no log)
  Returns {now, next due score (-1 = none), earliest lease expiry (-1 = none),
           entries waiting for a refill, {name, instant, definition, ...}, {name, reason, ...}}
]]
--@include now_ms
--@include meta
--@include due_score
--@include quarantine
--@include log_fires
--@include call_chunked

local LOW_WATER = 4
local now = now_ms(ARGV[1])
local batch = tonumber(ARGV[2])
local lease_until = now + tonumber(ARGV[3])
local replica, log_len = ARGV[4], tonumber(ARGV[5])
local entry_keys = {KEYS[3], KEYS[2], KEYS[1], KEYS[5], KEYS[6]}
local fires, bad = {}, {}
local nfires = 0

-- The due instants of m up to now: returns (instant(j) for j = 0..k-1, k, missed, ends)
-- where instants 0..missed-1 are older than the grace window and ends means no instant
-- follows the k-th. Returns nil when a cron buffer must be refilled first.
local function due_instants(m)
  local kind, s = m[KIND], m[NEXT]
  if kind == CRON then
    local buf = m[BUF]
    local k, missed = 0, 0
    while buf[k + 1] and buf[k + 1] <= now do
      if buf[k + 1] < now - m[GRACE] then
        missed = missed + 1
      end
      k = k + 1
    end
    if k == #buf and m[DONE] == 0 then
      return nil
    end
    return function(j) return buf[j + 1] end, k, missed, m[DONE] == 1 and k == #buf
  end
  if kind == ONCE then
    return function() return s end, 1, (s < now - m[GRACE]) and 1 or 0, true
  end
  local step = m[INTERVAL]
  local k = math.floor((now - s) / step) + 1
  local ends = false
  if m[END] > 0 and s + k * step > m[END] then
    k = math.floor((m[END] - s) / step) + 1
    ends = true
  end
  local missed = 0
  if now - m[GRACE] > s then
    missed = math.min(k, math.ceil((now - m[GRACE] - s) / step))
  end
  return function(j) return s + j * step end, k, missed, ends
end

local names = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'LIMIT', 0, batch)
local metas = #names > 0 and redis.call('HMGET', KEYS[2], unpack(names)) or {}
local defs = #names > 0 and redis.call('HMGET', KEYS[3], unpack(names)) or {}
-- writes are collected and sent once per command at the end
local meta_writes, due_adds, due_removals, leases, logged = {}, {}, {}, {}, {}

for i, name in ipairs(names) do
  if nfires >= batch then
    break
  end
  local m, err = decode_meta(metas[i])
  local def = defs[i]
  if not m or not def then
    err = err or 'definition missing'
    quarantine(entry_keys, name, err, now)
    bad[#bad + 1] = name
    bad[#bad + 1] = err
  else
    local instant, k, missed, ends = due_instants(m)
    if not instant then
      due_removals[#due_removals + 1] = name
      redis.call('SADD', KEYS[5], name)
    else
      local first
      if m[MISFIRE] == ALL then
        first = math.max(0, missed - m[MAX_CATCHUP])
      elseif missed < k or m[MISFIRE] == SKIP then
        first = missed
      else
        first = k - 1
      end
      local last, consumed = k, k
      if m[MAX_RUNS] > 0 and last - first > m[MAX_RUNS] - m[COUNT] then
        last = first + m[MAX_RUNS] - m[COUNT]
      end
      if last - first > batch - nfires then
        last = first + batch - nfires
        consumed = last
      end
      for j = first, last - 1 do
        local t = instant(j)
        leases[#leases + 1] = lease_until
        leases[#leases + 1] = ms_str(t) .. ':' .. name
        logged[#logged + 1] = name
        logged[#logged + 1] = t
        fires[#fires + 1] = name
        fires[#fires + 1] = t
        fires[#fires + 1] = def
      end
      if last > first then
        nfires = nfires + last - first
        m[COUNT] = m[COUNT] + last - first
        m[LAST_RUN] = now
        m[LAST_FIRE] = instant(last - 1)
      end
      if m[KIND] == CRON then
        local rest = {}
        for j = consumed + 1, #m[BUF] do
          rest[#rest + 1] = m[BUF][j]
        end
        m[BUF] = rest
        if m[DONE] == 0 and #rest < LOW_WATER then
          redis.call('SADD', KEYS[5], name)
        end
      end
      if consumed == k and ends then
        m[NEXT] = 0
      else
        m[NEXT] = instant(consumed)
      end
      if m[MAX_RUNS] > 0 and m[COUNT] >= m[MAX_RUNS] then
        m[NEXT] = 0
        redis.call('SREM', KEYS[5], name)
      end
      meta_writes[#meta_writes + 1] = name
      meta_writes[#meta_writes + 1] = cmsgpack.pack(m)
      if m[NEXT] > 0 and m[PAUSED] == 0 then
        due_adds[#due_adds + 1] = due_score(m, name, m[NEXT])
        due_adds[#due_adds + 1] = name
      else
        due_removals[#due_removals + 1] = name
      end
    end
  end
end

call_chunked('HSET', KEYS[2], meta_writes)
call_chunked('ZADD', KEYS[1], due_adds)
call_chunked('ZREM', KEYS[1], due_removals)
call_chunked('ZADD', KEYS[4], leases)
log_fires(KEYS[7], log_len, logged, now, replica, 'claim')

local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local lease = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
return {now, tonumber(head[2]) or -1, tonumber(lease[2]) or -1, redis.call('SCARD', KEYS[5]),
        fires, bad}
