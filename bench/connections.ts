/**
 * Connections: how many authenticated, subscribed WebSocket connections a machine holds, and
 * what each costs, with a steady background of publications.
 *
 *  single   one server process per system (Meridian, Socket.IO 4, raw `ws`), connections added
 *           in steps (5k, 10k, 19k: one process cannot open more than ~19,900 files here) over
 *           rooms of `room-size`; at each step the connect rate, heap and RSS per connection
 *           after a forced GC, then `rate` msg/s for `step-ms` with the event loop's lag and
 *           publish→deliver latency, every delivery counted.
 *  cluster  Meridian only: `pods` gateways on one redis-server, `per-pod` connections each (room
 *           members spread over the pods), held for `duration-ms` under the same background;
 *           memory and lag sampled every `sample-ms`, with the slope of RSS and heap.
 *  storm    after the hold, on the same pods: `storm-clients` connections cut at once come back
 *           after a random delay (`storm-jitter-ms`) with recover; time until all are back,
 *           failed attempts, and every message delivered once.
 *
 * Load generators are separate processes (bench/generator/main.ts with crowd.ts), each with its
 * own loopback source addresses (bench/lib/fleet.ts).
 */
import { randomBytes } from 'node:crypto';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { deliveryRunOptions } from './lib/run-options.ts';
import { BenchError, BenchErrorCode } from './lib/errors.ts';
import { Fleet, SourceAddresses, type OpenStep } from './lib/fleet.ts';
import type { CpuSample, LoopLag, ProcessSample } from './lib/memory-hook.ts';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { tcpCounters, tcpDelta, type TcpCounters } from './lib/tcp-counters.ts';
import { RESULTS_DIR, markdownTable, runHeader, sourceInfo, writeResult, type SourceInfo } from './lib/results.ts';
import { settle, type SettleResult } from './lib/settle.ts';
import { SYSTEMS, startServer, type SystemName } from './systems.ts';
import { runCluster, clusterReport, type ClusterResult } from './connections-cluster.ts';
import { deliverySummary, type DeliverySummary } from './lib/delivery-summary.ts';
import type { CrowdHealth } from './generator/crowd.ts';
import type { ClientSettings } from './generator/main.ts';

export const connectionsOptions: Record<string, OptionSpec> = {
  ...deliveryRunOptions,
  phases: { kind: 'list', default: ['single', 'cluster', 'storm'], doc: 'what to run: single (one process per system, in steps), cluster (pods on one Redis, held), storm (reconnect storm on the cluster; needs cluster)' },
  systems: { kind: 'list', default: ['meridian', 'socketio', 'rawws'], doc: 'systems of the single-process phase' },
  steps: { kind: 'intList', default: [5_000, 10_000, 19_000], quick: [500, 1_000], doc: 'connections held at each step of the single-process phase' },
  'room-size': { kind: 'int', default: 50, doc: 'subscribers per room' },
  rate: { kind: 'int', default: 500, quick: 200, doc: 'background publications per second over all rooms' },
  'step-ms': { kind: 'int', default: 20_000, quick: 4_000, doc: 'publishing time measured at each step' },
  generators: { kind: 'int', default: 2, doc: 'load-generator processes of the single-process phase' },
  'addresses-per-generator': { kind: 'int', default: 2, doc: 'loopback source addresses each generator connects from' },
  'connect-rate': { kind: 'int', default: 0, doc: 'connections started per second per generator (0: only --connect-concurrency bounds them)' },
  pods: { kind: 'int', default: 3, doc: 'gateway processes of the cluster phase (one generator each)' },
  'per-pod': { kind: 'int', default: 17_000, quick: 1_000, doc: 'connections per pod in the cluster phase' },
  'duration-ms': { kind: 'int', default: 600_000, quick: 30_000, doc: 'how long the cluster holds its connections under the background' },
  'warmup-ms': { kind: 'int', default: 60_000, quick: 5_000, doc: 'publishing under the background before the hold is measured, so V8\'s young generation and the allocator have reached their working size (its deliveries are checked too; 0: the hold starts from the idle pods)' },
  'sample-ms': { kind: 'int', default: 30_000, quick: 10_000, doc: 'interval of the memory and lag samples while holding' },
  'storm-clients': { kind: 'int', default: 15_000, quick: 1_000, doc: 'connections cut at once in the storm' },
  'storm-jitter-ms': { kind: 'int', default: 10_000, quick: 2_000, doc: 'each cut client reconnects after a random delay below this' },
  'storm-ms': { kind: 'int', default: 40_000, quick: 10_000, doc: 'publishing time of the storm run (the cut happens 5 s in)' },
  'gateway-env': { kind: 'list', default: [], doc: 'extra MERIDIAN_…=… settings for every Meridian process (comma-separated)' },
  'gateway-node-flags': { kind: 'list', default: [], doc: 'cluster phase: extra Node/V8 flags for each gateway pod (comma-separated, e.g. --max-semi-space-size=16 to compare young-generation sizes)' },
  profile: { kind: 'bool', default: false, doc: 'single phase: CPU-profile each server during each step\'s publishing run only (bench/results/profiles/connections-*.cpuprofile; read with bench/profile-summary.ts --long-turns)' },
  out: { kind: 'string', default: '', doc: 'result file (default bench/results/connections.json, or connections-<phases>.json for a subset)' },
};

