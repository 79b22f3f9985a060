/**
 * Picks the engine: Redis when a URL is configured, memory otherwise. Only wiring lives here.
 */
import type { EngineLogger } from './common.ts';
import { MemoryEngine } from './memory.ts';
import type { Engine, EngineOptions } from './types.ts';

export interface CreateEngineOptions {
  /** Absent: the in-memory engine (a single gateway process). */
  redisUrl?: string;
  region: string;
  engine: Partial<EngineOptions>;
  logger: EngineLogger;
}

export function createEngine(options: CreateEngineOptions): Engine {
  const logger = options.logger;
  if (!options.redisUrl) return new MemoryEngine({ engine: options.engine, logger });
  throw new Error('the Redis engine is not available yet');
}

export { MemoryEngine, type MemoryEngineOptions } from './memory.ts';
export { MemoryBackend, type MemoryBackendOptions } from './memory-backend.ts';
export { EngineInputError, silentLogger, type EngineLogger } from './common.ts';
export * from './types.ts';
