/**
 * `npm run bench -- operator`: N RealtimeClusters × R regions, from apply to all Ready, for each
 * region count of `--regions` (default 1, 5, 15, 20) at the same number of clusters, and what one
 * more region costs.
 *
 * Layout (R + 2 processes per step): this process hosts the hub's API emulator and applies the
 * clusters; each region (region-01 … region-R) is an emulator in a process of its own, as each
 * region is a cluster with its own API server (in one process, twenty regions queue behind one
 * event loop and time out); the operator is `meridian operator` in a child process, so its
 * memory is its own. Each step starts from fresh emulators and a fresh operator.
 * Measured per step:
 * - wall time from the first create to every cluster's status.phase Ready;
 * - API requests (and writes) the operator made per cluster in that time, across all emulators
 *   (this process's own creates and status polls are subtracted);
 * - requests during one periodic resync of a converged system: writes and reads (target 0 of
 *   each: the reconciler reads its informer caches). The operator's region probe runs once an
 *   hour here, so that what is counted is the resync's own traffic;
 * - watches each region's emulator holds (at the end, and the most seen at any poll): one set
 *   per region shared by every cluster, so it must not grow with the clusters; and region
 *   clients per region (series of meridian_operator_region_reachable), each of which probes
 *   its region once per probe interval;
 * - the operator's RSS and V8 heap after a forced GC.
 * Then the marginal cost of a region between successive steps: MiB (heap and RSS after GC) and
 * requests per cluster, per added region.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { realtimeClusterCrdModel } from '../crds/crd.ts';
import { GROUP, PLURAL, VERSION, type RealtimeCluster, type RealtimeClusterSpec } from '../crds/types.ts';
import { startApiServer } from '../sandbox/apiserver/index.ts';
import { CONTROLLER_DEFAULTS } from '../operator/controller.ts';
import { LOAD_MONITOR_DEFAULTS } from '../operator/autoscale/load-monitor.ts';
import { parseOptions, type OptionSpec, type OptionValues } from './lib/args.ts';
import { BenchError, BenchErrorCode } from './lib/errors.ts';
import type { ProcessSample } from './lib/memory-hook.ts';
import { memoryMapOf, type MemoryMap } from './lib/memory-map.ts';
import { freePort } from '../test/helpers/net.ts';
import { startApiServerProcess } from './lib/apiserver-process.ts';
import { spawnBenchProcess, waitReady, type BenchProcess } from './lib/processes.ts';
import { machineInfo, markdownTable, writeResult } from './lib/results.ts';

/** The CRD's spec.regions maxItems. */
const MAX_REGIONS = 20;

const OPERATOR_SCRIPT = new URL('./servers/operator.ts', import.meta.url).pathname;
/** Where bin/meridian.ts's enableCompileCache() keeps Node's compile cache by default. */
const COMPILE_CACHE_DIR = join(tmpdir(), 'node-compile-cache');

/**
 * Fills Node's compile cache with the operator's module graph (`--help` loads it without running
 * it), as the image does at build time (Dockerfile: NODE_COMPILE_CACHE): the operator then starts
 * without loading Node's TypeScript stripper, which would otherwise stay resident (~15-28 MiB).
 * NODE_DISABLE_COMPILE_CACHE=1 in --operator-env measures the operator without it.
 */
function warmCompileCache(): void {
  execFileSync(process.execPath, [OPERATOR_SCRIPT, '--help'], { env: { ...process.env, NODE_COMPILE_CACHE: COMPILE_CACHE_DIR }, stdio: 'ignore' });
}

