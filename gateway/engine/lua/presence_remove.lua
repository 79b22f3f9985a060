-- Remove one presence entry. KEYS[1] members hash, KEYS[2] expiry zset; ARGV[1] client

local function remove()
  redis.call('hdel', KEYS[1], ARGV[1])
  redis.call('zrem', KEYS[2], ARGV[1])
end
if not pcall(remove) then
  redis.call('del', KEYS[1], KEYS[2])
end
return 1
