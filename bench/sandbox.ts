/**
 * `npm run bench -- sandbox`: how the API emulator's injected latency (`faults.setLatency`)
 * looks to a client. Tests use it to stand for a slow or far region, so what matters is that
 * every request takes at least the injected time and how much the emulator adds on top.
 *
 * Layout (1 process): the emulator and the client (plain `fetch` with the kubeconfig's token,
 * one request at a time) share this process, as they do in the tests.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { startApiServer } from '../sandbox/apiserver/index.ts';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { machineInfo, markdownTable, writeResult } from './lib/results.ts';
import { LatencyHistogram, type LatencySummary } from './lib/stats.ts';

export const sandboxOptions: Record<string, OptionSpec> = {
  'latencies-ms': { kind: 'intList', default: [0, 50, 150], doc: 'injected latencies to measure, one after the other' },
  requests: { kind: 'int', default: 100, quick: 10, doc: 'sequential GETs per latency' },
  quick: { kind: 'bool', default: false, doc: 'a short run (10 requests per latency)' },
  out: { kind: 'string', default: '', doc: 'results file (default bench/results/sandbox.json)' },
};

interface LatencyRun extends LatencySummary {
  injectedMs: number;
  minMs: number;
  /** Every request took at least the injected latency. */
  honoured: boolean;
}

export async function run(args: readonly string[]): Promise<unknown> {
  const o = parseOptions(args, sandboxOptions);
  const server = await startApiServer({ port: 0, name: 'latency' });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(server.kubeconfig());
  const token = kubeConfig.getCurrentUser()?.token ?? '';
  const runs: LatencyRun[] = [];
  try {
    for (const injectedMs of o['latencies-ms'] as number[]) {
      server.faults.setLatency(injectedMs);
      const histogram = new LatencyHistogram();
      let minMs = Infinity;
      for (let i = 0; i < (o.requests as number); i++) {
        const started = performance.now();
        const response = await fetch(`${server.url}/api/v1/namespaces/default`, { headers: { authorization: `Bearer ${token}` } });
        await response.arrayBuffer();
        const elapsedMs = performance.now() - started;
        if (!response.ok) throw new Error(`GET answered ${response.status}`);
        histogram.record(elapsedMs * 1000);
        minMs = Math.min(minMs, elapsedMs);
      }
      runs.push({ injectedMs, ...histogram.summary(), minMs: Math.round(minMs * 1000) / 1000, honoured: minMs >= injectedMs });
    }
  } finally {
    server.faults.setLatency(0);
    await server.close();
  }
  process.stdout.write(
    `\n${markdownTable(
      ['injected ms', 'requests', 'min ms', 'p50 ms', 'p99 ms', 'max ms', 'p50 − injected ms', 'every request ≥ injected'],
      runs.map((r) => [r.injectedMs, r.count, r.minMs, r.p50Ms, r.p99Ms, r.maxMs, Math.round((r.p50Ms - r.injectedMs) * 1000) / 1000, r.honoured ? 'yes' : 'NO']),
    )}\n`,
  );
  const record = { benchmark: 'sandbox', date: new Date().toISOString(), machine: machineInfo(), options: o, runs };
  const path = await writeResult('sandbox', record, (o.out as string) || undefined);
  process.stdout.write(`results: ${path}\n`);
  return record;
}
