/**
 * The connections benchmark's cluster and storm phases (see bench/connections.ts): Meridian pods
 * on one redis-server, each room's members spread over the pods, held under a steady
 * background of publications while memory and lag are sampled; then a reconnect storm.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from '../test/helpers/services.ts';
import { Fleet, type OpenStep, type SourceAddresses } from './lib/fleet.ts';
import { deliverySummary, type DeliverySummary } from './lib/delivery-summary.ts';
import type { CpuSample, LoopLag, ProcessSample } from './lib/memory-hook.ts';
import { markdownTable, sourceInfo, type SourceInfo } from './lib/results.ts';
import { settle, type SettleResult } from './lib/settle.ts';
import { SYSTEMS, startServer, type StartedServer } from './systems.ts';
import type { CrowdHealth, StormResult } from './generator/crowd.ts';
import { tcpCounters, tcpDelta, type TcpCounters } from './lib/tcp-counters.ts';
import { StormSampler, type StormSamples } from './lib/storm-sampler.ts';
import { freePort } from '../test/helpers/net.ts';
import { memoryMapOf, type MemoryMap } from './lib/memory-map.ts';
import { loadavg } from 'node:os';
import { SAMPLE_TIMEOUT_MS, SETTLE, clientSettings, roomNames, type Settings } from './connections.ts';

/** The storm run publishes this long before the cut, so every client has a position. */
const STORM_CUT_AFTER_MS = 5_000;
const STORM_RETRY_MS = 500;
const STORM_ATTEMPTS = 10;
const MAX_FILES = 20_000;
/** How often Redis, the pods' CPU and their /metrics are read during the storm. */
const STORM_SAMPLE_MS = 2_000;

export interface PodSample {
  atMs: number;
  pod: number;
  rss: number;
  heapUsed: number;
  /** V8's committed heap (all spaces) and its young generation's share of it. */
  heapTotal?: number;
  newSpace?: number;
  /** Memory outside V8's heap that V8 knows of (Buffers, ArrayBuffers). */
  external?: number;
  /** Where the RSS lies (/proc/PID/smaps): mapped files, malloc arenas, other anonymous memory. */
  map?: MemoryMap;
  lag: LoopLag;
  cpu: CpuSample;
}

/** A least-squares line through (minutes, bytes), and how far the samples strayed from the first. */
export interface Trend {
  slopeBytesPerMin: number;
  first: number;
  last: number;
  /** (last − first) / first, in percent. */
  changePercent: number;
  /** Largest |sample − first| / first over the hold, in percent. */
  maxDeviationPercent: number;
}

export interface PodResult {
  pod: number;
  connections: number;
  base: PodSample;
  settle: SettleResult;
  afterOpen: ProcessSample;
  heapBytesPerConnection: number;
  rssBytesPerConnection: number;
  /**
   * Over the hold's samples: from the first (taken after the warm-up, or from the idle pod just
   * after opening when there is none) to the last.
   */
  rss: Trend;
  heap: Trend;
  /** From the idle pod just after opening, through the warm-up, to the hold's end. */
  rssSinceOpen: Trend;
  /** From the first sample under the background on: what the pod does once it is serving. */
  rssUnderLoad: Trend;
  heapUnderLoad: Trend;
  holdLag: LoopLag;
  /** CPU use over the hold, and the share of it the pod waited for a CPU other processes held. */
  holdCpuPercent: number;
  holdRunQueuePercent: number;
  stormLag?: LoopLag;
}

export interface ClusterResult {
  source: SourceInfo;
  pods: number;
  connections: number;
  rooms: number;
  open: OpenStep;
  /** The kernel's listen-queue overflows and SYN retransmissions while opening. */
  openTcp?: TcpCounters;
  /** `crowd`: closes the pods made on their own and how the clients came back (with recover), cumulative. */
  hold: { durationMs: number; samples: PodSample[]; delivery: DeliverySummary; crowd: CrowdHealth };
  /** Publishing before the hold is measured; its first sample is the idle pod just after opening. */
  warmup?: { durationMs: number; delivery: DeliverySummary; afterOpen: PodSample[] };
  perPod: PodResult[];
  storm?: { crowd: CrowdHealth; tcp?: TcpCounters; clients: number; jitterMs: number; generators: StormResult[]; allBackMs: number; errors: Record<string, number>; notRecovered: number; delivery: DeliverySummary; loadAverage1m: { start: number; end: number }; samples: StormSamples };
}

