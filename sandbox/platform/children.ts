/**
 * The processes `meridian start` runs beside its emulators (redis-server, the Pub/Sub emulator,
 * the operator): each started in a process group of its own, so that a Ctrl-C in the terminal
 * reaches the launcher alone and the launcher stops them in its order; each stopped by its PID
 * (SIGTERM, then SIGKILL after a grace period). If the launcher exits without stopping them, an
 * exit hook SIGKILLs them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Children still running, for the exit hook: owned by one launcher (never module state). */
export class ChildSet {
  private readonly running = new Set<Child>();
  private readonly onExit = () => {
    for (const child of this.running) signalGroup(child.process, 'SIGKILL');
  };

  constructor() {
    process.on('exit', this.onExit);
  }

  /** Starts `command` with stdout and stderr appended to `logFile`. */
  start(name: string, command: string, args: string[], options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): Child {
    const log = openSync(options.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, { stdio: ['ignore', log, log], env: options.env ?? process.env, cwd: options.cwd, detached: true });
    } finally {
      closeSync(log);
    }
    if (child.pid === undefined) throw new Error(`${name}: ${command} could not be started`);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    const handle: Child = {
      name,
      pid: child.pid,
      process: child,
      exited,
      stop: async (graceMs = 5000) => {
        // The whole group: a launcher script (the Pub/Sub emulator's) may have started the real process.
        if (child.exitCode === null && child.signalCode === null) signalGroup(child, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
        this.running.delete(handle);
      },
    };
    this.running.add(handle);
    void exited.then(() => this.running.delete(handle));
    return handle;
  }

  pids(): number[] {
    return [...this.running].map((child) => child.pid);
  }

  close(): void {
    process.off('exit', this.onExit);
  }
}

/** Signals the process group the child leads (it was started detached), else the child alone. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    child.kill(signal);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago; `preferred` first when it is free. */
export async function freePort(preferred?: number): Promise<number> {
  const attempt = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
      });
    });
  if (preferred) {
    const port = await attempt(preferred);
    if (port) return port;
  }
  const port = await attempt(0);
  if (!port) throw new Error('no free port on 127.0.0.1');
  return port;
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `check` every `intervalMs` until it is truthy; throws naming `what` after `timeoutMs`. */
export async function waitUntil<T>(what: string, check: () => T | Promise<T>, timeoutMs: number, intervalMs = 100, dead?: () => string | undefined): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    const reason = dead?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A program on PATH, or undefined. */
export function onPath(program: string): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** The Pub/Sub emulator's launcher inside the Google Cloud SDK, or undefined. */
export function pubsubEmulatorLauncher(): string | undefined {
  if (!onPath('gcloud')) return undefined;
  const info = spawnSync('gcloud', ['info', '--format=value(installation.sdk_root)'], { encoding: 'utf8', env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' } });
  const root = info.stdout?.trim();
  if (!root) return undefined;
  const launcher = `${root}/platform/pubsub-emulator/bin/cloud-pubsub-emulator`;
  return spawnSync('test', ['-x', launcher]).status === 0 ? launcher : undefined;
}
