/**
 * `npm run bench -- operator`: N RealtimeClusters × R regions, from apply to all Ready.
 *
 * Layout (2 processes): this process hosts the API emulators (one hub, R regions) and applies
 * the clusters; the operator is `meridian operator` in a child process, so its RSS is its own.
 * Measured:
 * - wall time from the first create to every cluster's status.phase Ready;
 * - API requests (and writes) the operator made per cluster in that time, across all emulators
 *   (this process's own creates and status polls are subtracted);
 * - requests during one periodic resync of a converged system: writes (target 0) and reads
 *   (target 0: the reconciler reads its informer caches). The operator's region probe runs once
 *   an hour here, so that what is counted is the resync's own traffic (watches that the server
 *   ends and the informers resume in that window would count as reads too);
 * - the operator's RSS: peak (VmHWM) and at the end.
 */
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { realtimeClusterCrdModel } from '../crds/crd.ts';
import { GROUP, PLURAL, VERSION, type RealtimeCluster, type RealtimeClusterSpec } from '../crds/types.ts';
import { startApiServer } from '../sandbox/apiserver/index.ts';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { BenchError, BenchErrorCode } from './lib/errors.ts';
import type { ProcessSample } from './lib/memory-hook.ts';
import { spawnBenchProcess, waitReady, type BenchProcess } from './lib/processes.ts';
import { machineInfo, markdownTable, writeResult } from './lib/results.ts';

export const operatorOptions: Record<string, OptionSpec> = {
  clusters: { kind: 'int', default: 100, quick: 10, doc: 'RealtimeClusters to apply' },
  regions: { kind: 'int', default: 3, quick: 2, doc: 'region emulators (each cluster spans all of them)' },
  concurrency: { kind: 'int', default: 10, doc: 'creates in flight at once' },
  workers: { kind: 'int', default: 4, doc: 'operator --workers' },
  'resync-seconds': { kind: 'int', default: 30, quick: 10, doc: 'operator --resync-seconds (one resync is measured after convergence)' },
  'ready-delay-ms': { kind: 'int', default: 200, doc: 'emulated pods turn Ready after this long' },
  'poll-ms': { kind: 'int', default: 500, doc: 'how often this process lists clusters to see if all are Ready' },
  'timeout-ms': { kind: 'int', default: 600_000, doc: 'give up after this long' },
  quick: { kind: 'bool', default: false, doc: 'a small run (10 clusters, 2 regions)' },
  out: { kind: 'string', default: '', doc: 'results file (default bench/results/operator.json)' },
};

const HUB_NAMESPACE = 'tenants';
type ApiServer = Awaited<ReturnType<typeof startApiServer>>;

function kubeConfigOf(server: ApiServer): KubeConfig {
  const config = new KubeConfig();
  config.loadFromString(server.kubeconfig());
  return config;
}

function memoryOf(pid: number): { rssMiB: number; peakRssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: Math.round(kib('VmRSS') / 102.4) / 10, peakRssMiB: Math.round(kib('VmHWM') / 102.4) / 10 };
}