export function trend(points: readonly { atMs: number; value: number }[]): Trend {
  const n = points.length;
  const xs = points.map((p) => p.atMs / 60_000);
  const ys = points.map((p) => p.value);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  const first = ys[0];
  const last = ys[n - 1];
  const pct = (v: number) => Math.round((v / first) * 10_000) / 100;
  return {
    slopeBytesPerMin: den > 0 ? Math.round(num / den) : 0,
    first,
    last,
    changePercent: pct(last - first),
    maxDeviationPercent: pct(Math.max(...ys.map((y) => Math.abs(y - first)))),
  };
}

function memoryOf(sample: ProcessSample): Pick<PodSample, 'rss' | 'heapUsed' | 'heapTotal' | 'newSpace' | 'external'> {
  return { rss: sample.rss, heapUsed: sample.heapUsed, heapTotal: sample.heapTotal, newSpace: sample.heapSpaces.new_space, external: sample.external };
}

async function samplePods(pods: StartedServer[], atMs: number): Promise<PodSample[]> {
  const samples: PodSample[] = [];
  // One at a time: a forced GC of one pod should not overlap another's.
  for (const [pod, server] of pods.entries()) {
    const sample = await server.process.ipc.request<ProcessSample>('sample', {}, SAMPLE_TIMEOUT_MS);
    const map = memoryMapOf(server.process.pid);
    const lag = await server.process.ipc.request<LoopLag>('lag', {}, SAMPLE_TIMEOUT_MS);
    const cpu = await server.process.ipc.request<CpuSample>('cpu', {}, SAMPLE_TIMEOUT_MS);
    samples.push({ ...memoryOf(sample), atMs: Math.round(atMs), pod, map, lag, cpu });
  }
  return samples;
}

async function lags(pods: StartedServer[]): Promise<LoopLag[]> {
  return Promise.all(pods.map((p) => p.process.ipc.request<LoopLag>('lag', {}, SAMPLE_TIMEOUT_MS)));
}

