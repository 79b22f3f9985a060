#!lua flags=no-writes,allow-oom
-- Live clients of a room: entries whose expiry is still ahead. KEYS[1] expiry zset; ARGV[1] now (ms)
-- O(log n) and reads no member, so asking whether a room is small enough to announce a join
-- or leave costs the same in any room (presence_get returns every member). A key of the wrong
-- type counts as an empty room; presence_add replaces it.

local ok, count = pcall(redis.call, 'zcount', KEYS[1], '(' .. ARGV[1], '+inf')
if not ok then
  if not wrongType(count) then return redis.error_reply(errorText(count)) end
  return 0
end
return count
