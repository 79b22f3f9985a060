/**
 * An API emulator in a process of its own (`meridian apiserver --no-tls`), for benchmarks with
 * many regions: each region is its own cluster with its own API server, so twenty regions are
 * twenty event loops, not one that every region's traffic queues behind. Its counters are read
 * over HTTP (`/_sandbox/requests`, `/_sandbox/watches`, with the emulator's token).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { spawnBenchProcess, waitReady, type BenchProcess } from './processes.ts';

export interface ApiServerProcess {
  name: string;
  url: string;
  process: BenchProcess;
  kubeconfig(): string;
  requestCount(filter?: { writesOnly?: boolean }): Promise<number>;
  watchCount(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

const MERIDIAN = new URL('../../bin/meridian.ts', import.meta.url).pathname;

/** The server URL and token of a complete kubeconfig file, or undefined while it is being written. */
function readKubeconfig(file: string): { text: string; url: string; token: string } | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  try {
    const config = parse(text) as { clusters?: Array<{ cluster?: { server?: string } }>; users?: Array<{ user?: { token?: string } }> };
    const url = config?.clusters?.[0]?.cluster?.server;
    const token = config?.users?.[0]?.user?.token;
    return url && token ? { text, url, token } : undefined;
  } catch {
    // Half written: the next poll reads it whole.
    return undefined;
  }
}

export async function startApiServerProcess(options: { name: string; dir: string; readyDelayMs: number }): Promise<ApiServerProcess> {
  const file = join(options.dir, `${options.name}.kubeconfig`);
  const proc = spawnBenchProcess({
    label: `apiserver ${options.name}`,
    script: MERIDIAN,
    args: ['apiserver', '--port', '0', '--name', options.name, '--kubeconfig-out', file, '--ready-delay-ms', String(options.readyDelayMs), '--no-tls', '--log-level', 'warn'],
  });
  let config: ReturnType<typeof readKubeconfig>;
  await waitReady(proc, async () => (config = readKubeconfig(file)) !== undefined, 30_000);
  const { text, url, token } = config!;
  const control = async (path: string) => {
    const response = await fetch(`${url}/_sandbox/${path}`, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(`${options.name}: GET /_sandbox/${path} answered ${response.status}`);
    return response.json() as Promise<Record<string, unknown>>;
  };
  return {
    name: options.name,
    url,
    process: proc,
    kubeconfig: () => text,
    requestCount: async (filter = {}) => Number((await control(`requests${filter.writesOnly ? '?writesOnly=true' : ''}`)).count),
    watchCount: async () => (await control('watches')).counts as Record<string, number>,
    close: () => proc.stop(),
  };
}
