#!lua flags=allow-oom
-- Live members of a room; expired entries are removed first.
-- KEYS[1] members hash, KEYS[2] expiry zset; ARGV[1] now (ms)
-- Returns the member JSON values.
--
-- allow-oom: listing (and removing expired entries, which frees memory) works when Redis is
-- full. Only keys of the wrong type are dropped; any other error is returned as it is.

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
  if not wrongType(members) then return redis.error_reply(errorText(members)) end
  redis.call('del', KEYS[1], KEYS[2])
  return {}
end
return members
