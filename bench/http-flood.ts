/**
 * `npm run bench -- http-flood`: one gateway process under a flood of pipelined HTTP requests
 * on its public port, and a bystander that asks `GET /healthz` on a fresh connection every
 * `--probe-interval-ms`. Reports the gateway's resident memory (baseline, peak) and the
 * bystander's round trip (p50/p99/max, answered vs asked).
 *
 * The flood: `--sockets` connections, each writing `--requests` pipelined `GET <path>` at once
 * and never reading (so it never sees the gateway close it either); each is dropped after
 * `--socket-life-ms` and a new one opened, until `--duration-ms` ends.
 * `--gateway-root DIR` runs the gateway of another checkout (e.g. an older commit unpacked with
 * `git archive`), so one script measures before and after a change.
 *
 * Process layout: the gateway is its own process; the flood and the bystander share the
 * runner's process (the flood only writes, so it costs the runner little).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { freePort } from '../test/helpers/net.ts';
import { spawnBenchProcess, waitReady } from './lib/processes.ts';
import { markdownTable, runHeader, writeResult } from './lib/results.ts';
import { LatencyHistogram } from './lib/stats.ts';

export const httpFloodOptions: Record<string, OptionSpec> = {
  sockets: { kind: 'int', default: 20, quick: 5, doc: 'flooding connections' },
  requests: { kind: 'int', default: 2000, quick: 200, doc: 'pipelined requests written per connection' },
  path: { kind: 'string', default: '/metrics', doc: 'path the flood asks for' },
  'duration-ms': { kind: 'int', default: 10_000, quick: 4000, doc: 'how long the flood runs' },
  'socket-life-ms': { kind: 'int', default: 1000, doc: 'each flooding connection is dropped and replaced after this long' },
  'probe-interval-ms': { kind: 'int', default: 100, doc: 'bystander /healthz interval' },
  'gateway-root': { kind: 'string', default: '', doc: 'checkout whose gateway runs (default: this one)' },
  out: { kind: 'string', default: '', doc: 'result file (default bench/results/http-flood.json)' },
  quick: { kind: 'bool', default: false, doc: 'a short run' },
};

function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : Number.NaN;
}

/** One GET /healthz on a fresh connection; resolves with the round trip in ms, or undefined on failure. */
function probe(port: number, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: bystander\r\nConnection: close\r\n\r\n'));
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n\r\n')) {
        const ok = reply.startsWith('HTTP/1.1 200');
        socket.destroy();
        resolve(ok ? performance.now() - started : undefined);
      }
    });
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => resolve(undefined));
  });
}

export async function run(argv: readonly string[]): Promise<unknown> {
  const o = parseOptions(argv, httpFloodOptions);
  const root = (o['gateway-root'] as string) || join(import.meta.dirname, '..');
  const port = await freePort();
  const metricsPort = await freePort();
  const gateway = spawnBenchProcess({
    label: 'gateway',
    script: join(root, 'bench', 'servers', 'meridian.ts'),
    env: {
      MERIDIAN_HOST: '127.0.0.1',
      MERIDIAN_PORT: String(port),
      MERIDIAN_METRICS_PORT: String(metricsPort),
      MERIDIAN_JWT_SECRET: 'http-flood-secret-http-flood-secret',
      MERIDIAN_API_KEY: 'http-flood-key',
      MERIDIAN_LOG_LEVEL: 'warn',
    },
  });
  const durationMs = o['duration-ms'] as number;
  const request = `GET ${o.path as string} HTTP/1.1\r\nHost: flood\r\n\r\n`.repeat(o.requests as number);
  const sockets = new Set<Socket>();
  let flooding = true;
  let floodSockets = 0;
  const flood = (): void => {
    if (!flooding) return;
    floodSockets += 1;
    const socket = connect(port, '127.0.0.1', () => {
      socket.pause(); // never read: replies pile up wherever the server keeps them
      socket.write(request);
    });
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    setTimeout(() => {
      socket.destroy();
      flood();
    }, o['socket-life-ms'] as number);
  };
  try {
    await waitReady(gateway, async () => (await probe(port, 1000)) !== undefined, 20_000);
    const baselineKiB = rssKiB(gateway.pid, 'VmRSS');
    const latency = new LatencyHistogram();
    let asked = 0;
    let peakKiB = baselineKiB;
    for (let i = 0; i < (o.sockets as number); i++) flood();
    const ends = performance.now() + durationMs;
    while (performance.now() < ends) {
      asked += 1;
      const [took] = await Promise.all([probe(port, 10_000), new Promise((r) => setTimeout(r, o['probe-interval-ms'] as number))]);
      if (took !== undefined) latency.record(took * 1000);
      peakKiB = Math.max(peakKiB, rssKiB(gateway.pid, 'VmRSS'));
    }
    flooding = false;
    peakKiB = Math.max(peakKiB, rssKiB(gateway.pid, 'VmHWM'));
    for (const socket of sockets) socket.destroy();
    const bystander = latency.summary();
    const result = {
      benchmark: 'http-flood',
      ...runHeader(),
      gatewayRoot: root,
      options: o,
      baselineRssMiB: Math.round(baselineKiB / 1024),
      peakRssMiB: Math.round(peakKiB / 1024),
      bystander: { asked, answered: bystander.count, p50Ms: bystander.p50Ms, p99Ms: bystander.p99Ms, maxMs: bystander.maxMs },
      floodSockets,
    };
    const path = await writeResult('http-flood', result, (o.out as string) || undefined);
    process.stdout.write(
      `${markdownTable(
        ['gateway', 'path', 'RSS baseline MiB', 'RSS peak MiB', 'bystander answered', 'p50 ms', 'p99 ms', 'max ms', 'flood sockets'],
        [[root, o.path as string, result.baselineRssMiB, result.peakRssMiB, `${bystander.count}/${asked}`, bystander.p50Ms, bystander.p99Ms, bystander.maxMs, floodSockets]],
      )}\n\nwritten to ${path}\n`,
    );
    return result;
  } finally {
    flooding = false;
    for (const socket of sockets) socket.destroy();
    await gateway.stop();
  }
}
