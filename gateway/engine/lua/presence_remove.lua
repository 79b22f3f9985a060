#!lua flags=allow-oom
-- Remove one presence entry. KEYS[1] members hash, KEYS[2] expiry zset; ARGV[1] client
-- allow-oom: removing frees memory, so it works when Redis is full. Only keys of the wrong
-- type are dropped; any other error is returned as it is.

local function remove()
  redis.call('hdel', KEYS[1], ARGV[1])
  redis.call('zrem', KEYS[2], ARGV[1])
end
local ok, err = pcall(remove)
if not ok then
  if not wrongType(err) then return redis.error_reply(errorText(err)) end
  redis.call('del', KEYS[1], KEYS[2])
end
return 1
