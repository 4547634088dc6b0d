-- call_chunked(command, key, args): one command over a long argument list, in chunks small
-- enough for Lua's stack (an even chunk size keeps field/value and score/member pairs whole).
local function call_chunked(command, key, args)
  for i = 1, #args, 4000 do
    redis.call(command, key, unpack(args, i, math.min(i + 3999, #args)))
  end
end
