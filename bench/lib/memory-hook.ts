/**
 * Installed in every benchmarked server process (Meridian, Socket.IO, raw ws): answers the
 * runner's `sample` request with memory after a forced GC and the CPU time used so far, and
 * `lag` with the event loop's delay since the previous `lag`, and `heapSnapshot` with a snapshot
 * written to the given path. The
 * process must run with --expose-gc; without it a sample would measure garbage, so it fails.
 */
import { readFileSync } from 'node:fs';
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

type IntervalHistogram = ReturnType<typeof monitorEventLoopDelay>;
import { serveIpc } from './ipc.ts';
import { BenchError, BenchErrorCode } from './errors.ts';

export interface ProcessSample {
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  arrayBuffers: number;
  /** Bytes each V8 heap space has committed (new_space, old_space, …); their sum is heapTotal. */
  heapSpaces: Record<string, number>;
  /** CPU time (user + system) since the process started, in ms. */
  cpuMs: number;
  /** Wall-clock time since the process started, in ms. */
  uptimeMs: number;
}

export interface LoopLag {
  /** Delay samples taken (one per `LAG_RESOLUTION_MS` of an idle loop). */
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * The delay timer's period. The histogram holds whole intervals between its wake-ups, so the
 * period is subtracted: what is left is how late the loop was.
 */
const LAG_RESOLUTION_MS = 10;

/** The event loop's delay since the last call, then starts over. */
export function takeLoopLag(histogram: IntervalHistogram): LoopLag {
  const late = (ns: number) => Math.round(Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS) * 100) / 100;
  const lag = { samples: histogram.count, p50Ms: late(histogram.percentile(50)), p99Ms: late(histogram.percentile(99)), maxMs: late(histogram.max) };
  histogram.reset();
  return lag;
}

/** Two collections: the first can leave objects whose finalizers free more on the second. */
const GC_PASSES = 2;

export function sampleProcess(): ProcessSample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new BenchError(BenchErrorCode.PROTOCOL, 'forced GC unavailable: start the server with --expose-gc');
  for (let i = 0; i < GC_PASSES; i++) gc();
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return {
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    rss: memory.rss,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    heapSpaces: Object.fromEntries(getHeapSpaceStatistics().filter((space) => space.space_size > 0).map((space) => [space.space_name, space.space_size])),
    cpuMs: (cpu.user + cpu.system) / 1000,
    uptimeMs: process.uptime() * 1000,
  };
}

export interface CpuSample {
  cpuMs: number;
  uptimeMs: number;
  /**
   * Time this process was ready to run but waited for a CPU (Linux /proc/self/schedstat; 0
   * elsewhere). On a shared machine this, not the code, is often what makes the loop late.
   */
  runQueueWaitMs: number;
}

function runQueueWaitMs(): number {
  try {
    return Number(readFileSync('/proc/self/schedstat', 'utf8').split(' ')[1]) / 1e6;
  } catch {
    // Not Linux (or no schedstat): the figure is reported as 0.
    return 0;
  }
}

/** CPU time only, without a GC: cheap enough to take around a throughput run. */
export function sampleCpu(): CpuSample {
  const cpu = process.cpuUsage();
  return { cpuMs: (cpu.user + cpu.system) / 1000, uptimeMs: process.uptime() * 1000, runQueueWaitMs: runQueueWaitMs() };
}

/**
 * CPU profiling of just the measured part of a run (not start-up or connecting): the runner
 * sends `profileStart` before and `profileStop` (with a file path) after, and gets a
 * .cpuprofile for that window only.
 */
export class WindowProfiler {
  private session?: Session;

  async start(): Promise<{ started: boolean }> {
    if (this.session) throw new BenchError(BenchErrorCode.PROTOCOL, 'a profile is already being taken');
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    this.session = session;
    return { started: true };
  }

  async stop(path: string): Promise<{ path: string }> {
    const session = this.session;
    if (!session) throw new BenchError(BenchErrorCode.PROTOCOL, 'no profile is being taken');
    this.session = undefined;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(profile));
    return { path };
  }
}

/** Without an IPC channel (a server started by hand) there is no one to answer: nothing is installed. */
export function installMemoryHook(): void {
  if (!process.send) {
    process.stderr.write('memory hook not installed: no IPC channel (started outside the bench runner)\n');
    return;
  }
  const profiler = new WindowProfiler();
  const loop = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  loop.enable();
  serveIpc({
    lag: () => takeLoopLag(loop),
    sample: () => sampleProcess(),
    cpu: () => sampleCpu(),
    profileStart: () => profiler.start(),
    profileStop: (request) => profiler.stop(String(request.path)),
    // Taken after a full GC, as every snapshot is: what it shows is retained.
    heapSnapshot: (request) => ({ path: writeHeapSnapshot(String(request.path)) }),
  });
}