export const operatorOptions: Record<string, OptionSpec> = {
  clusters: { kind: 'int', default: 100, quick: 10, doc: 'RealtimeClusters to apply in each step' },
  regions: { kind: 'intList', default: [1, 5, 15, 20], quick: [1, 3], doc: `region counts, one step each (each cluster spans all regions of its step; at most ${MAX_REGIONS})` },
  namespaces: { kind: 'int', default: 1, doc: 'hub namespaces the clusters are spread over (tenants-1 …), each with its own copy of the region kubeconfig Secrets, as tenants in their own namespaces have' },
  concurrency: { kind: 'int', default: 10, doc: 'creates in flight at once' },
  workers: { kind: 'int', default: CONTROLLER_DEFAULTS.workers, doc: 'operator --workers (default: the operator\'s own default)' },
  'resync-seconds': { kind: 'int', default: 30, quick: 10, doc: 'operator --resync-seconds (one resync is measured after convergence)' },
  'steady-periods': { kind: 'int', default: 2, doc: 'after the resync, load periods over which the converged system\'s writes (target 0) and reads are counted (0: none; skipped above 10 minutes)' },
  'load-period-ms': { kind: 'int', default: LOAD_MONITOR_DEFAULTS.periodMs, doc: 'operator --load-period-ms: the autoscaler reads every gateway pod\'s /loadz through pods/proxy this often (its cost is `bench autoscale`\'s); 3600000 leaves only the reconciler\'s own traffic, as the probe is left out' },
  'ready-delay-ms': { kind: 'int', default: 200, doc: 'emulated pods turn Ready after this long' },
  'poll-ms': { kind: 'int', default: 500, doc: 'how often this process lists clusters to see if all are Ready' },
  'timeout-ms': { kind: 'int', default: 600_000, doc: 'give up on a step after this long' },
  quick: { kind: 'bool', default: false, doc: 'a small run (10 clusters; 1 and 3 regions)' },
  'operator-env': { kind: 'string', default: '', doc: 'extra environment for the operator process, NAME=VALUE[,NAME=VALUE…] (e.g. MALLOC_ARENA_MAX=2 to compare allocator settings)' },
  'heap-snapshot': { kind: 'string', default: '', doc: 'write a heap snapshot of the operator at the end of each step into this directory (compare two with bench/heap-by-constructor.ts)' },
  out: { kind: 'string', default: '', doc: 'results file (default bench/results/operator.json)' },
};

type ApiServer = Awaited<ReturnType<typeof startApiServer>>;

/** region-01 … region-N: names generated, so any count can be asked for. */
export function regionNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `region-${String(i + 1).padStart(2, '0')}`);
}

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

async function metricLines(port: number, name: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split('\n').filter((line) => line.startsWith(name) && !line.startsWith('#'));
}

