/**
 * Runs `node bin/meridian.ts start --dir DIR` as a process, as a person would, and reads its
 * printed block: the dashboard URL, each region's demo URL with its token, the kubectl commands.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from './net.ts';

const BIN = fileURLToPath(new URL('../../bin/meridian.ts', import.meta.url));

export interface PrintedRegion {
  name: string;
  url: string;
  port: number;
  token: string;
}

export interface LaunchedPlatform {
  process: ChildProcess;
  output(): string;
  dashboardUrl: string;
  regions: PrintedRegion[];
  kubectl: string[][];
  readySeconds: number;
  /** Every process below the launcher (gateways, operator, redis-server, the Pub/Sub emulator). */
  descendants(): number[];
  /** Ports of every component (platform.json in the state directory). */
  ports(): number[];
  /** SIGINT, as Ctrl-C; resolves with the exit code. */
  interrupt(timeoutMs?: number): Promise<number | null>;
}

export async function launchPlatform(dir: string, timeoutMs = 120_000): Promise<LaunchedPlatform> {
  const child = spawn(process.execPath, [BIN, 'start', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`meridian start exited with ${child.exitCode}: ${err}`);
      return out.includes('Ctrl-C stops everything');
    }, { timeoutMs, intervalMs: 100, what: 'the printed block of meridian start' });
  } catch (error) {
    child.kill('SIGINT');
    await exited;
    throw new Error(`${(error as Error).message}\nstdout:\n${out}\nstderr:\n${err}`);
  }
  const dashboardUrl = /dashboard\s+(http:\/\/\S+)/.exec(out)![1];
  const regions = [...out.matchAll(/chat (\S+)\s+(http:\/\/127\.0\.0\.1:(\d+)\/#token=(\S+))/g)].map((m) => ({ name: m[1], url: m[2], port: Number(m[3]), token: m[4] }));
  const kubectl = [...out.matchAll(/^\s+(kubectl .+)$/gm)].map((m) => m[1].trim().split(/\s+/));
  const readySeconds = Number(/ready in ([\d.]+) s/.exec(out)![1]);
  return {
    process: child,
    output: () => out + err,
    dashboardUrl,
    regions,
    kubectl,
    readySeconds,
    descendants: () => descendantsOf(child.pid!),
    ports: () => Object.values(JSON.parse(readFileSync(`${dir}/platform.json`, 'utf8')).ports as Record<string, number>),
    interrupt: async (timeout = 60_000) => {
      child.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`meridian start did not stop within ${timeout} ms:\n${out}\n${err}`)), timeout)))]);
      clearTimeout(timer);
      return code;
    },
  };
}

/** Live PIDs below `root`, from /proc (parent of each process). */
export function descendantsOf(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may contain spaces and parentheses: fields follow the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const walk = (pid: number) => {
    for (const [child, parent] of parents) {
      if (parent === pid) {
        found.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return found;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); it has ended all the same.
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}
