-- Read a room's position and publications.
-- KEYS[1] stream, KEYS[2] meta hash
-- ARGV[1] epoch to create if the room has none, ARGV[2] history TTL ms,
-- ARGV[3] first offset to return ('' = the newest ARGV[4]), ARGV[4] limit (0 = position only),
-- ARGV[5] most bytes of entry fields to return, 0 for no cap (one entry is always returned)
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
local maxBytes = tonumber(ARGV[5]) or 0
-- Entries are fetched in chunks, so a byte cap stops the read without loading the rest: what
-- one read holds in Redis (and in its reply buffer) stays near the cap.
local CHUNK = 50
local entries = {}
local bytes = 0
local cursor = ARGV[3]
local reverse = cursor == ''
if reverse then cursor = '+' end
while #entries < limit do
  local count = math.min(CHUNK, limit - #entries)
  local ok, chunk
  if reverse then
    ok, chunk = pcall(redis.call, 'xrevrange', KEYS[1], cursor, '-', 'COUNT', count)
  else
    ok, chunk = pcall(redis.call, 'xrange', KEYS[1], cursor, '+', 'COUNT', count)
  end
  if not ok then
    return {epoch, top, {}, 'stream unreadable'}
  end
  local full = false
  for _, entry in ipairs(chunk) do
    local size = 0
    for _, value in ipairs(entry[2]) do size = size + #value end
    if maxBytes > 0 and #entries > 0 and bytes + size > maxBytes then
      full = true
      break
    end
    bytes = bytes + size
    entries[#entries + 1] = entry
  end
  if full or #chunk < count then break end
  -- Continue after the last entry (an exclusive range, Redis 6.2+).
  cursor = '(' .. chunk[#chunk][1]
end
return {epoch, top, entries, ''}
