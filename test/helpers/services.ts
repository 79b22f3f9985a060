/**
 * Real services for tests, each started on a free loopback port and ended by PID.
 * A missing binary skips the test loudly, except under CI=true where it is a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort, waitFor } from './net.ts';

export function hasBinary(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Returns a reason to skip when the binary is absent. Under CI=true an absent service is a
 * failure, so this throws instead.
 */
export function skipUnless(binary: string, purpose: string): string | false {
  if (hasBinary(binary)) return false;
  const reason = `SKIPPED: '${binary}' is not installed; ${purpose} needs it (apt-get install -y ${binary === 'redis-server' ? 'redis-server' : binary})`;
  if (process.env.CI === 'true') throw new Error(`${reason} — a missing service fails under CI=true`);
  process.stderr.write(`\n*** ${reason} ***\n`);
  return reason;
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface RedisServer {
  port: number;
  url: string;
  process: ChildProcess;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Start again on the same port (empty: nothing is saved). */
  restart(): Promise<void>;
  /** SIGSTOP: the process keeps its sockets open and answers nothing, as a hung Redis does. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** `extraArgs` are added to the command line, e.g. `['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction']`. */
export async function startRedis(extraArgs: readonly string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', ...extraArgs], {
      stdio: 'ignore',
    });
    await waitFor(() => portOpen(port), { what: `redis-server on ${port}`, timeoutMs: 10_000 });
    return child;
  };
  const handle: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: await launch(),
    async kill() {
      handle.process.kill('SIGKILL');
      await exited(handle.process);
    },
    async restart() {
      await handle.kill();
      handle.process = await launch();
    },
    pause() {
      handle.process.kill('SIGSTOP');
    },
    resume() {
      handle.process.kill('SIGCONT');
    },
    async stop() {
      // A paused process would not act on SIGTERM.
      handle.process.kill('SIGCONT');
      handle.process.kill('SIGTERM');
      await exited(handle.process);
    },
  };
  return handle;
}