export async function runCluster(s: Settings, sources: SourceAddresses, log: (line: string) => void): Promise<ClusterResult> {
  const secret = randomBytes(32).toString('hex');
  const source = sourceInfo();
  const redis = await startRedis();
  const pods: StartedServer[] = [];
  let fleet: Fleet | undefined;
  try {
    const meridian = SYSTEMS.meridian;
    const spec = { ...meridian, env: (port: number, sec: string, url?: string) => ({ ...meridian.env(port, sec, url), ...s.gatewayEnv }) };
    const metricsPorts: number[] = [];
    for (let p = 0; p < s.pods; p++) {
      metricsPorts.push(await freePort());
      pods.push(await startServer(spec, { secret, redisUrl: redis.url, nodeFlags: s.gatewayNodeFlags, env: { MERIDIAN_METRICS_PORT: String(metricsPorts[p]) }, fileDescriptors: MAX_FILES, readyTimeoutMs: s.readyTimeoutMs, labelSuffix: ` pod ${p + 1}` }));
    }
    const baseUrls = pods.map((p) => p.baseUrl);
    fleet = Fleet.start({ generators: s.pods, connectionsPerGenerator: s.perPod + s.roomSize, addressesPerGenerator: s.addressesPerGenerator, sources, client: clientSettings(s, 'meridian', secret), label: 'cluster' });
    await fleet.publishers(baseUrls);
    const base = await samplePods(pods, 0);
    const connections = s.pods * s.perPod;
    const rooms = connections / s.roomSize;
    log(`connections, cluster: ${s.pods} pods on one redis-server, opening ${connections} connections in ${rooms} rooms`);
    const tcpBeforeOpen = tcpCounters();
    const open = await fleet.open(roomNames(0, rooms, 'cluster'), s.roomSize, baseUrls, s.connectConcurrency, s.connectRate);
    log(`  opened ${open.opened} in ${open.elapsedMs} ms (${open.connectsPerSec}/s)${Object.keys(open.errors).length ? `, failed attempts ${JSON.stringify(open.errors)}` : ''}`);
    const openTcp = tcpDelta(tcpBeforeOpen, tcpCounters());
    const settled = await Promise.all(pods.map((p) => settle(p.process.ipc, SETTLE)));
    const afterOpen: ProcessSample[] = [];
    for (const p of pods) afterOpen.push(await p.process.ipc.request<ProcessSample>('sample', {}, SAMPLE_TIMEOUT_MS));
    const idle: PodSample[] = afterOpen.map((a, pod) => ({ ...memoryOf(a), atMs: 0, pod, map: memoryMapOf(pods[pod].process.pid), lag: { samples: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }, cpu: { cpuMs: a.cpuMs, uptimeMs: a.uptimeMs, runQueueWaitMs: 0 } }));
    let warmup: ClusterResult['warmup'];
    let first = idle;
    if (s.warmupMs > 0) {
      log(`  warm-up: ${s.warmupMs / 1000} s at ${s.rate} msg/s before the hold is measured`);
      const delivery = deliverySummary(await fleet.run(s.rate, s.warmupMs, s.payloadBytes, s.drainTimeoutMs));
      log(`  warm-up: ${delivery.delivered}/${delivery.expected} delivered, p99 ${delivery.p99Ms} ms${delivery.lossless ? '' : ' LOSSES OR DUPLICATES'}`);
      warmup = { durationMs: s.warmupMs, delivery, afterOpen: idle };
      first = await samplePods(pods, 0);
    }
    await lags(pods);
    const holdStart = await Promise.all(pods.map((p) => p.process.ipc.request<CpuSample>('cpu', {}, SAMPLE_TIMEOUT_MS)));

    log(`  holding ${connections} connections for ${s.durationMs / 1000} s at ${s.rate} msg/s, sampling every ${s.sampleMs / 1000} s`);
    const started = performance.now();
    const samples: PodSample[] = first.map((f, pod) => ({ ...f, atMs: 0, lag: { samples: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }, cpu: holdStart[pod] }));
    const holdLag: LoopLag[] = pods.map(() => ({ samples: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 }));
    const sampler = async () => {
      for (let k = 1; k * s.sampleMs <= s.durationMs; k++) {
        const wait = started + k * s.sampleMs - performance.now();
        if (wait > 0) await sleep(wait);
        const taken = await samplePods(pods, performance.now() - started);
        samples.push(...taken);
        for (const t of taken) {
          const l = holdLag[t.pod];
          holdLag[t.pod] = { samples: l.samples + t.lag.samples, p50Ms: Math.max(l.p50Ms, t.lag.p50Ms), p99Ms: Math.max(l.p99Ms, t.lag.p99Ms), maxMs: Math.max(l.maxMs, t.lag.maxMs) };
        }
        const mib = (bytes: number | undefined) => Math.round((bytes ?? 0) / 2 ** 20);
        log(
          `  ${Math.round((performance.now() - started) / 1000)} s: RSS ${taken.map((t) => mib(t.rss)).join('/')} MiB (malloc ${taken.map((t) => t.map?.mallocMiB ?? '?').join('/')}), ` +
            `heap ${taken.map((t) => mib(t.heapUsed)).join('/')} of ${taken.map((t) => mib(t.heapTotal)).join('/')} MiB, external ${taken.map((t) => mib(t.external)).join('/')} MiB, lag p99 ${taken.map((t) => t.lag.p99Ms).join('/')} ms`,
        );
      }
    };
    const holdRuns = await fleet.run(s.rate, s.durationMs, s.payloadBytes, s.drainTimeoutMs, sampler);
    const holdDelivery = deliverySummary(holdRuns);
    const holdCrowd = await fleet.health();
    log(`  hold: ${holdDelivery.delivered}/${holdDelivery.expected} delivered, p50 ${holdDelivery.p50Ms} / p99 ${holdDelivery.p99Ms} ms${holdDelivery.lossless ? '' : ' LOSSES OR DUPLICATES'}, server closes ${JSON.stringify(holdCrowd.serverCloses)} (came back ${holdCrowd.reconnected}, away ${holdCrowd.away})`);
    const perPod: PodResult[] = pods.map((_, pod) => {
      const mine = samples.filter((x) => x.pod === pod);
      const loaded = mine.length > 2 ? mine.slice(1) : mine;
      const [from, to] = [holdStart[pod], mine[mine.length - 1].cpu];
      const wall = Math.max(1, to.uptimeMs - from.uptimeMs);
      return {
        holdCpuPercent: Math.round(((to.cpuMs - from.cpuMs) / wall) * 100),
        holdRunQueuePercent: Math.round(((to.runQueueWaitMs - from.runQueueWaitMs) / wall) * 100),
        pod,
        connections: s.perPod,
        base: base[pod],
        settle: settled[pod],
        afterOpen: afterOpen[pod],
        heapBytesPerConnection: Math.round((afterOpen[pod].heapUsed - base[pod].heapUsed) / s.perPod),
        rssBytesPerConnection: Math.round((afterOpen[pod].rss - base[pod].rss) / s.perPod),
        rss: trend(mine.map((x) => ({ atMs: x.atMs, value: x.rss }))),
        rssSinceOpen: trend([{ atMs: -s.warmupMs, value: afterOpen[pod].rss }, ...(s.warmupMs > 0 ? mine : mine.slice(1)).map((x) => ({ atMs: x.atMs, value: x.rss }))]),
        heap: trend(mine.map((x) => ({ atMs: x.atMs, value: x.heapUsed }))),
        rssUnderLoad: trend(loaded.map((x) => ({ atMs: x.atMs, value: x.rss }))),
        heapUnderLoad: trend(loaded.map((x) => ({ atMs: x.atMs, value: x.heapUsed }))),
        holdLag: holdLag[pod],
      };
    });
    const result: ClusterResult = { source, pods: s.pods, connections, rooms, open, openTcp, warmup, hold: { durationMs: s.durationMs, samples, delivery: holdDelivery, crowd: holdCrowd }, perPod };

    if (s.phases.includes('storm')) {
      log(`  storm: cutting ${s.stormClients} connections at once ${STORM_CUT_AFTER_MS / 1000} s into a ${s.stormMs / 1000} s run; each comes back within ${s.stormJitterMs} ms with recover`);
      await lags(pods);
      let storms: StormResult[] = [];
      const tcpBeforeStorm = tcpCounters();
      const loadAtStart = loadavg()[0];
      const sampler = new StormSampler(redis.url, pods.map((p, i) => ({ process: p.process, metricsUrl: `http://127.0.0.1:${metricsPorts[i]}/metrics` })), STORM_SAMPLE_MS);
      await sampler.start();
      const cut = async () => {
        await sleep(STORM_CUT_AFTER_MS);
        storms = await fleet!.storm(s.stormClients, { jitterMs: s.stormJitterMs, retryMs: STORM_RETRY_MS, attempts: STORM_ATTEMPTS });
      };
      const stormRuns = await fleet.run(s.rate, s.stormMs, s.payloadBytes, s.drainTimeoutMs, cut);
      const samples = await sampler.stop();
      for (const i of samples.intervals) log(`    ${i.atMs} ms: load ${i.loadAverage1m}, Redis CPU ${i.redisCpuPercent} % (${i.redisCommands} cmds), pods CPU ${i.podCpuPercent.join('/')} % (waiting ${i.podRunQueuePercent.join('/')} %), timeouts ${i.pods.map((p) => p.commandTimeouts).join('/')}, errors ${i.pods.map((p) => JSON.stringify(p.errors)).join(' ')}, healthy ${i.pods.map((p) => p.healthy).join('/')}`);
      const stormLag = await lags(pods);
      stormLag.forEach((l, pod) => (perPod[pod].stormLag = l));
      const errors: Record<string, number> = {};
      for (const st of storms) for (const [code, n] of Object.entries(st.errors)) errors[code] = (errors[code] ?? 0) + n;
      const delivery = deliverySummary(stormRuns);
      result.storm = {
        crowd: await fleet.health(),
        tcp: tcpDelta(tcpBeforeStorm, tcpCounters()),
        clients: storms.reduce((n, st) => n + st.dropped, 0),
        jitterMs: s.stormJitterMs,
        generators: storms,
        allBackMs: Math.max(...storms.map((st) => st.allBackMs)),
        errors,
        notRecovered: storms.reduce((n, st) => n + st.notRecovered, 0),
        delivery,
        loadAverage1m: { start: Math.round(loadAtStart * 100) / 100, end: Math.round(loadavg()[0] * 100) / 100 },
        samples,
      };
      log(`  storm: Redis CPU ${samples.redisCpuPercent} % of a core, ${samples.redisCommands.total} commands ${JSON.stringify(samples.redisCommands.byCommand)}, slowlog ${samples.slowlog.count} over ${samples.slowlog.slowerThanUs} µs ${JSON.stringify(samples.slowlog.slowest.slice(0, 3))}; pods CPU ${samples.podCpuPercent.join('/')} %, waiting ${samples.podRunQueuePercent.join('/')} %; timeouts ${samples.pods.map((p) => p.commandTimeouts).join('/')}`);
      log(
        `  storm: ${result.storm.clients} cut, all back after ${result.storm.allBackMs} ms, failed attempts ${JSON.stringify(errors)}, not recovered ${result.storm.notRecovered}, ` +
          `${delivery.delivered}/${delivery.expected} delivered${delivery.lossless ? '' : ' LOSSES OR DUPLICATES'}, p99 ${delivery.p99Ms} ms, lag p99 ${stormLag.map((l) => l.p99Ms).join('/')} ms`,
      );
    }
    return result;
  } finally {
    await fleet?.stop();
    for (const pod of pods) await pod.process.stop();
    await redis.kill();
  }
}

