/**
 * Installed in every benchmarked server process (Meridian, Socket.IO, raw ws): answers the
 * runner's `sample` request with memory after a forced GC and the CPU time used so far. The
 * process must run with --expose-gc; without it a sample would measure garbage, so it fails.
 */
import { serveIpc } from './ipc.ts';
import { BenchError, BenchErrorCode } from './errors.ts';

export interface ProcessSample {
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  arrayBuffers: number;
  /** CPU time (user + system) since the process started, in ms. */
  cpuMs: number;
  /** Wall-clock time since the process started, in ms. */
  uptimeMs: number;
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
    cpuMs: (cpu.user + cpu.system) / 1000,
    uptimeMs: process.uptime() * 1000,
  };
}

/** CPU time only, without a GC: cheap enough to take around a throughput run. */
export function sampleCpu(): { cpuMs: number; uptimeMs: number } {
  const cpu = process.cpuUsage();
  return { cpuMs: (cpu.user + cpu.system) / 1000, uptimeMs: process.uptime() * 1000 };
}

/** Without an IPC channel (a server started by hand) there is no one to answer: nothing is installed. */
export function installMemoryHook(): void {
  if (!process.send) {
    process.stderr.write('memory hook not installed: no IPC channel (started outside the bench runner)\n');
    return;
  }
  serveIpc({ sample: () => sampleProcess(), cpu: () => sampleCpu() });
}
