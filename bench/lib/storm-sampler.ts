/**
 * What the machine did during a reconnect storm, sampled every `intervalMs`: redis-server's own
 * CPU (INFO cpu) and commands (INFO commandstats), each pod's CPU and run-queue wait (the memory
 * hook's `cpu`), each pod's /metrics counters (Redis command timeouts, error replies by code,
 * engine health), and the load average; Redis's SLOWLOG at the end. With these, "Redis or the
 * pods' CPU" is a reading, not a guess.
 */
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { CpuSample } from './memory-hook.ts';
import type { BenchProcess } from './processes.ts';
import { commandDelta, parseCommandStats, parseCommandUsec, parseCpuSeconds, type CommandCounts } from './redis-stats.ts';

const IPC_TIMEOUT_MS = 10_000;
const SLOWLOG_ENTRIES = 32;
/** Redis logs commands slower than this (µs) during the storm; its default is 10,000. */
const SLOWLOG_SLOWER_THAN_US = 2_000;

export interface StormPod {
  process: BenchProcess;
  /** Where the pod's /metrics is served. */
  metricsUrl: string;
}

/** The /metrics counters of one pod that say why a comeback failed. */
export interface PodCounters {
  commandTimeouts: number;
  errors: Record<string, number>;
  healthy: number;
}

export interface StormInterval {
  atMs: number;
  loadAverage1m: number;
  /** redis-server CPU over the interval, percent of one core. */
  redisCpuPercent: number;
  redisCommands: number;
  /** Each pod's CPU over the interval, percent of one core, and its waiting for a CPU. */
  podCpuPercent: number[];
  podRunQueuePercent: number[];
  /** Each pod's counters over the interval (deltas), health at its end. */
  pods: PodCounters[];
}

export interface SlowEntry {
  durationUs: number;
  command: string;
}

export interface StormSamples {
  intervalMs: number;
  intervals: StormInterval[];
  /** Over the whole window. */
  redisCpuPercent: number;
  redisCommands: { total: number; byCommand: CommandCounts };
  /** Redis's own time per command name over the window, µs (a script includes what it ran). */
  redisUsec: CommandCounts;
  podCpuPercent: number[];
  podRunQueuePercent: number[];
  pods: PodCounters[];
  slowlog: { slowerThanUs: number; count: number; slowest: SlowEntry[] };
}

