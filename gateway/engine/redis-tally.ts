/**
 * Tallies in Redis: INCRBYFLOAT and, for the add that created the key, PEXPIRE, in one script
 * so the two cannot be split by a crash; one GET per key to read (sent together; on a cluster
 * auto-pipelined into one write per node): the keys of one read may live in different slots of
 * a cluster, where MGET fails.
 */
import type { CommandClient } from './redis-connection.ts';
import type { Tallies } from './tally.ts';

const addScript = `
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total`;

export class RedisTallies implements Tallies {
  private readonly redis: CommandClient;
  private readonly prefix: string;
  private readonly call: <T>(operation: () => Promise<T>) => Promise<T>;

  /** `call` wraps each command (the engine's: refused when closed, failures become UNAVAILABLE). */
  constructor(redis: CommandClient, prefix: string, call: <T>(operation: () => Promise<T>) => Promise<T>) {
    this.redis = redis;
    this.prefix = prefix;
    this.call = call;
  }

  add(key: string, amount: number, ttlMs: number): Promise<number> {
    if (!Number.isFinite(amount)) return Promise.reject(new RangeError('tally amount must be a finite number'));
    return this.call(async () => Number(await this.redis.eval(addScript, 1, this.prefix + key, String(amount), String(Math.max(1, Math.round(ttlMs))))));
  }

  read(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.call(async () => (await Promise.all(keys.map((key) => this.redis.get(this.prefix + key)))).map((value) => (value === null ? 0 : Number(value))));
  }
}
