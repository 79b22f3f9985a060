-- Publish one message into a room: idempotency check, history append and broadcast, atomically.
-- KEYS[1] stream, KEYS[2] meta hash (e = epoch, s = top offset), KEYS[3] idempotency result key
-- ARGV[1] body (JSON without epoch/offset), ARGV[2] history size, ARGV[3] history TTL ms,
-- ARGV[4] idempotency TTL ms, ARGV[5] epoch to use if the room has none, ARGV[6] channel
-- Returns {epoch, offset, duplicate (0|1)}.

local cached = redis.call('get', KEYS[3])
if cached then
  local sep = string.find(cached, ':', 1, true)
  if sep then
    local offset = tonumber(string.sub(cached, sep + 1))
    if offset then
      return {string.sub(cached, 1, sep - 1), offset, 1}
    end
  end
  -- A result we did not write: treat the mid as new and overwrite it below.
end

-- Meta of the wrong type (written by someone else) is replaced: the room gets a new epoch.
local ok, epoch = pcall(redis.call, 'hget', KEYS[2], 'e')
if not ok then
  redis.call('del', KEYS[2])
  epoch = false
end
if not epoch then
  epoch = ARGV[5]
  redis.call('del', KEYS[2])
  redis.call('hset', KEYS[2], 'e', epoch)
end
local okIncr, offset = pcall(redis.call, 'hincrby', KEYS[2], 's', 1)
if not okIncr then
  -- A non-integer top offset cannot be continued: start a new epoch.
  epoch = ARGV[5]
  redis.call('del', KEYS[2])
  redis.call('hset', KEYS[2], 'e', epoch)
  offset = redis.call('hincrby', KEYS[2], 's', 1)
end

-- A new epoch starts an empty stream: whatever is left belonged to a lost epoch.
if offset == 1 then
  redis.call('del', KEYS[1])
end
local added = pcall(redis.call, 'xadd', KEYS[1], 'MAXLEN', ARGV[2], tostring(offset), 'd', ARGV[1])
if not added then
  -- The stream holds garbage (wrong type, or entry ids above our offsets): drop it and append.
  redis.call('del', KEYS[1])
  redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[2], tostring(offset), 'd', ARGV[1])
end
redis.call('pexpire', KEYS[1], ARGV[3])
redis.call('pexpire', KEYS[2], ARGV[3])
redis.call('publish', ARGV[6], 'p:' .. offset .. ':' .. epoch .. ':' .. ARGV[1])
redis.call('set', KEYS[3], epoch .. ':' .. offset, 'PX', ARGV[4])
return {epoch, offset, 0}
