/**
 * Spawning the processes of a benchmark: each server and each load generator is its own Node
 * process with an IPC channel, run with --expose-gc, its output kept (last lines only) so a
 * crash can be explained, and ended by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { BenchError, BenchErrorCode } from './errors.ts';
import { IpcClient } from './ipc.ts';

export interface SpawnOptions {
  /** Shown in errors and the results. */
  label: string;
  /** Script (a .ts file) and its arguments. */
  script: string;
  args?: string[];
  env?: Record<string, string>;
  /** Extra Node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
  /** Open files the process needs (sockets): the soft limit is raised to this in the spawned shell. */
  fileDescriptors?: number;
  /** Lines of stdout/stderr kept for error messages. */
  outputLines?: number;
}

export interface BenchProcess {
  label: string;
  pid: number;
  child: ChildProcess;
  ipc: IpcClient;
  /** The last lines the process printed. */
  output(): string;
  exited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const DEFAULT_OUTPUT_LINES = 40;
const DEFAULT_STOP_GRACE_MS = 5_000;

export function softFileLimit(): number {
  const result = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const value = result.stdout.trim();
  return value === 'unlimited' ? Number.POSITIVE_INFINITY : Number(value);
}

export function spawnBenchProcess(options: SpawnOptions): BenchProcess {
  const nodeArgs = ['--expose-gc', ...(options.nodeFlags ?? []), options.script, ...(options.args ?? [])];
  const needed = options.fileDescriptors ?? 0;
  const stdio: ['ignore', 'pipe', 'pipe', 'ipc'] = ['ignore', 'pipe', 'pipe', 'ipc'];
  const env = { ...process.env, ...options.env };
  // `exec` keeps the PID the node process's own, so stopping by PID reaches it.
  const child =
    needed > softFileLimit()
      ? spawn('sh', ['-c', `ulimit -n ${needed} && exec "$0" "$@"`, process.execPath, ...nodeArgs], { stdio, env })
      : spawn(process.execPath, nodeArgs, { stdio, env });
  if (child.pid === undefined) throw new BenchError(BenchErrorCode.PROCESS_EXITED, `${options.label} could not be started`);

  const keep = options.outputLines ?? DEFAULT_OUTPUT_LINES;
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      lines.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
      if (lines.length > keep) lines.shift();
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let exitedFlag = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exitedFlag = true;
    resolve();
  }));

  return {
    label: options.label,
    pid: child.pid,
    child,
    ipc: new IpcClient(child, options.label, () => lines.join('\n')),
    output: () => lines.join('\n'),
    exited: () => exitedFlag,
    async stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      if (exitedFlag) return;
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => {
        if (!exitedFlag) process.kill(child.pid!, 'SIGKILL');
      }, graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Polls `check` until it is true; fails at once, with the process's last output, if it exits. */
export async function waitReady(proc: BenchProcess, check: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exited()) throw new BenchError(BenchErrorCode.PROCESS_EXITED, `${proc.label} exited before it was ready; last output:\n${proc.output()}`);
    if (await check()) return;
    if (Date.now() > deadline) throw new BenchError(BenchErrorCode.TIMEOUT, `${proc.label} not ready after ${timeoutMs} ms; last output:\n${proc.output()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
