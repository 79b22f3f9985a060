#!lua flags=allow-oom
-- Read a room's position and publications.
-- KEYS[1] stream, KEYS[2] meta hash
-- ARGV[1] epoch to create if the room has none, ARGV[2] history TTL ms,
-- ARGV[3] first offset to return ('' = the newest ARGV[4]), ARGV[4] limit (0 = position only),
-- ARGV[5] most bytes of entry bodies to return (at least one entry is returned)
-- Returns {epoch, top offset, entries, problem, truncated (0|1)}: the top offset as a decimal
-- string (exact near 2^53, unlike an integer reply in some decoders), entries as XRANGE returns
-- them (oldest first with a start, newest first without), problem a string when the stream
-- could not be read.
--
-- allow-oom: reads keep working when Redis is full; the one write (the epoch of a room that
-- has none) is a few bytes. MAX_OFFSET, errorText() and wrongType() come from prelude.lua.

-- Entries are fetched in chunks, so a byte cap stops the read without loading the rest.
local CHUNK = 50

local function newEpoch()
  redis.call('del', KEYS[2])
  redis.call('hset', KEYS[2], 'e', ARGV[1])
  redis.call('pexpire', KEYS[2], ARGV[2])
  return {ARGV[1], '0', {}, '', 0}
end

local okMeta, meta = pcall(redis.call, 'hmget', KEYS[2], 'e', 's')
if not okMeta then
  if not wrongType(meta) then return redis.error_reply(errorText(meta)) end
  return newEpoch()
end
local epoch = meta[1]
if not epoch then
  return newEpoch()
end
local top = 0
if meta[2] then
  top = tonumber(meta[2])
  if not top or top < 0 or top > MAX_OFFSET or top ~= math.floor(top) then
    -- A top offset outside what a client can hold: the room is unusable, as publish.lua sees it.
    return newEpoch()
  end
end

top = string.format('%d', top)
local limit = tonumber(ARGV[4])
if limit == 0 then
  return {epoch, top, {}, '', 0}
end
local maxBytes = tonumber(ARGV[5])
local entries = {}
local bytes = 0
local truncated = 0
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
    if not wrongType(chunk) then return redis.error_reply(errorText(chunk)) end
    return {epoch, top, {}, 'stream unreadable', 0}
  end
  for _, entry in ipairs(chunk) do
    local size = 0
    for _, value in ipairs(entry[2]) do size = size + #value end
    if #entries > 0 and bytes + size > maxBytes then
      truncated = 1
      break
    end
    bytes = bytes + size
    entries[#entries + 1] = entry
  end
  if truncated == 1 or #chunk < count then break end
  -- Continue after the last entry (exclusive ranges, Redis 6.2+).
  cursor = '(' .. chunk[#chunk][1]
end
return {epoch, top, entries, '', truncated}
