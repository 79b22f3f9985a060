-- Shared by every script (redis-scripts.ts inserts it after each script's shebang line).
-- What counts as corruption, in one place: only a value of the wrong type or shape is replaced;
-- any other error (a Redis fault) is returned as it is and nothing is deleted because of it.

-- The largest offset: numbers are doubles here and in JavaScript, exact up to 2^53 - 1.
local MAX_OFFSET = 9007199254740991

local function errorText(err)
  return type(err) == 'table' and (err.err or '') or tostring(err)
end

-- A key holding another type: written by someone else.
local function wrongType(err)
  return string.find(errorText(err), '^WRONGTYPE') ~= nil
end

-- A value of the wrong type or shape: a top offset that is not an integer or would overflow, a
-- stream whose ids run above ours.
local function corrupt(err)
  local text = errorText(err)
  return wrongType(err) or string.find(text, 'not an integer', 1, true) ~= nil
    or string.find(text, 'would overflow', 1, true) ~= nil or string.find(text, 'equal or smaller', 1, true) ~= nil
end

-- Offsets are formatted with %d: Lua's tostring turns 1e14 into "1e+14", not a stream id.
local function int(n)
  return string.format('%d', n)
end