export interface Settings {
  phases: string[];
  systems: SystemName[];
  steps: number[];
  roomSize: number;
  rate: number;
  stepMs: number;
  generators: number;
  addressesPerGenerator: number;
  connectRate: number;
  pods: number;
  perPod: number;
  durationMs: number;
  warmupMs: number;
  sampleMs: number;
  stormClients: number;
  stormJitterMs: number;
  stormMs: number;
  gatewayEnv: Record<string, string>;
  gatewayNodeFlags: string[];
  payloadBytes: number;
  connectConcurrency: number;
  replyTimeoutMs: number;
  drainTimeoutMs: number;
  readyTimeoutMs: number;
  profile: boolean;
  out: string;
  quiet: boolean;
}

/**
 * The single-process phase measures memory per connection at each step after the previous
 * step's background run: the in-memory engine would still hold those messages as history (20 s
 * at 500 msg/s is ~12 MB), counted per connection though it is not. Expiring history within a
 * second keeps it out of the next sample; the peers keep no history.
 */
const SINGLE_PHASE_MERIDIAN_ENV = { MERIDIAN_HISTORY_TTL_MS: '1000', MERIDIAN_MEMORY_SWEEP_INTERVAL_MS: '1000' };

/** One process cannot hold more files than this here (FACTS: hard limit 20,000). */
const MAX_FILES = 20_000;
const PROFILES_DIR = join(RESULTS_DIR, 'profiles');
const SERVER_FD_HEADROOM = 512;
export const SAMPLE_TIMEOUT_MS = 120_000;
export const SETTLE = { intervalMs: 500, maxPercent: 10, timeoutMs: 60_000, ipcTimeoutMs: SAMPLE_TIMEOUT_MS };

function settingsFrom(args: readonly string[]): Settings {
  const o = parseOptions(args, connectionsOptions);
  const phases = o.phases as string[];
  for (const phase of phases) if (!['single', 'cluster', 'storm'].includes(phase)) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `unknown phase '${phase}' (single, cluster, storm)`);
  if (phases.includes('storm') && !phases.includes('cluster')) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, 'the storm runs on the cluster: --phases cluster,storm');
  const systems = o.systems as string[];
  for (const name of systems) if (!['meridian', 'socketio', 'rawws'].includes(name)) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `unknown system '${name}' (meridian, socketio, rawws)`);
  const roomSize = Math.max(1, o['room-size'] as number);
  const steps = [...(o.steps as number[])].sort((a, b) => a - b);
  for (const step of steps) {
    if (step % roomSize !== 0) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `step ${step} is not a multiple of --room-size ${roomSize}`);
    if (step + SERVER_FD_HEADROOM > MAX_FILES) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `step ${step}: one process holds at most ${MAX_FILES - SERVER_FD_HEADROOM} connections here (open files ${MAX_FILES})`);
  }
  const perPod = o['per-pod'] as number;
  if (perPod % roomSize !== 0 || perPod + SERVER_FD_HEADROOM > MAX_FILES) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--per-pod must be a multiple of --room-size and at most ${MAX_FILES - SERVER_FD_HEADROOM}`);
  const gatewayEnv: Record<string, string> = {};
  for (const pair of o['gateway-env'] as string[]) {
    const at = pair.indexOf('=');
    if (!pair.startsWith('MERIDIAN_') || at < 0) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--gateway-env takes MERIDIAN_NAME=value, got '${pair}'`);
    gatewayEnv[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const phaseName = phases.length === 3 ? '' : `-${phases.join('-')}`;
  return {
    phases,
    systems: systems as SystemName[],
    steps,
    roomSize,
    rate: o.rate as number,
    stepMs: o['step-ms'] as number,
    generators: Math.max(1, o.generators as number),
    addressesPerGenerator: Math.max(1, o['addresses-per-generator'] as number),
    connectRate: o['connect-rate'] as number,
    pods: Math.max(1, o.pods as number),
    perPod,
    durationMs: o['duration-ms'] as number,
    warmupMs: Math.max(0, o['warmup-ms'] as number),
    sampleMs: Math.max(1000, o['sample-ms'] as number),
    stormClients: o['storm-clients'] as number,
    stormJitterMs: o['storm-jitter-ms'] as number,
    stormMs: o['storm-ms'] as number,
    gatewayEnv,
    gatewayNodeFlags: o['gateway-node-flags'] as string[],
    payloadBytes: o['payload-bytes'] as number,
    connectConcurrency: Math.max(1, o['connect-concurrency'] as number),
    replyTimeoutMs: o['reply-timeout-ms'] as number,
    drainTimeoutMs: o['drain-timeout-ms'] as number,
    readyTimeoutMs: o['ready-timeout-ms'] as number,
    profile: o.profile as boolean,
    out: (o.out as string) || `connections${phaseName}.json`,
    quiet: o.quiet as boolean,
  };
}

