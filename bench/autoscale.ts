/**
 * `npm run bench -- autoscale`: the autoscaler under a load step, and what reading load costs.
 *
 * Part `step` (real processes): a two-region sandbox on the process runner (every gateway Pod a
 * real `meridian gateway`, one redis-server per region) with the operator's Controller and
 * autoscaler in this process. One region starts at one pod; `--step` clients connect to it at
 * once. Measured: time from the step to the new pods Ready, peak connections per pod (sampled
 * from every pod's /loadz), clients closed without 1012 (goal 0; clients closed with 1012 by
 * rebalancing reconnect to the emptiest pod), and the operator's API requests per load period
 * (the region API servers' own counters, divided by the load monitor's rounds).
 *
 * Part `loadz` (emulated pods): the cost of one load round at `--regions` × `--pods`. 750 real
 * gateways do not fit on two shared cores, so each region is an API emulator whose Pods are
 * served by one small HTTP responder answering /loadz for all of them (the pods/proxy path,
 * authentication and the emulator's work are real; the gateway behind it is not). Measured per
 * round: wall time, requests (pod lists + /loadz reads), and this process's CPU time (which
 * includes the emulators: an upper bound for the operator's share).
 */
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { AppsV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { KubeClient } from '../operator/kube/client.ts';
import { pino } from 'pino';
import { systemClock } from '../operator/clock.ts';
import { LoadMonitor } from '../operator/autoscale/load-monitor.ts';
import { PooledRegionClient, REGION_POOL_DEFAULTS } from '../operator/regions.ts';
import { selectorLabels } from '../operator/reconcile/render.ts';
import { startApiServer, type PodRunner } from '../sandbox/apiserver/index.ts';
import { autoscaleSpec, createRtc, gatewayDeployment, gatewayPods, portOf, readyGatewayPods, RoomClient, startAutoscaleCluster } from '../test/helpers/autoscale-cluster.ts';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { machineInfo, markdownTable, writeResult } from './lib/results.ts';

export const autoscaleOptions: Record<string, OptionSpec> = {
  part: { kind: 'string', default: 'all', doc: 'step, loadz or all' },
  step: { kind: 'int', default: 200, quick: 60, doc: 'clients connected at once in the load step' },
  target: { kind: 'int', default: 50, quick: 15, doc: 'targetConnectionsPerPod in the load step' },
  'period-ms': { kind: 'int', default: 2000, doc: 'load period of the step (the operator default is 15000)' },
  regions: { kind: 'int', default: 15, quick: 3, doc: 'regions in the loadz part' },
  pods: { kind: 'int', default: 50, quick: 10, doc: 'pods per region in the loadz part' },
  rounds: { kind: 'int', default: 10, quick: 3, doc: 'load rounds measured in the loadz part' },
  quick: { kind: 'bool', default: false, doc: 'a small run' },
  out: { kind: 'string', default: '', doc: 'results file (default bench/results/autoscale.json)' },
};

const NAME = 'classes';

async function loadStep(o: Record<string, unknown>) {
  const periodMs = o['period-ms'] as number;
  const target = o.target as number;
  const step = o.step as number;
  const cluster = await startAutoscaleCluster({ loadPeriodMs: periodMs });
  const clients: RoomClient[] = [];
  try {
    await createRtc(cluster, NAME, autoscaleSpec({ targetConnectionsPerPod: target, headroomPercent: 10, scaleDownStabilizationSeconds: 300, rebalance: { enabled: true, maxShedPerMinute: 600, tolerancePercent: 20 } }, { min: 1, max: 8 }, { min: 1, max: 1 }));
    const [first] = await readyGatewayPods(cluster, 'us-east1', NAME, 1);
    const region = cluster.regions['us-east1'].server;
    const requestsBefore = region.requestCount();
    const roundsBefore = cluster.controller.autoscaler!.monitor.stats.rounds;
    const peak = new Map<string, number>();
    const current = new Map<string, number>();
    const sampler = setInterval(() => {
      void gatewayPods(cluster, 'us-east1', NAME).then((pods) =>
        Promise.all(pods.map(async (pod) => {
          const load = (await (await fetch(`http://127.0.0.1:${portOf(pod)}/loadz`)).json()) as { connections: number };
          peak.set(pod.metadata!.name!, Math.max(peak.get(pod.metadata!.name!) ?? 0, load.connections));
          current.set(pod.metadata!.name!, load.connections);
        })),
      ).catch(() => undefined);
    }, 250);
    const stepStart = performance.now();
    await Promise.all(Array.from({ length: step }, async (_, i) => clients.push(await RoomClient.open(portOf(first), `learner-${i}`, 'lesson'))));
    const stepAt = performance.now();
    // Rebalancing closes with 1012: such a client reconnects to the emptiest pod, as a load balancer would spread it.
    let reconnects = 0;
    const watch = setInterval(() => {
      for (const client of clients) {
        if (client.open || client.closes.length === 0 || (client as unknown as { moving?: boolean }).moving) continue;
        (client as unknown as { moving?: boolean }).moving = true;
        void gatewayPods(cluster, 'us-east1', NAME)
          .then(async (pods) => {
            const serving = pods.filter((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
            const emptiest = serving.sort((a, b) => (current.get(a.metadata!.name!) ?? 0) - (current.get(b.metadata!.name!) ?? 0))[0];
            current.set(emptiest.metadata!.name!, (current.get(emptiest.metadata!.name!) ?? 0) + 1);
            await client.reconnect(portOf(emptiest));
            reconnects += 1;
          })
          .finally(() => ((client as unknown as { moving?: boolean }).moving = false));
      }
    }, 100);
    const wanted = Math.ceil(Math.ceil((step * 100) / 90) / target);
    const pods = await readyGatewayPods(cluster, 'us-east1', NAME, Math.min(8, wanted), 600_000);
    const readyAt = performance.now();
    const deployment = await gatewayDeployment(cluster, 'us-east1', NAME);
    // Let rebalancing run for a few periods.
    await new Promise((r) => setTimeout(r, 6 * periodMs));
    clearInterval(watch);
    clearInterval(sampler);
    const rounds = cluster.controller.autoscaler!.monitor.stats.rounds - roundsBefore;
    const requests = region.requestCount() - requestsBefore;
    const closes = clients.flatMap((c) => c.closes);
    const finalLoads = await Promise.all(pods.map(async (p) => ((await (await fetch(`http://127.0.0.1:${portOf(p)}/loadz`)).json()) as { connections: number }).connections));
    return {
      stepClients: step,
      targetConnectionsPerPod: target,
      loadPeriodMs: periodMs,
      connectMs: Math.round(stepAt - stepStart),
      podsWanted: wanted,
      replicas: deployment.spec?.replicas,
      stepToPodsReadyMs: Math.round(readyAt - stepAt),
      peakConnectionsPerPod: Math.max(...peak.values()),
      connectionsPerPodAfterRebalance: finalLoads,
      closedWith1012: closes.filter((c) => c === 1012).length,
      closedWithout1012: closes.filter((c) => c !== 1012).length,
      reconnects,
      operatorRequestsPerLoadPeriod: Math.round((requests / Math.max(1, rounds)) * 10) / 10,
      loadRounds: rounds,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await cluster.close();
  }
}

/** Serves /loadz for every emulated Pod: the runner gives each Pod the base URL /<pod>/. */
async function fakeLoadz(): Promise<{ runner: PodRunner; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const body = JSON.stringify({ connections: 100, rooms: 10, msgsInPerSec: 0, msgsOutPerSec: 0, eventLoopLagMs: 1, rssBytes: 1, outboundQueuedBytes: 0, draining: false });
    res.writeHead(req.url?.endsWith('/loadz') ? 200 : 404, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const runner: PodRunner = {
    start(pod, onReady) {
      setTimeout(() => onReady(true), 10);
      return { url: `http://127.0.0.1:${port}/${(pod as V1Pod).metadata?.name}/`, podIP: '127.0.0.1', stop: async () => undefined };
    },
  };
  return { runner, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function loadzCost(o: Record<string, unknown>) {
  const regionCount = o.regions as number;
  const podCount = o.pods as number;
  const fake = await fakeLoadz();
  const servers = await Promise.all(Array.from({ length: regionCount }, (_, i) => startApiServer({ port: 0, name: `region-${i}`, podRunner: fake.runner })));
  const logger = pino({ level: 'silent' });
  try {
    const target = { clusterName: NAME, hubNamespace: 'tenants', namespace: 'default' };
    const labels = selectorLabels(target);
    const clients = new Map<string, PooledRegionClient>();
    await Promise.all(
      servers.map(async (server, i) => {
        const kc = new KubeConfig();
        kc.loadFromString(server.kubeconfig());
        clients.set(`region-${i}`, new PooledRegionClient(`region-${i}`, `region-${i}`, KubeClient.fromString(server.kubeconfig()), 'bench', REGION_POOL_DEFAULTS, systemClock, () => undefined, undefined));
        await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
          namespace: 'default',
          body: { metadata: { name: 'gateway' }, spec: { replicas: podCount, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'gateway', image: 'meridian' }] } } } },
        });
      }),
    );
    const pool = { client: async (_ns: string, region: { name: string }) => clients.get(region.name)! };
    const monitor = new LoadMonitor({ pool, logger });
    monitor.track('tenants/classes', [...clients.keys()].map((name) => ({ ...target, region: { name } })));
    // Wait until every pod answers.
    for (let i = 0; i < 200; i++) {
      await monitor.readAll();
      const complete = [...clients.keys()].every((name) => monitor.load('tenants/classes', name)?.samples.size === podCount);
      if (complete) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const before = { ...monitor.stats };
    const durations: number[] = [];
    const cpu = process.cpuUsage();
    for (let i = 0; i < (o.rounds as number); i++) {
      const start = performance.now();
      await monitor.readAll();
      durations.push(performance.now() - start);
    }
    const cpuMs = (process.cpuUsage(cpu).user + process.cpuUsage(cpu).system) / 1000;
    const rounds = o.rounds as number;
    const reads = monitor.stats.loadReads - before.loadReads;
    const lists = monitor.stats.podLists - before.podLists;
    durations.sort((a, b) => a - b);
    return {
      regions: regionCount,
      podsPerRegion: podCount,
      requestsPerRound: (reads + lists) / rounds,
      loadReadsPerRound: reads / rounds,
      podListsPerRound: lists / rounds,
      failuresPerRound: (monitor.stats.loadFailures - before.loadFailures) / rounds,
      roundMsP50: Math.round(durations[Math.floor(durations.length / 2)]),
      roundMsMax: Math.round(durations[durations.length - 1]),
      cpuMsPerRoundUpperBound: Math.round(cpuMs / rounds),
      requestsPerSecondAtDefaultPeriod: Math.round(((reads + lists) / rounds / 15) * 10) / 10,
    };
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await fake.close();
  }
}

export async function run(args: readonly string[]): Promise<unknown> {
  const o = parseOptions(args, autoscaleOptions);
  const part = o.part as string;
  const result: Record<string, unknown> = {};
  if (part === 'all' || part === 'loadz') {
    result.loadz = await loadzCost(o);
    const l = result.loadz as Awaited<ReturnType<typeof loadzCost>>;
    process.stdout.write(`\n/loadz round at ${l.regions} regions × ${l.podsPerRegion} pods\n${markdownTable(['requests/round', 'round p50 ms', 'round max ms', 'CPU ms/round (upper bound)', 'req/s at 15 s'], [[l.requestsPerRound, l.roundMsP50, l.roundMsMax, l.cpuMsPerRoundUpperBound, l.requestsPerSecondAtDefaultPeriod]])}\n`);
  }
  if (part === 'all' || part === 'step') {
    result.step = await loadStep(o);
    const s = result.step as Awaited<ReturnType<typeof loadStep>>;
    process.stdout.write(`\nload step of ${s.stepClients} clients (target ${s.targetConnectionsPerPod}/pod, period ${s.loadPeriodMs} ms)\n${markdownTable(['step → pods Ready ms', 'replicas', 'peak conns/pod', 'after rebalance', 'closed 1012', 'closed without 1012', 'API req / period'], [[s.stepToPodsReadyMs, s.replicas ?? 0, s.peakConnectionsPerPod, s.connectionsPerPodAfterRebalance.join('/'), s.closedWith1012, s.closedWithout1012, s.operatorRequestsPerLoadPeriod]])}\n`);
  }
  const record = { benchmark: 'autoscale', date: new Date().toISOString(), machine: machineInfo(), loadAverage: loadavg(), options: o, result };
  const path = await writeResult('autoscale', record, (o.out as string) || undefined);
  process.stdout.write(`\nwritten to ${path}\n`);
  return record;
}