export function clusterReport(s: Settings, c: ClusterResult): string {
  const mib = (b: number) => Math.round(b / 2 ** 20);
  const pods = markdownTable(
    ['pod', 'connections', 'heap B/conn', 'RSS B/conn', 'RSS after opening → end MiB (change %)', 'RSS hold start → end MiB', 'RSS slope KiB/min', 'RSS max deviation %', 'under load: RSS slope KiB/min', 'under load: RSS max deviation %', 'heap start → end MiB', 'heap slope KiB/min', 'lag p99 ms (worst sample)', 'CPU %', 'waiting for a CPU %', 'storm lag p99 ms'],
    c.perPod.map((p) => [
      p.pod + 1,
      p.connections,
      p.heapBytesPerConnection,
      p.rssBytesPerConnection,
      `${mib(p.rssSinceOpen.first)} → ${mib(p.rssSinceOpen.last)} (${p.rssSinceOpen.changePercent})`,
      `${mib(p.rss.first)} → ${mib(p.rss.last)}`,
      Math.round(p.rss.slopeBytesPerMin / 1024),
      p.rss.maxDeviationPercent,
      Math.round(p.rssUnderLoad.slopeBytesPerMin / 1024),
      p.rssUnderLoad.maxDeviationPercent,
      `${mib(p.heap.first)} → ${mib(p.heap.last)}`,
      Math.round(p.heap.slopeBytesPerMin / 1024),
      p.holdLag.p99Ms,
      p.holdCpuPercent,
      p.holdRunQueuePercent,
      p.stormLag?.p99Ms ?? '',
    ]),
  );
  const d = c.hold.delivery;
  const lines = [
    `## Connections, cluster: ${c.pods} pods × ${c.connections / c.pods} on one redis-server, held ${c.hold.durationMs / 1000} s at ${s.rate} msg/s`,
    '',
    ...(c.warmup ? [`Warm-up before the hold: ${c.warmup.durationMs / 1000} s at the same rate, ${c.warmup.delivery.delivered}/${c.warmup.delivery.expected} delivered${c.warmup.delivery.lossless ? '' : ' LOSSES OR DUPLICATES'}, p99 ${c.warmup.delivery.p99Ms} ms.`, ''] : []),
    `Opened ${c.open.opened} in ${c.open.elapsedMs} ms (${c.open.connectsPerSec}/s), failed attempts ${JSON.stringify(c.open.errors)}, kernel ${JSON.stringify(c.openTcp)}. ` +
      `Delivered ${d.delivered}/${d.expected}, p50 ${d.p50Ms} ms, p99 ${d.p99Ms} ms, max ${d.maxMs} ms. Closes by the pods: ${JSON.stringify(c.hold.crowd.serverCloses)} (clients came back: ${c.hold.crowd.reconnected}).`,
    '',
    pods,
  ];
  if (c.storm) {
    const sd = c.storm.delivery;
    const ss = c.storm.samples;
    lines.push('', `Storm: ${c.storm.clients} cut at once, back within ${c.storm.jitterMs} ms jitter: all back after ${c.storm.allBackMs} ms; failed attempts ${JSON.stringify(c.storm.errors)}; kernel ${JSON.stringify(c.storm.tcp)}; recovered:false ${c.storm.notRecovered}; delivered ${sd.delivered}/${sd.expected} (duplicates ${sd.duplicates}, out of order ${sd.outOfOrder}), p99 ${sd.p99Ms} ms.`);
    lines.push(
      '',
      `During the storm (sampled every ${ss.intervalMs / 1000} s): Redis CPU ${ss.redisCpuPercent} % of a core, ${ss.redisCommands.total} commands, slow log ${ss.slowlog.count} over ${ss.slowlog.slowerThanUs} µs; ` +
        `pods CPU ${ss.podCpuPercent.join('/')} %, waiting for a CPU ${ss.podRunQueuePercent.join('/')} %; Redis command timeouts ${ss.pods.map((p) => p.commandTimeouts).join('/')}; ` +
        `load average ${c.storm.loadAverage1m.start} → ${c.storm.loadAverage1m.end}.`,
    );
  }
  return lines.join('\n');
}