async function metricSum(port: number, name: string): Promise<number> {
  return (await metricLines(port, name)).reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
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

const sum = (values: Record<string, number>) => Object.values(values).reduce((a, b) => a + b, 0);
const round1 = (value: number) => Math.round(value * 10) / 10;

export interface StepResult {
  clusters: number;
  regions: number;
  namespaces: number;
  applyMs: number;
  allReadyMs: number;
  /** The operator's CPU time (user + system) from the first create to all Ready: what a busy machine does not inflate as it inflates wall time. */
  operatorCpuSecondsToReady: number;
  operatorCpuMsPerClusterRegion: number;
  operatorRequests: number;
  operatorRequestsPerCluster: number;
  operatorWritesPerCluster: number;
  reconcilesToReady: number;
  retriesToReady: number;
  meanReconcileMs: number;
  writesPerResync: number;
  readsPerResync: number;
  requestsPerResync: number;
  /**
   * A converged system left alone for two load periods (`--steady-periods`): its writes (target 0:
   * load rounds that find nothing new write no status) and its reads (the load rounds' own
   * `pods/proxy` reads of every pod, one per pod per period, and nothing else).
   */
  steady?: { seconds: number; writes: number; reads: number };
  /** Watches open on each region's emulator at the end, fewest and most over the regions. */
  watchesPerRegion: { min: number; max: number; byResource: Record<string, number> };
  /** The most watches any region's emulator held at any poll during the step. */
  peakWatchesPerRegion: number;
  /** Region clients (each probes its region once per interval and holds one set of watches) per region. */
  regionClientsPerRegion: { min: number; max: number };
  hubWatches: number;
  operatorRssMiB: number;
  operatorPeakRssMiB: number;
  operatorHeapAfterGcMiB: number;
  operatorRssAfterGcMiB: number;
  /** V8 heap reserved, and memory outside it that V8 knows of (external, array buffers), after GC. */
  operatorHeapTotalAfterGcMiB: number;
  operatorExternalAfterGcMiB: number;
  /** MiB each V8 heap space holds committed after GC (new_space is the young generation). */
  operatorHeapSpacesAfterGcMiB: Record<string, number>;
  /** Where the RSS after GC lies (bench/lib/memory-map.ts). */
  operatorMemoryMap: MemoryMap | undefined;
  loadAverage1mAtEnd: number;
}

/** One step: fresh emulators, a fresh operator, `clusters` clusters over `regionCount` regions. */
async function measureStep(o: OptionValues, regionCount: number): Promise<StepResult> {
  const clusters = o.clusters as number;
  const names = regionNames(regionCount);
  const dir = mkdtempSync(join(tmpdir(), 'meridian-bench-operator-'));
  const hub = await startApiServer({ port: 0, name: 'hub' });
  const regions: Awaited<ReturnType<typeof startApiServerProcess>>[] = [];
  const hubConfig = kubeConfigOf(hub);
  const core = hubConfig.makeApiClient(CoreV1Api);
  const custom = hubConfig.makeApiClient(CustomObjectsApi);
  let operator: BenchProcess | undefined;
  try {
    for (const name of names) regions.push(await startApiServerProcess({ name, dir, readyDelayMs: o['ready-delay-ms'] as number }));
    await hubConfig.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: realtimeClusterCrdModel() });
    const namespaces = Array.from({ length: Math.max(1, o.namespaces as number) }, (_, i) => `tenants-${i + 1}`);
    for (const namespace of namespaces) {
      await core.createNamespace({ body: { metadata: { name: namespace } } });
      const secret = (name: string, data: Record<string, string>) => core.createNamespacedSecret({ namespace, body: { metadata: { name }, data: base64Values(data) } });
      await secret('auth', { 'jwt-secret': 'bench-jwt-secret', 'api-key': 'bench-api-key' });
      await secret('redis', Object.fromEntries(names.map((name) => [name, `redis://redis.${name}:6379`])));
      for (const [i, name] of names.entries()) await secret(`region-${name}`, { kubeconfig: regions[i].kubeconfig() });
    }

    warmCompileCache();
    const kubeconfigFile = join(dir, 'hub.yaml');
    writeFileSync(kubeconfigFile, hub.kubeconfig());
    // A port free a moment ago: a random one collided with the region emulators' now and then.
    const port = await freePort();
    operator = spawnBenchProcess({
      label: 'operator',
      script: OPERATOR_SCRIPT,
      env: { NODE_COMPILE_CACHE: COMPILE_CACHE_DIR, ...Object.fromEntries((o['operator-env'] as string).split(',').filter(Boolean).map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)])) },
      args: ['--kubeconfig', kubeconfigFile, '--no-leader-elect', '--metrics-host', '127.0.0.1', '--metrics-port', String(port), '--workers', String(o.workers), '--resync-seconds', String(o['resync-seconds']), '--probe-interval-ms', '3600000', '--load-period-ms', String(o['load-period-ms']), '--log-level', 'warn'],
    });
    const op = operator;
    await waitReady(op, async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 30_000);

    const counted = async (filter: { writesOnly?: boolean }) => hub.requestCount(filter) + (await Promise.all(regions.map((r) => r.requestCount(filter)))).reduce((a, b) => a + b, 0);
    const requests = () => counted({});
    const writes = () => counted({ writesOnly: true });
    let peakWatchesPerRegion = 0;
    const sampleWatches = async () => {
      for (const total of (await Promise.all(regions.map((r) => r.watchCount()))).map(sum)) peakWatchesPerRegion = Math.max(peakWatchesPerRegion, total);
    };
    let ownRequests = 0;
    let ownWrites = 0;
    const requestsBefore = await requests();
    const writesBefore = await writes();
    const cpu = async () => (await op.ipc.request<{ cpuMs: number }>('cpu', {}, 30_000)).cpuMs;
    const cpuBefore = await cpu();
    const started = performance.now();

    const clusterNames = Array.from({ length: clusters }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
    const namespaceOf = (i: number) => namespaces[i % namespaces.length];
    let next = 0;
    const body = spec(names);
    await Promise.all(
      Array.from({ length: Math.min(o.concurrency as number, clusters) }, async () => {
        while (next < clusterNames.length) {
          const index = next++;
          const name = clusterNames[index];
          ownRequests += 1;
          ownWrites += 1;
          await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: namespaceOf(index), body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'RealtimeCluster', metadata: { name }, spec: body } });
        }
      }),
    );
    const appliedMs = performance.now() - started;
    await until(
      async () => {
        await sampleWatches();
        ownRequests += 1;
        const list = (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as { items: RealtimeCluster[] };
        return list.items.filter((c) => c.status?.phase === 'Ready').length === clusters;
      },
      `all ${clusters} clusters Ready over ${regionCount} regions`,
      o['timeout-ms'] as number,
      o['poll-ms'] as number,
      op,
    );
    const readyMs = performance.now() - started;
    const cpuToReadyMs = (await cpu()) - cpuBefore;
    const convergeRequests = (await requests()) - requestsBefore - ownRequests;
    const convergeWrites = (await writes()) - writesBefore - ownWrites;
    const afterConverge = memoryOf(op.pid);
    const reconcilesToReady = await metricSum(port, 'meridian_operator_reconcile_duration_seconds_count');
    const retriesToReady = await metricSum(port, 'meridian_operator_queue_retries_total');
    const reconcileSecondsToReady = await metricSum(port, 'meridian_operator_reconcile_duration_seconds_sum');

    // One periodic resync of the converged system: wait for the queue to drain, then for the
    // reconcile counter to grow by at least one full pass, then for the queue to drain again.
    const quiet = async () => (await metricSum(port, 'meridian_operator_queue_depth')) === 0;
    await until(quiet, 'an empty queue', 60_000, 100, op);
    const resyncWritesBefore = await writes();
    const resyncRequestsBefore = await requests();
    const reconcilesBefore = await metricSum(port, 'meridian_operator_reconcile_duration_seconds_count');
    await until(
      async () => {
        await sampleWatches();
        return (await metricSum(port, 'meridian_operator_reconcile_duration_seconds_count')) >= reconcilesBefore + clusters;
      },
      'a periodic resync',
      ((o['resync-seconds'] as number) + 60) * 1000,
      200,
      op,
    );
    await until(quiet, 'an empty queue after the resync', 60_000, 100, op);
    const resyncWrites = (await writes()) - resyncWritesBefore;
    const resyncRequests = (await requests()) - resyncRequestsBefore;

    // Steady state: the converged system over whole load periods, after the rounds that first
    // see its pods have settled the status.
    const steadyMs = (o['steady-periods'] as number) * (o['load-period-ms'] as number);
    let steady: StepResult['steady'];
    if (steadyMs > 0 && steadyMs <= 600_000) {
      await new Promise((resolve) => setTimeout(resolve, o['load-period-ms'] as number));
      const [w0, r0] = [await writes(), await requests()];
      await new Promise((resolve) => setTimeout(resolve, steadyMs));
      const [w1, r1] = [await writes(), await requests()];
      steady = { seconds: steadyMs / 1000, writes: w1 - w0, reads: r1 - r0 - (w1 - w0) };
    }

    await sampleWatches();
    const perRegion = await Promise.all(regions.map((region) => region.watchCount()));
    const totals = perRegion.map(sum);
    const clientLines = await metricLines(port, 'meridian_operator_region_reachable{');
    const clientsPerRegion = names.map((name) => clientLines.filter((line) => line.includes(`region="${name}"`)).length);
    const final = memoryOf(op.pid);
    // Retained memory: what is left after a forced GC (heap in use otherwise counts garbage).
    const collected = await op.ipc.request<ProcessSample>('sample', {}, 30_000);
    const memoryMap = memoryMapOf(op.pid);
    const snapshotDir = o['heap-snapshot'] as string;
    if (snapshotDir) await op.ipc.request('heapSnapshot', { path: join(snapshotDir, `operator-${clusters}x${regionCount}.heapsnapshot`) }, 120_000);
    return {
      clusters,
      regions: regionCount,
      namespaces: namespaces.length,
      applyMs: Math.round(appliedMs),
      allReadyMs: Math.round(readyMs),
      operatorCpuSecondsToReady: round1(cpuToReadyMs / 1000),
      operatorCpuMsPerClusterRegion: round1(cpuToReadyMs / (clusters * regionCount)),
      operatorRequests: convergeRequests,
      operatorRequestsPerCluster: round1(convergeRequests / clusters),
      operatorWritesPerCluster: round1(convergeWrites / clusters),
      reconcilesToReady,
      retriesToReady,
      meanReconcileMs: Math.round((reconcileSecondsToReady / Math.max(1, reconcilesToReady)) * 1000),
      writesPerResync: resyncWrites,
      readsPerResync: resyncRequests - resyncWrites,
      requestsPerResync: resyncRequests,
      ...(steady ? { steady } : {}),
      watchesPerRegion: { min: Math.min(...totals), max: Math.max(...totals), byResource: perRegion[0] },
      peakWatchesPerRegion,
      regionClientsPerRegion: { min: Math.min(...clientsPerRegion), max: Math.max(...clientsPerRegion) },
      hubWatches: sum(hub.watchCount()),
      operatorRssMiB: final.rssMiB,
      operatorPeakRssMiB: Math.max(afterConverge.peakRssMiB, final.peakRssMiB),
      operatorHeapAfterGcMiB: round1(collected.heapUsed / 2 ** 20),
      operatorRssAfterGcMiB: round1(collected.rss / 2 ** 20),
      operatorHeapTotalAfterGcMiB: round1(collected.heapTotal / 2 ** 20),
      operatorExternalAfterGcMiB: round1((collected.external + collected.arrayBuffers) / 2 ** 20),
      operatorHeapSpacesAfterGcMiB: Object.fromEntries(Object.entries(collected.heapSpaces).map(([space, bytes]) => [space, round1(bytes / 2 ** 20)])),
      operatorMemoryMap: memoryMap,
      loadAverage1mAtEnd: Math.round(loadavg()[0] * 100) / 100,
    };
  } finally {
    await operator?.stop();
    await Promise.all([hub.close(), ...regions.map((r) => r.close())]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What each added region cost between two successive steps. */
export interface MarginalCost {
  from: number;
  to: number;
  heapMiBPerRegion: number;
  rssMiBPerRegion: number;
  requestsPerClusterPerRegion: number;
  writesPerClusterPerRegion: number;
  readySecondsPerRegion: number;
  cpuSecondsPerRegion: number;
}

export function marginalCosts(steps: readonly StepResult[]): MarginalCost[] {
  const sorted = [...steps].sort((a, b) => a.regions - b.regions);
  return sorted.slice(1).map((step, i) => {
    const before = sorted[i];
    const added = step.regions - before.regions;
    const per = (value: number) => Math.round((value / added) * 100) / 100;
    return {
      from: before.regions,
      to: step.regions,
      heapMiBPerRegion: per(step.operatorHeapAfterGcMiB - before.operatorHeapAfterGcMiB),
      rssMiBPerRegion: per(step.operatorRssAfterGcMiB - before.operatorRssAfterGcMiB),
      requestsPerClusterPerRegion: per(step.operatorRequestsPerCluster - before.operatorRequestsPerCluster),
      writesPerClusterPerRegion: per(step.operatorWritesPerCluster - before.operatorWritesPerCluster),
      readySecondsPerRegion: per((step.allReadyMs - before.allReadyMs) / 1000),
      cpuSecondsPerRegion: per(step.operatorCpuSecondsToReady - before.operatorCpuSecondsToReady),
    };
  });
}

export async function run(args: readonly string[]): Promise<unknown> {
  const o = parseOptions(args, operatorOptions);
  const counts = o.regions as number[];
  if (counts.length === 0 || counts.some((n) => n < 1 || n > MAX_REGIONS)) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--regions takes counts from 1 to ${MAX_REGIONS} (spec.regions holds at most ${MAX_REGIONS}), got ${counts.join(',')}`);
  const steps: StepResult[] = [];
  const failed: Array<{ regions: number; error: string }> = [];
  const record = () => ({
    benchmark: 'operator',
    date: new Date().toISOString(),
    machine: machineInfo(),
    options: o,
    layout: 'per step: the hub API emulator in the bench process, each region an API emulator process of its own, the operator in its own process; fresh ones for every step',
    steps,
    failed,
    marginal: marginalCosts(steps),
  });
  for (const count of counts) {
    process.stdout.write(`operator: ${o.clusters} clusters × ${count} regions …\n`);
    try {
      steps.push(await measureStep(o, count));
    } catch (error) {
      // A step that does not converge is a result too; the others still run.
      if (!(error instanceof BenchError)) throw error;
      failed.push({ regions: count, error: error.message.slice(0, 4000) });
      process.stdout.write(`operator: ${count} regions failed: ${error.message.split('\n')[0]}\n`);
    }
    // Written after every step, so a long ladder that fails late keeps what it measured.
    await writeResult('operator', record(), (o.out as string) || undefined);
  }
  const marginal = marginalCosts(steps);
  process.stdout.write(
    `\n${markdownTable(
      ['clusters × regions', 'apply → all Ready (s)', 'operator CPU to Ready (s)', 'requests / cluster', 'writes / cluster', 'resync reads / writes', 'steady reads / writes', 'watches per region (peak)', 'clients per region', 'heap after GC (MiB)', 'RSS after GC (MiB)', 'peak RSS (MiB)'],
      steps.map((s) => [
        `${s.clusters} × ${s.regions}${s.namespaces > 1 ? ` (${s.namespaces} namespaces)` : ''}`,
        round1(s.allReadyMs / 1000),
        s.operatorCpuSecondsToReady,
        s.operatorRequestsPerCluster,
        s.operatorWritesPerCluster,
        `${s.readsPerResync} / ${s.writesPerResync}`,
        s.steady ? `${s.steady.reads} / ${s.steady.writes} in ${s.steady.seconds} s` : '—',
        `${s.watchesPerRegion.min === s.watchesPerRegion.max ? s.watchesPerRegion.max : `${s.watchesPerRegion.min}–${s.watchesPerRegion.max}`} (${s.peakWatchesPerRegion})`,
        s.regionClientsPerRegion.min === s.regionClientsPerRegion.max ? s.regionClientsPerRegion.max : `${s.regionClientsPerRegion.min}–${s.regionClientsPerRegion.max}`,
        s.operatorHeapAfterGcMiB,
        s.operatorRssAfterGcMiB,
        s.operatorPeakRssMiB,
      ]),
    )}\n`,
  );
  if (marginal.length > 0) {
    process.stdout.write(
      `\n${markdownTable(
        ['regions', 'heap MiB / region', 'RSS MiB / region', 'requests / cluster / region', 'writes / cluster / region', 'operator CPU s / region', 'Ready s / region'],
        marginal.map((m) => [`${m.from} → ${m.to}`, m.heapMiBPerRegion, m.rssMiBPerRegion, m.requestsPerClusterPerRegion, m.writesPerClusterPerRegion, m.cpuSecondsPerRegion, m.readySecondsPerRegion]),
      )}\n`,
    );
  }
  const path = await writeResult('operator', record(), (o.out as string) || undefined);
  process.stdout.write(`results: ${path}\n`);
  if (failed.length > 0) throw new BenchError(BenchErrorCode.TIMEOUT, `steps that did not converge: ${failed.map((f) => `${f.regions} regions (${f.error})`).join('; ')}`);
  return record();
}
