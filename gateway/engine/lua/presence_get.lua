-- Live members of a room; expired entries are removed first.
-- KEYS[1] members hash, KEYS[2] expiry zset; ARGV[1] now (ms)
-- Returns the member JSON values.

local function live()
  local expired = redis.call('zrangebyscore', KEYS[2], '-inf', ARGV[1])
  for i = 1, #expired, 500 do
    redis.call('hdel', KEYS[1], unpack(expired, i, math.min(i + 499, #expired)))
  end
  redis.call('zremrangebyscore', KEYS[2], '-inf', ARGV[1])
  return redis.call('hvals', KEYS[1])
end
local ok, members = pcall(live)
if not ok then
  redis.call('del', KEYS[1], KEYS[2])
  return {}
end
return members
