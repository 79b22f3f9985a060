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
  return skipWithout(hasBinary(binary), `'${binary}'`, purpose, binary);
}

/** skipUnless for anything checked another way: `what` is missing unless `present`; `aptPackage` installs it. */
export function skipWithout(present: boolean, what: string, purpose: string, aptPackage: string): string | false {
  if (present) return false;
  const reason = `SKIPPED: ${what} is not installed; ${purpose} needs it (apt-get install -y ${aptPackage})`;
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
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
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
    async stop() {
      handle.process.kill('SIGTERM');
      await exited(handle.process);
    },
  };
  return handle;
}
