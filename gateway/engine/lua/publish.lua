#!lua
-- Publish one message into a room: idempotency check, history append and broadcast, atomically.
-- KEYS[1] stream, KEYS[2] meta hash (e = epoch, s = top offset), KEYS[3] idempotency result key,
-- KEYS[4] the room's channel (declared like a key: on a cluster it must be in the room's slot)
-- ARGV[1] body (JSON without epoch/offset), ARGV[2] history size, ARGV[3] history TTL ms,
-- ARGV[4] idempotency TTL ms, 0 when the mid is fresh (made by the gateway for this publish: it
-- cannot be a retry, so there is nothing to look up and nothing to remember),
-- ARGV[5] epoch to use if the room has none,
-- ARGV[6] 'publish', or 'spublish' on a cluster (delivered within the room's shard only),
-- ARGV[7] expiry slack ms
-- Returns {epoch, offset, duplicate (0|1)}, the offset as a decimal string: integer replies near
-- 2^53 do not survive every client's decoder exactly, a string does.
--
-- The shebang (no flags) makes Redis refuse the whole script with an OOM error, before it
-- runs, when used memory is above maxmemory: a full Redis stores nothing and deletes nothing.
-- MAX_OFFSET, int() and corrupt() come from prelude.lua.

local remember = ARGV[4] ~= '0'
local cached = remember and redis.call('get', KEYS[3])
if cached then
  local sep = string.find(cached, ':', 1, true)
  if sep then
    local offset = tonumber(string.sub(cached, sep + 1))
    if offset and offset >= 1 and offset <= MAX_OFFSET and offset == math.floor(offset) then
      return {string.sub(cached, 1, sep - 1), int(offset), 1}
    end
  end
  -- A result we did not write: treat the mid as new and overwrite it below.
end

local function newEpoch()
  redis.call('del', KEYS[2])
  redis.call('hset', KEYS[2], 'e', ARGV[5])
  return ARGV[5]
end

local ok, epoch = pcall(redis.call, 'hget', KEYS[2], 'e')
if not ok then
  if not corrupt(epoch) then return redis.error_reply(errorText(epoch)) end
  -- Meta of the wrong type (written by someone else) is replaced: the room gets a new epoch.
  epoch = false
end
if not epoch then
  epoch = newEpoch()
end
local okIncr, offset = pcall(redis.call, 'hincrby', KEYS[2], 's', 1)
if not okIncr then
  if not corrupt(offset) then return redis.error_reply(errorText(offset)) end
  -- A top offset that is not an integer cannot be continued: start a new epoch.
  epoch = newEpoch()
  offset = redis.call('hincrby', KEYS[2], 's', 1)
end
if offset > MAX_OFFSET or offset < 1 then
  -- The room used up every offset JavaScript can hold exactly (or its meta was forged): a new
  -- epoch tells subscribers that earlier offsets are gone, as when history expires.
  epoch = newEpoch()
  offset = redis.call('hincrby', KEYS[2], 's', 1)
end

-- A new epoch starts an empty stream: whatever is left belonged to a lost epoch.
if offset == 1 then
  redis.call('del', KEYS[1])
end
local id = int(offset)
local added, addError = pcall(redis.call, 'xadd', KEYS[1], 'MAXLEN', ARGV[2], id, 'd', ARGV[1])
if not added then
  if not corrupt(addError) then return redis.error_reply(errorText(addError)) end
  -- The stream holds garbage (wrong type, or entry ids above our offsets): drop it and append.
  redis.call('del', KEYS[1])
  redis.call('xadd', KEYS[1], 'MAXLEN', ARGV[2], id, 'd', ARGV[1])
end
-- Stream and meta expire together, historyTtlMs to historyTtlMs + slack after the last publish.
-- Setting ttl + slack and renewing only once less than ttl is left costs one PTTL per publish
-- and the two PEXPIREs once per slack, instead of on every publish. The stream is the key to
-- ask: it is the one a publish may just have created (a new epoch, a replaced stream), with no
-- expiry yet (PTTL -1), which renews at once.
if redis.call('pttl', KEYS[1]) < tonumber(ARGV[3]) then
  local ttl = tonumber(ARGV[3]) + tonumber(ARGV[7])
  redis.call('pexpire', KEYS[1], ttl)
  redis.call('pexpire', KEYS[2], ttl)
end
redis.call(ARGV[6], KEYS[4], 'p:' .. id .. ':' .. epoch .. ':' .. ARGV[1])
if remember then
  redis.call('set', KEYS[3], epoch .. ':' .. id, 'PX', ARGV[4])
end
return {epoch, id, 0}
