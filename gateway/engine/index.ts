/**
 * Picks the engine: Redis when a URL is configured, memory otherwise. Only wiring lives here.
 */
import type { Logger } from 'pino';
import type { MemoryBackendOptions } from './memory-backend.ts';
import { MemoryEngine } from './memory.ts';
import { RedisEngine, type RedisEngineOptions } from './redis.ts';
import type { Engine, EngineOptions } from './types.ts';

export interface CreateEngineOptions {
  /** Absent: the in-memory engine (a single gateway process). */
  redisUrl?: string;
  /** The pod's region, added to every engine log line. */
  region: string;
  engine: Partial<EngineOptions>;
  logger: Logger;
  /** Connection tuning for the Redis engine (timeouts, key prefix, batch size, health probe); defaults suit most. */
  redis?: Omit<RedisEngineOptions, 'url' | 'engine' | 'logger'>;
  /** Bounds of the in-memory engine (sweep interval, retained bytes). */
  memory?: Omit<MemoryBackendOptions, 'now'>;
}

export function createEngine(options: CreateEngineOptions): Engine {
  // A key bound twice appears twice in a JSON line: add region only when the caller has not.
  const logger = 'region' in options.logger.bindings() ? options.logger : options.logger.child({ region: options.region });
  if (!options.redisUrl) return new MemoryEngine({ engine: options.engine, memory: options.memory, logger });
  return new RedisEngine({ ...options.redis, url: options.redisUrl, engine: options.engine, logger });
}

export { MemoryEngine, type MemoryEngineOptions } from './memory.ts';
export { RedisEngine, defaultRedisEngineOptions, type RedisEngineOptions, type RedisEngineCounters } from './redis.ts';
export { MemoryBackend, defaultMemoryBackendOptions, type MemoryBackendOptions } from './memory-backend.ts';
export { EngineInputError, silentLogger } from './common.ts';
export * from './types.ts';
export { MemoryTallies, type Tallies } from './tally.ts';