async function metricSum(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && !line.startsWith('#'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/** Secret `data`: base64 values, as an API server stores them. */
function base64Values(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
}

function spec(regions: string[]): RealtimeClusterSpec {
  return {
    gateway: { image: 'meridian:0.1.0', auth: { jwtSecretRef: { name: 'auth', key: 'jwt-secret' } }, apiKeySecretRef: { name: 'auth', key: 'api-key' } },
    autoscaling: { minReplicas: 2, maxReplicas: 4 },
    regions: regions.map((name) => ({ name, kubeconfigSecretRef: { name: `region-${name}`, key: 'kubeconfig' }, redis: { urlSecretRef: { name: 'redis', key: name } } })),
  };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number, intervalMs: number, operator: BenchProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (operator.exited()) throw new BenchError(BenchErrorCode.PROCESS_EXITED, `the operator exited while waiting for ${what}:\n${operator.output()}`);
    if (Date.now() > deadline) throw new BenchError(BenchErrorCode.TIMEOUT, `${what} not reached in ${timeoutMs} ms; operator output:\n${operator.output()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export async function run(args: readonly string[]): Promise<unknown> {
  const o = parseOptions(args, operatorOptions);
  const clusters = o.clusters as number;
  const regionNames = ['us-east1', 'europe-west1', 'asia-east1', 'us-west1', 'europe-north1'].slice(0, o.regions as number);
  if (regionNames.length < (o.regions as number)) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--regions at most 5`);

  const hub = await startApiServer({ port: 0, name: 'hub' });
  const regions = await Promise.all(regionNames.map((name) => startApiServer({ port: 0, name, readyDelayMs: o['ready-delay-ms'] as number })));
  const servers = [hub, ...regions];
  const hubConfig = kubeConfigOf(hub);
  const core = hubConfig.makeApiClient(CoreV1Api);
  const custom = hubConfig.makeApiClient(CustomObjectsApi);
  let operator: BenchProcess | undefined;
  try {
    await hubConfig.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: realtimeClusterCrdModel() });
    await core.createNamespace({ body: { metadata: { name: HUB_NAMESPACE } } });
    const secret = (name: string, data: Record<string, string>) => core.createNamespacedSecret({ namespace: HUB_NAMESPACE, body: { metadata: { name }, data: base64Values(data) } });
    await secret('auth', { 'jwt-secret': 'bench-jwt-secret', 'api-key': 'bench-api-key' });
    await secret('redis', Object.fromEntries(regionNames.map((name) => [name, `redis://redis.${name}:6379`])));
    for (const [i, name] of regionNames.entries()) await secret(`region-${name}`, { kubeconfig: regions[i].kubeconfig() });

    const dir = mkdtempSync(join(tmpdir(), 'meridian-bench-operator-'));
    const kubeconfigFile = join(dir, 'hub.yaml');
    writeFileSync(kubeconfigFile, hub.kubeconfig());
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    operator = spawnBenchProcess({
      label: 'operator',
      script: new URL('./servers/operator.ts', import.meta.url).pathname,
      args: ['--kubeconfig', kubeconfigFile, '--no-leader-elect', '--metrics-host', '127.0.0.1', '--metrics-port', String(port), '--workers', String(o.workers), '--resync-seconds', String(o['resync-seconds']), '--probe-interval-ms', '3600000', '--log-level', 'warn'],
    });
    const op = operator;
    await waitReady(op, async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 30_000);

    const requests = () => servers.reduce((sum, s) => sum + s.requestCount(), 0);
    const writes = () => servers.reduce((sum, s) => sum + s.requestCount({ writesOnly: true }), 0);
    let ownRequests = 0;
    let ownWrites = 0;
    const requestsBefore = requests();
    const writesBefore = writes();
    const started = performance.now();

    const names = Array.from({ length: clusters }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
    let next = 0;
    const body = spec(regionNames);
    await Promise.all(
      Array.from({ length: Math.min(o.concurrency as number, clusters) }, async () => {
        while (next < names.length) {
          const name = names[next++];
          ownRequests += 1;
          ownWrites += 1;
          await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: HUB_NAMESPACE, body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RealtimeCluster', metadata: { name }, spec: body } });
        }
      }),
    );
    const appliedMs = performance.now() - started;
    let ready = 0;
    await until(
      async () => {
        ownRequests += 1;
        const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: HUB_NAMESPACE })) as { items: RealtimeCluster[] };
        ready = list.items.filter((c) => c.status?.phase === 'Ready').length;
        return ready === clusters;
      },
      'all clusters Ready',
      o['timeout-ms'] as number,
      o['poll-ms'] as number,
      op,
    );
    const readyMs = performance.now() - started;
    const convergeRequests = requests() - requestsBefore - ownRequests;
    const convergeWrites = writes() - writesBefore - ownWrites;
    const afterConverge = memoryOf(op.pid);
    const reconcilesToReady = await metricSum(port, 'meridian_operator_reconcile_duration_seconds_count');
    const retriesToReady = await metricSum(port, 'meridian_operator_queue_retries_total');
    const reconcileSecondsToReady = await metricSum(port, 'meridian_operator_reconcile_duration_seconds_sum');

    // One periodic resync of the converged system: wait for the queue to drain, then for the
    // reconcile counter to grow by at least one full pass, then for the queue to drain again.
    const quiet = async () => (await metricSum(port, 'meridian_operator_queue_depth')) === 0;
    await until(quiet, 'an empty queue', 60_000, 100, op);
    const resyncWritesBefore = writes();
    const resyncRequestsBefore = requests();
    const reconcilesBefore = await metricSum(port, 'meridian_operator_reconcile_duration_seconds_count');
    await until(
      async () => (await metricSum(port, 'meridian_operator_reconcile_duration_seconds_count')) >= reconcilesBefore + clusters,
      'a periodic resync',
      ((o['resync-seconds'] as number) + 60) * 1000,
      200,
      op,
    );
    await until(quiet, 'an empty queue after the resync', 60_000, 100, op);
    const resyncWrites = writes() - resyncWritesBefore;
    const resyncRequests = requests() - resyncRequestsBefore;
    const final = memoryOf(op.pid);
    // Retained memory: what is left after a forced GC (heap in use otherwise counts garbage).
    const collected = await op.ipc.request<ProcessSample>('sample', {}, 30_000);
    const mib = async (metric: string) => Math.round((await metricSum(port, metric)) / 2 ** 20);
    const heapUsedMiB = await mib('meridian_operator_nodejs_heap_size_used_bytes');
    const heapTotalMiB = await mib('meridian_operator_nodejs_heap_size_total_bytes');
    const externalMiB = await mib('meridian_operator_nodejs_external_memory_bytes');

    const result = {
      clusters,
      regions: regionNames.length,
      layout: 'hub + region API emulators in the bench process; the operator in its own process',
      applyMs: Math.round(appliedMs),
      allReadyMs: Math.round(readyMs),
      operatorRequests: convergeRequests,
      operatorRequestsPerCluster: Math.round((convergeRequests / clusters) * 10) / 10,
      operatorWritesPerCluster: Math.round((convergeWrites / clusters) * 10) / 10,
      reconcilesToReady,
      retriesToReady,
      meanReconcileMs: Math.round((reconcileSecondsToReady / Math.max(1, reconcilesToReady)) * 1000),
      writesPerResync: resyncWrites,
      readsPerResync: resyncRequests - resyncWrites,
      requestsPerResync: resyncRequests,
      operatorRssMiB: final.rssMiB,
      operatorPeakRssMiB: Math.max(afterConverge.peakRssMiB, final.peakRssMiB),
      /** V8 heap in use at the end (not collected first): RSS is mostly heap the GC has not returned. */
      operatorHeapUsedMiB: heapUsedMiB,
      operatorHeapTotalMiB: heapTotalMiB,
      operatorExternalMiB: externalMiB,
      operatorHeapAfterGcMiB: Math.round(collected.heapUsed / 2 ** 20),
      operatorRssAfterGcMiB: Math.round(collected.rss / 2 ** 20),
      loadAverage1mAtEnd: Math.round(loadavg()[0] * 100) / 100,
    };
    process.stdout.write(
      `\n${markdownTable(
        ['clusters × regions', 'apply → all Ready (s)', 'API requests / cluster', 'writes / cluster', 'writes per resync', 'reads per resync', 'operator RSS (MiB)', 'peak RSS (MiB)', 'heap used (MiB)', 'heap / RSS after GC (MiB)'],
        [[`${clusters} × ${regionNames.length}`, Math.round(readyMs / 100) / 10, result.operatorRequestsPerCluster, result.operatorWritesPerCluster, resyncWrites, resyncRequests - resyncWrites, final.rssMiB, result.operatorPeakRssMiB, heapUsedMiB, `${result.operatorHeapAfterGcMiB} / ${result.operatorRssAfterGcMiB}`]],
      )}\n`,
    );
    const record = { benchmark: 'operator', date: new Date().toISOString(), machine: machineInfo(), options: o, result };
    const path = await writeResult('operator', record, (o.out as string) || undefined);
    process.stdout.write(`results: ${path}\n`);
    return record;
  } finally {
    await operator?.stop();
    await Promise.all(servers.map((s) => s.close()));
  }
}
