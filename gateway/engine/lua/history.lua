-- Read a room's position and publications.
-- KEYS[1] stream, KEYS[2] meta hash
-- ARGV[1] epoch to create if the room has none, ARGV[2] history TTL ms,
-- ARGV[3] first offset to return ('' = the newest ARGV[4]), ARGV[4] limit (0 = position only)
-- Returns {epoch, top offset, entries, problem}: entries as XRANGE returns them (oldest first
-- with a start, newest first without), problem a string when the stream could not be read.

local okMeta, meta = pcall(redis.call, 'hmget', KEYS[2], 'e', 's')
if not okMeta then
  redis.call('del', KEYS[2])
  meta = {false, false}
end
local epoch = meta[1]
local top = 0
if meta[2] then
  top = tonumber(meta[2]) or 0
end
if not epoch then
  epoch = ARGV[1]
  redis.call('hset', KEYS[2], 'e', epoch)
  redis.call('pexpire', KEYS[2], ARGV[2])
  return {epoch, 0, {}, ''}
end

local limit = tonumber(ARGV[4])
if limit == 0 then
  return {epoch, top, {}, ''}
end
local ok, entries
if ARGV[3] == '' then
  ok, entries = pcall(redis.call, 'xrevrange', KEYS[1], '+', '-', 'COUNT', limit)
else
  ok, entries = pcall(redis.call, 'xrange', KEYS[1], ARGV[3], '+', 'COUNT', limit)
end
if not ok then
  return {epoch, top, {}, 'stream unreadable'}
end
return {epoch, top, entries, ''}
