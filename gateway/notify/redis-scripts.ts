/**
 * The notification store's Lua scripts: each moves a job between the stream, the schedule and
 * the dead-letter list in one step, so a job is never lost or doubled between two commands.
 * The queue's keys share the hash tag `{q}`, so the scripts also run on Redis Cluster.
 */
import type { Redis } from 'ioredis';

const definitions = {
  // KEYS: stream, schedule. ARGV: group, entry id, due time, member.
  notifyDefer: {
    numberOfKeys: 2,
    lua: `redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1`,
  },
  // KEYS: stream, dead list. ARGV: group, entry id, letter, max kept.
  notifyDead: {
    numberOfKeys: 2,
    lua: `redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
return 1`,
  },
  // KEYS: stream. ARGV: group, entry id.
  notifyAck: {
    numberOfKeys: 1,
    lua: `redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])`,
  },
  // KEYS: schedule, stream. ARGV: now, max. Members are "<unique>|<job json>".
  notifyPromote: {
    numberOfKeys: 2,
    lua: `local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local bar = string.find(member, '|', 1, true)
  redis.call('XADD', KEYS[2], '*', 'job', string.sub(member, bar + 1))
  redis.call('ZREM', KEYS[1], member)
end
return #due`,
  },
  // KEYS: mark. ARGV: lease ms. Returns acquired | done | busy.
  notifyBegin: {
    numberOfKeys: 1,
    lua: `if redis.call('SET', KEYS[1], 'lease', 'NX', 'PX', ARGV[1]) then return 'acquired' end
if redis.call('GET', KEYS[1]) == 'done' then return 'done' end
return 'busy'`,
  },
  // KEYS: mark. Removes a lease, never a done mark.
  notifyRelease: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == 'lease' then redis.call('DEL', KEYS[1]) end
return 1`,
  },
  // KEYS: hash. ARGV: field, value, max fields. Returns 1 when stored.
  notifyBoundedHset: {
    numberOfKeys: 1,
    lua: `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`,
  },
  // KEYS: set. ARGV: member, max members. Returns 1 when a member.
  notifyBoundedSadd: {
    numberOfKeys: 1,
    lua: `if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 and redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
return 1`,
  },
  // KEYS: digest list. ARGV: item, max items, ttl ms. Returns the list length.
  notifyDigestAdd: {
    numberOfKeys: 1,
    lua: `local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return n`,
  },
  // KEYS: digest list. Returns and deletes its items.
  notifyDigestTake: {
    numberOfKeys: 1,
    lua: `local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return items`,
  },
} as const;

type Arg = string | number;

export interface NotifyScripts {
  notifyDefer(stream: string, schedule: string, group: string, entryId: string, dueAt: Arg, member: string): Promise<unknown>;
  notifyDead(stream: string, dead: string, group: string, entryId: string, letter: string, max: Arg): Promise<unknown>;
  notifyAck(stream: string, group: string, entryId: string): Promise<unknown>;
  notifyPromote(schedule: string, stream: string, now: Arg, max: Arg): Promise<unknown>;
  notifyBegin(mark: string, leaseMs: Arg): Promise<unknown>;
  notifyRelease(mark: string): Promise<unknown>;
  notifyBoundedHset(hash: string, field: string, value: string, max: Arg): Promise<unknown>;
  notifyBoundedSadd(set: string, member: string, max: Arg): Promise<unknown>;
  notifyDigestAdd(list: string, item: string, max: Arg, ttlMs: Arg): Promise<unknown>;
  notifyDigestTake(list: string): Promise<unknown>;
}

export function defineNotifyScripts(redis: Redis): NotifyScripts {
  for (const [name, definition] of Object.entries(definitions)) redis.defineCommand(name, definition);
  return redis as unknown as NotifyScripts;
}
