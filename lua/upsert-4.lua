--[[
  Create or replace an entry's definition, keeping its run state.

  When the schedule signature is unchanged the pending instant (and cron buffer) is kept, so
  a re-save neither skips nor repeats a fire; otherwise the next instant is computed afresh
  (every: the first anchor + k * interval after now; once: its instant; cron: the entry is
  put in the refill set and the caller computes its instants).

  KEYS[1] defs HASH      name -> definition (msgpack map)
  KEYS[2] meta HASH      name -> run state (msgpack array, includes/meta.lua)
  KEYS[3] due ZSET       name -> due score (ms)
  KEYS[4] refill SET     cron entries whose instant buffer needs computing
  ARGV[1] now override (ms, '' = Redis TIME)
  ARGV[2] entry name
  ARGV[3] definition blob
  ARGV[4] plan: msgpack array of meta positions 1..13
  ARGV[5] change channel, ARGV[6] shard name (published on the channel)
  ARGV[7] carried run state, msgpack {last_run_at, total_run_count, last_fire} or ''
          (an entry moving in from another shard)
  Returns {revision, next instant (0 = none)}
]]
--@include now_ms
--@include meta
--@include due_score
--@include schedule_next

local now = now_ms(ARGV[1])
local name = ARGV[2]
local m = cmsgpack.unpack(ARGV[4])
local old = decode_meta(redis.call('HGET', KEYS[2], name))

local carried = {0, 0, 0}
if old then
  carried = {old[LAST_RUN], old[COUNT], old[LAST_FIRE]}
elseif ARGV[7] ~= '' then
  carried = cmsgpack.unpack(ARGV[7])
end
m[REV] = (old and old[REV] or 0) + 1
m[LAST_RUN], m[COUNT], m[LAST_FIRE] = carried[1], carried[2], carried[3]
if m[PAUSED] < 0 then
  m[PAUSED] = old and old[PAUSED] or 0
end

if old and old[SIG] == m[SIG] then
  m[ANCHOR] = old[ANCHOR]
  m[NEXT], m[BUF], m[CURSOR], m[DONE] = old[NEXT], old[BUF], old[CURSOR], old[DONE]
else
  m[NEXT], m[BUF], m[CURSOR], m[DONE] = 0, {}, 0, 0
  redis.call('SREM', KEYS[4], name)
  if m[KIND] == EVERY then
    if m[ANCHOR] < 0 then
      m[ANCHOR] = now
    end
    local after = math.max(now, m[START] - 1)
    local k = math.max(0, math.floor((after - m[ANCHOR]) / m[INTERVAL]) + 1)
    m[NEXT] = m[ANCHOR] + k * m[INTERVAL]
    if m[END] > 0 and m[NEXT] > m[END] then
      m[NEXT] = 0
    end
  elseif m[KIND] == ONCE then
    m[NEXT] = m[ANCHOR]
  else
    m[CURSOR] = now
    redis.call('SADD', KEYS[4], name)
  end
end
if m[MAX_RUNS] > 0 and m[COUNT] >= m[MAX_RUNS] then
  m[NEXT] = 0
  redis.call('SREM', KEYS[4], name)
end

redis.call('HSET', KEYS[1], name, ARGV[3])
redis.call('HSET', KEYS[2], name, cmsgpack.pack(m))
schedule_next(m, KEYS[3], name)
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {m[REV], m[NEXT]}