export function clientSettings(s: Settings, system: SystemName, secret: string): ClientSettings {
  return { protocol: SYSTEMS[system].protocol, secret, replyTimeoutMs: s.replyTimeoutMs, maxPayloadBytes: 1024 * 1024, connectConcurrency: s.connectConcurrency };
}

export function roomNames(from: number, count: number, prefix = 'conn'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${from + i}`);
}

export interface StepResult {
  connections: number;
  rooms: number;
  open: OpenStep;
  /** Closes the server made so far (the crowd comes back as clients do), cumulative over the steps. */
  crowd: CrowdHealth;
  /** The kernel's listen-queue overflows and SYN retransmissions while this step connected. */
  tcp?: TcpCounters;
  settle: SettleResult;
  sample: ProcessSample;
  heapBytesPerConnection: number;
  rssBytesPerConnection: number;
  lag: LoopLag;
  delivery: DeliverySummary;
  serverCpuPercent: number;
  /** Share of the run the server was ready to run but waited for a CPU (other processes had it). */
  serverRunQueuePercent: number;
  loadAverage1m: number;
}

export interface SystemResult {
  system: SystemName;
  source: SourceInfo;
  generators: number;
  base: ProcessSample;
  steps: StepResult[];
}

async function measureSystem(s: Settings, system: SystemName, sources: SourceAddresses, log: (line: string) => void): Promise<SystemResult> {
  const secret = randomBytes(32).toString('hex');
  const source = sourceInfo();
  const largest = s.steps[s.steps.length - 1];
  const env = system === 'meridian' ? { ...SINGLE_PHASE_MERIDIAN_ENV, ...s.gatewayEnv } : {};
  const server = await startServer({ ...SYSTEMS[system], env: (port, sec) => ({ ...SYSTEMS[system].env(port, sec), ...env }) }, { secret, fileDescriptors: MAX_FILES, readyTimeoutMs: s.readyTimeoutMs });
  const fleet = Fleet.start({
    generators: s.generators,
    connectionsPerGenerator: Math.ceil(largest / s.generators) + s.roomSize,
    addressesPerGenerator: s.addressesPerGenerator,
    sources,
    client: clientSettings(s, system, secret),
    label: SYSTEMS[system].label,
  });
  const ipc = server.process.ipc;
  try {
    await fleet.publishers([server.baseUrl]);
    const base = await ipc.request<ProcessSample>('sample', {}, SAMPLE_TIMEOUT_MS);
    const steps: StepResult[] = [];
    let held = 0;
    for (const connections of s.steps) {
      const rooms = (connections - held) / s.roomSize;
      const tcpBefore = tcpCounters();
      const open = await fleet.open(roomNames(held / s.roomSize, rooms), s.roomSize, [server.baseUrl], s.connectConcurrency, s.connectRate);
      const tcp = tcpDelta(tcpBefore, tcpCounters());
      held = connections;
      const settled = await settle(ipc, SETTLE);
      const sample = await ipc.request<ProcessSample>('sample', {}, SAMPLE_TIMEOUT_MS);
      await ipc.request<LoopLag>('lag', {}, SAMPLE_TIMEOUT_MS);
      if (s.profile) await ipc.request('profileStart', {}, SAMPLE_TIMEOUT_MS);
      const cpuBefore = await ipc.request<CpuSample>('cpu', {}, SAMPLE_TIMEOUT_MS);
      const runs = await fleet.run(s.rate, s.stepMs, s.payloadBytes, s.drainTimeoutMs);
      const cpuAfter = await ipc.request<CpuSample>('cpu', {}, SAMPLE_TIMEOUT_MS);
      if (s.profile) {
        const path = join(PROFILES_DIR, `connections-${system}-${connections}.cpuprofile`);
        await ipc.request('profileStop', { path }, SAMPLE_TIMEOUT_MS);
        log(`  profile: ${path}`);
      }
      const wallMs = cpuAfter.uptimeMs - cpuBefore.uptimeMs;
      const lag = await ipc.request<LoopLag>('lag', {}, SAMPLE_TIMEOUT_MS);
      const crowd = await fleet.health();
      const step: StepResult = {
        crowd,
        connections,
        rooms: held / s.roomSize,
        open,
        tcp,
        settle: settled,
        sample,
        heapBytesPerConnection: Math.round((sample.heapUsed - base.heapUsed) / connections),
        rssBytesPerConnection: Math.round((sample.rss - base.rss) / connections),
        lag,
        delivery: deliverySummary(runs),
        serverCpuPercent: Math.round(((cpuAfter.cpuMs - cpuBefore.cpuMs) / wallMs) * 100),
        serverRunQueuePercent: Math.round(((cpuAfter.runQueueWaitMs - cpuBefore.runQueueWaitMs) / wallMs) * 100),
        loadAverage1m: Math.round(loadavg()[0] * 100) / 100,
      };
      steps.push(step);
      log(
        `  ${SYSTEMS[system].label} ${connections}: ${open.connectsPerSec} connects/s${Object.keys(open.errors).length ? ` (errors ${JSON.stringify(open.errors)})` : ''}, ` +
          `heap ${step.heapBytesPerConnection} B/conn, RSS ${step.rssBytesPerConnection} B/conn, lag p99 ${lag.p99Ms} ms (max ${lag.maxMs}), ` +
          `delivery p50 ${step.delivery.p50Ms} / p99 ${step.delivery.p99Ms} ms, ${step.delivery.delivered}/${step.delivery.expected}${step.delivery.lossless ? '' : ' LOSSES OR DUPLICATES'}, ` +
          `${Object.keys(crowd.serverCloses).length ? `server closes ${JSON.stringify(crowd.serverCloses)} (reconnected ${crowd.reconnected}), ` : ''}server CPU ${step.serverCpuPercent}%, waiting for a CPU ${step.serverRunQueuePercent}%, load ${step.loadAverage1m}`,
      );
    }
    return { system, source, generators: s.generators, base, steps };
  } finally {
    await fleet.stop();
    await server.process.stop();
  }
}

function singleReport(results: SystemResult[]): string {
  const rows = results.flatMap((r) =>
    r.steps.map((step) => [
      SYSTEMS[r.system].label,
      step.connections,
      step.open.connectsPerSec,
      step.heapBytesPerConnection,
      step.rssBytesPerConnection,
      Math.round(step.sample.rss / 2 ** 20),
      step.lag.p99Ms,
      step.delivery.p50Ms,
      step.delivery.p99Ms,
      `${step.delivery.delivered}/${step.delivery.expected}`,
      step.serverCpuPercent,
      step.serverRunQueuePercent,
    ]),
  );
  return markdownTable(['system', 'connections', 'connects/s', 'heap B/conn', 'RSS B/conn', 'RSS MiB', 'loop lag p99 ms', 'deliver p50 ms', 'deliver p99 ms', 'delivered/expected', 'server CPU %', 'server waiting for a CPU %'], rows);
}

export async function run(args: readonly string[]): Promise<unknown> {
  const s = settingsFrom(args);
  const log = (line: string) => {
    if (!s.quiet) process.stderr.write(`${line}\n`);
  };
  const header = runHeader();
  const sources = new SourceAddresses();
  const single: SystemResult[] = [];
  let cluster: ClusterResult | undefined;
  if (s.phases.includes('single')) {
    for (const system of s.systems) {
      log(`connections, one process: ${SYSTEMS[system].label}, steps ${s.steps.join(', ')}`);
      single.push(await measureSystem(s, system, sources, log));
    }
  }
  if (s.phases.includes('cluster')) cluster = await runCluster(s, sources, log);
  const record = {
    benchmark: 'connections',
    ...header,
    finishedAt: new Date().toISOString(),
    processes: `single: one server process per system, ${s.generators} load-generator processes (${s.addressesPerGenerator} source addresses each); cluster: ${s.pods} gateway processes + 1 redis-server + ${s.pods} load-generator processes`,
    settings: s,
    single,
    cluster,
  };
  const path = await writeResult('connections', record, s.out.includes('/') ? s.out : new URL(`./results/${s.out}`, import.meta.url).pathname);
  if (!s.quiet) {
    const parts = [single.length ? `## Connections, one process (${s.rate} msg/s into rooms of ${s.roomSize})\n\n${singleReport(single)}` : '', cluster ? clusterReport(s, cluster) : ''];
    process.stdout.write(`\n${parts.filter(Boolean).join('\n\n')}\n\nfull record: ${path}\n`);
  }
  return record;
}
