/**
 * What the Redis engine's stores share: the scripts, the key layout, the limits, and where
 * malformed values are reported.
 */
import type { RedisKeys } from './redis-format.ts';
import type { ScriptCommands } from './redis-scripts.ts';
import type { EngineOptions } from './types.ts';

/** What the engine skipped or repaired, for metrics. */
// A type alias, not an interface, so it fits Engine.counters' string-indexed record.
export type RedisEngineCounters = {
  malformedMessages: number;
  malformedHistoryEntries: number;
  malformedPresenceEntries: number;
  resyncs: number;
  /** Commands that got no reply within commandTimeoutMs. */
  commandTimeouts: number;
  /** Writes Redis refused because it is at maxmemory. */
  outOfMemory: number;
};

export interface RedisStoreContext {
  scripts: ScriptCommands;
  /** Runs publish.lua: the script alone, or followed by WAIT when writes must reach replicas first (redis-replication.ts). */
  publish: ScriptCommands['meridianPublish'];
  /** How publish.lua broadcasts: `publish`, or `spublish` (sharded) on a cluster. */
  publishCommand: 'publish' | 'spublish';
  keys: RedisKeys;
  options: Readonly<EngineOptions>;
  /** Values from Redis larger than this are skipped as malformed. */
  maxPayloadBytes: number;
  now: () => number;
  /** Counts and logs (without the value) something unreadable found in Redis. */
  malformed(counter: keyof RedisEngineCounters, room: string, reason: string, bytes: number): void;
}
