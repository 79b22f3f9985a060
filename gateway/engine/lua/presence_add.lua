#!lua
-- Add or refresh a presence entry.
-- KEYS[1] members hash (client -> member JSON), KEYS[2] expiry zset (client -> expires at ms)
-- ARGV[1] client, ARGV[2] member JSON, ARGV[3] expires at (ms), ARGV[4] TTL ms for both keys
--
-- The shebang (no flags) makes a full Redis refuse the script before it runs (OOM error), so
-- the room's other members are never touched. Only keys of the wrong type are replaced.

local function write()
  redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
  redis.call('zadd', KEYS[2], ARGV[3], ARGV[1])
end
local ok, err = pcall(write)
if not ok then
  if not wrongType(err) then return redis.error_reply(errorText(err)) end
  -- Keys of the wrong type (written by someone else) are replaced.
  redis.call('del', KEYS[1], KEYS[2])
  write()
end
redis.call('pexpire', KEYS[1], ARGV[4])
redis.call('pexpire', KEYS[2], ARGV[4])
return 1
