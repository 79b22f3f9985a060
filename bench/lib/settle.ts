/**
 * Waits until a server process is idle: its own CPU time grows by less than `maxPercent` of
 * wall time over one `intervalMs` window. Work a server is still doing from a previous step
 * (closing thousands of connections, presence clean-up) would otherwise be charged to the
 * next measurement. Measured on the process's own CPU time, so other processes on the machine
 * do not keep it from settling. Returns how long it took, which is itself worth reporting.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { IpcClient } from './ipc.ts';

export interface SettleOptions {
  intervalMs: number;
  maxPercent: number;
  timeoutMs: number;
  ipcTimeoutMs: number;
}

export interface SettleResult {
  settled: boolean;
  waitedMs: number;
  /** Server CPU time spent while waiting. */
  cpuMs: number;
}

export async function settle(ipc: IpcClient, options: SettleOptions): Promise<SettleResult> {
  const cpu = () => ipc.request<{ cpuMs: number; uptimeMs: number }>('cpu', {}, options.ipcTimeoutMs);
  const first = await cpu();
  let previous = first;
  for (;;) {
    await sleep(options.intervalMs);
    const current = await cpu();
    const percent = ((current.cpuMs - previous.cpuMs) / (current.uptimeMs - previous.uptimeMs)) * 100;
    const waitedMs = Math.round(current.uptimeMs - first.uptimeMs);
    const cpuMs = Math.round(current.cpuMs - first.cpuMs);
    if (percent < options.maxPercent) return { settled: true, waitedMs, cpuMs };
    if (waitedMs > options.timeoutMs) return { settled: false, waitedMs, cpuMs };
    previous = current;
  }
}
