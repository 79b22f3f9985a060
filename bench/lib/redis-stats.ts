/** Redis command counts from INFO commandstats, to price a published message in commands. */
import { Redis } from 'ioredis';

export type CommandCounts = Record<string, number>;

/** The sampling itself issues INFO; it is left out of every count. */
const IGNORED = new Set(['info']);

export function parseCommandStats(info: string): CommandCounts {
  const counts: CommandCounts = {};
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match && !IGNORED.has(match[1])) counts[match[1]] = Number(match[2]);
  }
  return counts;
}

export async function commandCounts(client: Redis): Promise<CommandCounts> {
  return parseCommandStats(await client.info('commandstats'));
}

/**
 * Microseconds Redis spent executing each command (INFO commandstats `usec`), same shape as the
 * counts so `commandDelta` applies. A script's time includes the commands it ran, which are also
 * listed under their own names.
 */
export function parseCommandUsec(info: string): CommandCounts {
  const usec: CommandCounts = {};
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=\d+,usec=(\d+)/.exec(line.trim());
    if (match && !IGNORED.has(match[1])) usec[match[1]] = Number(match[2]);
  }
  return usec;
}

export async function commandUsec(client: Redis): Promise<CommandCounts> {
  return parseCommandUsec(await client.info('commandstats'));
}

export function commandDelta(before: CommandCounts, after: CommandCounts): { total: number; byCommand: CommandCounts } {
  const byCommand: CommandCounts = {};
  let total = 0;
  for (const [name, calls] of Object.entries(after)) {
    const delta = calls - (before[name] ?? 0);
    if (delta > 0) {
      byCommand[name] = delta;
      total += delta;
    }
  }
  return { total, byCommand };
}

/** The seconds of used_cpu_user + used_cpu_sys in an INFO cpu reply (all threads). */
export function parseCpuSeconds(info: string): number {
  let seconds = 0;
  for (const line of info.split('\n')) {
    const match = /^used_cpu_(user|sys):([\d.]+)/.exec(line.trim());
    if (match) seconds += Number(match[2]);
  }
  return seconds;
}

/**
 * CPU the redis-server process has used since it started, ms. The delta over a measured run,
 * divided by messages published, is what one message cost Redis.
 */
export async function redisCpuMs(client: Redis): Promise<number> {
  return parseCpuSeconds(await client.info('cpu')) * 1000;
}