function metricValue(text: string, name: string, label?: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    if (label && !line.includes(label)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

export function parsePodCounters(text: string): PodCounters {
  const errors: Record<string, number> = {};
  for (const match of text.matchAll(/^meridian_errors_total\{code="([^"]+)"\} (\S+)$/gm)) errors[match[1]] = Number(match[2]);
  return {
    commandTimeouts: metricValue(text, 'meridian_engine_events_total', 'event="commandTimeouts"'),
    errors,
    healthy: metricValue(text, 'meridian_engine_healthy'),
  };
}

function counterDelta(before: PodCounters, after: PodCounters): PodCounters {
  const errors: Record<string, number> = {};
  for (const [code, n] of Object.entries(after.errors)) if (n - (before.errors[code] ?? 0) > 0) errors[code] = n - (before.errors[code] ?? 0);
  return { commandTimeouts: after.commandTimeouts - before.commandTimeouts, errors, healthy: after.healthy };
}

interface Reading {
  atMs: number;
  loadAverage1m: number;
  redisCpuMs: number;
  commands: CommandCounts;
  usec: CommandCounts;
  pods: CpuSample[];
  counters: PodCounters[];
}

export class StormSampler {
  readonly #redis: Redis;
  readonly #pods: StormPod[];
  readonly #intervalMs: number;
  #stopped = false;
  #loop: Promise<void> | undefined;
  readonly #readings: Reading[] = [];
  #started = 0;

  constructor(redisUrl: string, pods: StormPod[], intervalMs: number) {
    this.#redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    this.#pods = pods;
    this.#intervalMs = intervalMs;
  }

  async #read(): Promise<Reading> {
    const [cpu, stats] = await Promise.all([this.#redis.info('cpu'), this.#redis.info('commandstats')]);
    const pods = await Promise.all(this.#pods.map((p) => p.process.ipc.request<CpuSample>('cpu', {}, IPC_TIMEOUT_MS)));
    const counters = await Promise.all(this.#pods.map(async (p) => parsePodCounters(await (await fetch(p.metricsUrl)).text())));
    return { atMs: Math.round(performance.now() - this.#started), loadAverage1m: Math.round(loadavg()[0] * 100) / 100, redisCpuMs: parseCpuSeconds(cpu) * 1000, commands: parseCommandStats(stats), usec: parseCommandUsec(stats), pods, counters };
  }

  async start(): Promise<void> {
    await this.#redis.connect();
    await this.#redis.config('SET', 'slowlog-log-slower-than', String(SLOWLOG_SLOWER_THAN_US));
    await this.#redis.slowlog('RESET');
    this.#started = performance.now();
    this.#readings.push(await this.#read());
    this.#loop = (async () => {
      while (!this.#stopped) {
        await sleep(this.#intervalMs);
        if (this.#stopped) break;
        // A sample that fails (a pod too busy to answer in time) is skipped, not fatal.
        try {
          this.#readings.push(await this.#read());
        } catch (error) {
          process.emitWarning(`storm sample skipped: ${(error as Error).message}`);
        }
      }
    })();
  }

  async stop(): Promise<StormSamples> {
    this.#stopped = true;
    await this.#loop;
    this.#readings.push(await this.#read());
    const slowCount = Number(await this.#redis.slowlog('LEN'));
    const slow = (await this.#redis.slowlog('GET', SLOWLOG_ENTRIES)) as [number, number, number, string[]][];
    this.#redis.disconnect();
    const intervals: StormInterval[] = [];
    for (let i = 1; i < this.#readings.length; i++) intervals.push(this.#interval(this.#readings[i - 1], this.#readings[i]));
    const whole = this.#interval(this.#readings[0], this.#readings.at(-1)!);
    const first = this.#readings[0];
    const last = this.#readings.at(-1)!;
    const usec: CommandCounts = {};
    for (const [name, us] of Object.entries(last.usec)) if (us - (first.usec[name] ?? 0) > 0) usec[name] = us - (first.usec[name] ?? 0);
    return {
      intervalMs: this.#intervalMs,
      intervals,
      redisCpuPercent: whole.redisCpuPercent,
      redisCommands: commandDelta(first.commands, last.commands),
      redisUsec: usec,
      podCpuPercent: whole.podCpuPercent,
      podRunQueuePercent: whole.podRunQueuePercent,
      pods: whole.pods,
      slowlog: {
        slowerThanUs: SLOWLOG_SLOWER_THAN_US,
        count: slowCount,
        slowest: slow
          .map(([, , durationUs, args]) => ({ durationUs, command: args.slice(0, 3).join(' ').slice(0, 80) }))
          .sort((a, b) => b.durationUs - a.durationUs)
          .slice(0, 10),
      },
    };
  }

  #interval(a: Reading, b: Reading): StormInterval {
    const wall = Math.max(1, b.atMs - a.atMs);
    const pct = (ms: number) => Math.round((ms / wall) * 100);
    return {
      atMs: b.atMs,
      loadAverage1m: b.loadAverage1m,
      redisCpuPercent: pct(b.redisCpuMs - a.redisCpuMs),
      redisCommands: commandDelta(a.commands, b.commands).total,
      podCpuPercent: b.pods.map((p, i) => Math.round(((p.cpuMs - a.pods[i].cpuMs) / Math.max(1, p.uptimeMs - a.pods[i].uptimeMs)) * 100)),
      podRunQueuePercent: b.pods.map((p, i) => Math.round(((p.runQueueWaitMs - a.pods[i].runQueueWaitMs) / Math.max(1, p.uptimeMs - a.pods[i].uptimeMs)) * 100)),
      pods: b.counters.map((c, i) => counterDelta(a.counters[i], c)),
    };
  }
}
