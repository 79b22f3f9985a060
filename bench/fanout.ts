/**
 * Fan-out: one room, N subscribers, one publisher, 1 KiB messages; Meridian, Socket.IO 4 and a
 * pre-framed raw `ws` broadcast side by side in one run, in rotated order over several rounds.
 *
 * Per round and system: a fresh server process and a fresh load-generator process.
 *  1. Memory: forced GC and a sample, `idle` connections opened (authenticated where the system
 *     authenticates, each subscribed to the room), forced GC and a sample again; the difference
 *     divided by the number of connections.
 *  2. Throughput and latency for each N (largest first, closing subscribers down to N): a short
 *     warm-up, then a closed-loop run: the publisher keeps at most `window` messages that have
 *     not yet reached every subscriber, so the server always has work queued but the backlog
 *     (and with it the latency) stays bounded. Every delivery is counted.
 */
import { randomBytes } from 'node:crypto';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { deliveryRunOptions } from './lib/run-options.ts';
import { BenchError, BenchErrorCode } from './lib/errors.ts';
import type { ProcessSample } from './lib/memory-hook.ts';
import type { BenchProcess } from './lib/processes.ts';
import { RESULTS_DIR, markdownTable, rotate, runHeader, saveRunRecord, sourceInfo, type SourceInfo } from './lib/results.ts';
import { join } from 'node:path';
import { settle, type SettleResult } from './lib/settle.ts';
import { median, ratio, round3 } from './lib/stats.ts';
import { SYSTEMS, isSystemName, spawnGenerator, startServer, type StartedServer, type SystemName } from './systems.ts';
import type { ClientSettings, RunRequest, RunResult } from './generator/main.ts';

export const fanoutOptions: Record<string, OptionSpec> = {
  ...deliveryRunOptions,
  systems: { kind: 'list', default: ['meridian', 'socketio', 'rawws'], doc: 'systems to compare (meridian, socketio, rawws; rawws-batched shows what coalescing writes is worth)' },
  sizes: { kind: 'intList', default: [1000, 5000], doc: 'subscribers in the room, one run each' },
  idle: { kind: 'int', default: 10_000, doc: 'idle connections for the memory measurement' },
  rounds: { kind: 'int', default: 3, quick: 1, doc: 'rounds, system order rotated each round' },
  'duration-ms': { kind: 'int', default: 5_000, quick: 2_000, doc: 'publishing time of each measured run' },
  'max-messages': { kind: 'int', default: 100_000, doc: 'publishing stops after this many messages even if time remains' },
  'warmup-messages': { kind: 'int', default: 50, quick: 20, doc: 'messages published before each measured run (not counted)' },
  window: { kind: 'int', default: 4, doc: 'messages in flight (published, not yet delivered to every subscriber)' },
  'settle-timeout-ms': { kind: 'int', default: 60_000, doc: 'longest wait for the server to go idle before a measurement' },
  profile: { kind: 'bool', default: false, doc: 'CPU-profile each server and the load generator during the measured runs only (bench/results/profiles/*.cpuprofile)' },
  out: { kind: 'string', default: '', doc: 'result file (default bench/results/fanout.json)' },
};

const ROOM = 'fanout-bench';
const SUBSCRIBERS = 'subscribers';
/** Extra descriptors beyond the sockets: stdio, IPC, the listening socket, files. */
const FD_HEADROOM = 256;
const PROFILES_DIR = join(RESULTS_DIR, 'profiles');
/** Sample and IPC calls on an idle process; generous because GC of a large heap takes time. */
const SAMPLE_TIMEOUT_MS = 60_000;
/** Idle means under this share of one core, measured over one interval. */
const SETTLE_MAX_PERCENT = 5;
const SETTLE_INTERVAL_MS = 250;

interface MemoryResult {
  connections: number;
  /** How long the server kept working after the last connection was set up. */
  settle: SettleResult;
  heapBytesPerConnection: number;
  rssBytesPerConnection: number;
  before: ProcessSample;
  after: ProcessSample;
}

interface SizeResult extends RunResult {
  subscribers: number;
  /** Server CPU time (user + system) during the run, over its wall time. */
  serverCpuPercent: number;
  /**
   * Deliveries per second of server CPU time: the server's cost per delivery, which holds when
   * other processes take CPU away from the run (wall-clock throughput does not).
   */
  deliveriesPerServerCpuSec: number;
  /** How long the server kept working after subscribers were closed down to N. */
  settle: SettleResult;
  lossless: boolean;
}

interface SystemRound {
  round: number;
  source: SourceInfo;
  position: number;
  system: SystemName;
  memory: MemoryResult;
  sizes: SizeResult[];
}

interface Settings {
  systems: SystemName[];
  sizes: number[];
  idle: number;
  rounds: number;
  durationMs: number;
  maxMessages: number;
  warmupMessages: number;
  window: number;
  payloadBytes: number;
  connectConcurrency: number;
  replyTimeoutMs: number;
  drainTimeoutMs: number;
  readyTimeoutMs: number;
  settleTimeoutMs: number;
  profile: boolean;
  out: string;
  quiet: boolean;
}

function settingsFrom(args: readonly string[]): Settings {
  const o = parseOptions(args, fanoutOptions);
  const systems = o.systems as string[];
  for (const name of systems) {
    if (!isSystemName(name)) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `unknown system '${name}' (meridian, socketio, rawws, rawws-batched)`);
  }
  const sizes = [...(o.sizes as number[])].sort((a, b) => b - a);
  if (sizes.length === 0 || sizes[sizes.length - 1] < 1) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, '--sizes needs positive subscriber counts');
  return {
    systems: systems as SystemName[],
    sizes,
    idle: o.idle as number,
    rounds: Math.max(1, o.rounds as number),
    durationMs: o['duration-ms'] as number,
    maxMessages: o['max-messages'] as number,
    warmupMessages: o['warmup-messages'] as number,
    window: Math.max(1, o.window as number),
    payloadBytes: o['payload-bytes'] as number,
    connectConcurrency: Math.max(1, o['connect-concurrency'] as number),
    replyTimeoutMs: o['reply-timeout-ms'] as number,
    drainTimeoutMs: o['drain-timeout-ms'] as number,
    readyTimeoutMs: o['ready-timeout-ms'] as number,
    settleTimeoutMs: o['settle-timeout-ms'] as number,
    profile: o.profile as boolean,
    out: o.out as string,
    quiet: o.quiet as boolean,
  };
}

function runRequest(s: Settings, subscribers: number, maxMessages: number, durationMs: number): RunRequest {
  return {
    targets: [{ publisher: 0, room: ROOM, expected: subscribers }],
    mode: 'window',
    window: s.window,
    rate: 0,
    durationMs,
    maxMessages,
    payloadBytes: s.payloadBytes,
    drainTimeoutMs: s.drainTimeoutMs,
    tickMs: 5,
  };
}

async function measureSystem(s: Settings, system: SystemName, round: number, position: number, log: (line: string) => void): Promise<SystemRound> {
  const secret = randomBytes(32).toString('hex');
  const connections = Math.max(s.idle, s.sizes[0]);
  // Servers load the working tree when they start: record what this round ran.
  const source = sourceInfo();
  const fileDescriptors = connections + FD_HEADROOM;
  const server: StartedServer = await startServer(SYSTEMS[system], { secret, fileDescriptors, readyTimeoutMs: s.readyTimeoutMs });
  let generator: BenchProcess | undefined;
  try {
    generator = spawnGenerator(fileDescriptors);
    const client: ClientSettings = {
      protocol: SYSTEMS[system].protocol,
      secret,
      replyTimeoutMs: s.replyTimeoutMs,
      maxPayloadBytes: 1024 * 1024,
      connectConcurrency: s.connectConcurrency,
    };
    const serverIpc = server.process.ipc;
    const genIpc = generator.ipc;
    const openTimeout = s.replyTimeoutMs + connections * 20;

    const settleOptions = { intervalMs: SETTLE_INTERVAL_MS, maxPercent: SETTLE_MAX_PERCENT, timeoutMs: s.settleTimeoutMs, ipcTimeoutMs: SAMPLE_TIMEOUT_MS };
    const before = await serverIpc.request<ProcessSample>('sample', {}, SAMPLE_TIMEOUT_MS);
    await genIpc.request('open', { settings: client, baseUrl: server.baseUrl, room: ROOM, count: connections, group: SUBSCRIBERS }, openTimeout);
    const settledOpen = await settle(serverIpc, settleOptions);
    const after = await serverIpc.request<ProcessSample>('sample', {}, SAMPLE_TIMEOUT_MS);
    const memory: MemoryResult = {
      connections,
      settle: settledOpen,
      heapBytesPerConnection: Math.round((after.heapUsed - before.heapUsed) / connections),
      rssBytesPerConnection: Math.round((after.rss - before.rss) / connections),
      before,
      after,
    };
    log(
      `  ${SYSTEMS[system].label}: ${connections} idle connections, heap ${memory.heapBytesPerConnection} B/conn, RSS ${memory.rssBytesPerConnection} B/conn ` +
        `(idle ${settledOpen.waitedMs} ms after the last subscribe, ${settledOpen.cpuMs} ms CPU meanwhile)`,
    );

    await genIpc.request('publishers', { settings: client, baseUrls: [server.baseUrl] }, s.replyTimeoutMs);
    const sizes: SizeResult[] = [];
    for (const subscribers of s.sizes) {
      await genIpc.request('trim', { group: SUBSCRIBERS, keep: subscribers, concurrency: s.connectConcurrency }, openTimeout);
      const settled = await settle(serverIpc, settleOptions);
      if (settled.cpuMs > 0) log(`  ${SYSTEMS[system].label}: idle ${settled.waitedMs} ms after closing down to ${subscribers} (${settled.cpuMs} ms CPU meanwhile)`);
      const runTimeout = s.durationMs + s.drainTimeoutMs * 4 + 60_000;
      await genIpc.request('run', runRequest(s, subscribers, s.warmupMessages, runTimeout), runTimeout);
      if (s.profile) {
        await serverIpc.request('profileStart', {}, SAMPLE_TIMEOUT_MS);
        await genIpc.request('profileStart', {}, SAMPLE_TIMEOUT_MS);
      }
      const cpuBefore = await serverIpc.request<{ cpuMs: number; uptimeMs: number }>('cpu', {}, SAMPLE_TIMEOUT_MS);
      const result = await genIpc.request<RunResult>('run', runRequest(s, subscribers, s.maxMessages, s.durationMs), runTimeout);
      const cpuAfter = await serverIpc.request<{ cpuMs: number; uptimeMs: number }>('cpu', {}, SAMPLE_TIMEOUT_MS);
      if (s.profile) {
        const path = join(PROFILES_DIR, `fanout-${system}-n${subscribers}-round${round + 1}.cpuprofile`);
        const generatorPath = join(PROFILES_DIR, `fanout-${system}-n${subscribers}-round${round + 1}-generator.cpuprofile`);
        await serverIpc.request('profileStop', { path }, SAMPLE_TIMEOUT_MS);
        await genIpc.request('profileStop', { path: generatorPath }, SAMPLE_TIMEOUT_MS);
        log(`  profiles: ${path}, ${generatorPath}`);
      }
      const serverCpuMs = cpuAfter.cpuMs - cpuBefore.cpuMs;
      const serverCpuPercent = Math.round((serverCpuMs / (cpuAfter.uptimeMs - cpuBefore.uptimeMs)) * 100);
      const deliveriesPerServerCpuSec = serverCpuMs > 0 ? Math.round(result.delivered / (serverCpuMs / 1000)) : Number.NaN;
      const lossless = result.delivered === result.expectedDeliveries && result.duplicates === 0 && result.stray === 0;
      sizes.push({ ...result, subscribers, serverCpuPercent, deliveriesPerServerCpuSec, settle: settled, lossless });
      log(
        `  ${SYSTEMS[system].label} N=${subscribers}: ${result.deliveredPerSec} deliveries/s, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, ` +
          `${result.delivered}/${result.expectedDeliveries} delivered${lossless ? '' : ' (LOSSES OR DUPLICATES)'}, server CPU ${serverCpuPercent}% ` +
          `(${deliveriesPerServerCpuSec} deliveries per server CPU-second), generator CPU ${result.generatorCpuPercent}% (${result.generatorCpuNsPerDelivery} ns per delivery, ${result.generatorSystemCpuMs}/${result.generatorCpuMs} ms in the kernel)`,
      );
    }
    await genIpc.request('closeAll', {}, openTimeout);
    return { round, position, system, source, memory, sizes };
  } finally {
    await generator?.stop();
    await server.process.stop();
  }
}

interface SummaryRow {
  system: SystemName;
  subscribers: number;
  deliveredPerSec: number;
  deliveriesPerServerCpuSec: number;
  p50Ms: number;
  p99Ms: number;
  /** The load generator's CPU time per delivery and its CPU use: near 100 % it, not the server, was the limit. */
  generatorCpuNsPerDelivery: number;
  generatorCpuPercent: number;
  lossless: boolean;
}

function summarize(s: Settings, rounds: SystemRound[]) {
  const of = (system: SystemName) => rounds.filter((r) => r.system === system);
  const rows: SummaryRow[] = [];
  for (const system of s.systems) {
    for (const subscribers of s.sizes) {
      const runs = of(system).map((r) => r.sizes.find((x) => x.subscribers === subscribers)!);
      rows.push({
        system,
        subscribers,
        deliveredPerSec: median(runs.map((r) => r.deliveredPerSec)),
        deliveriesPerServerCpuSec: median(runs.map((r) => r.deliveriesPerServerCpuSec)),
        p50Ms: round3(median(runs.map((r) => r.latency.p50Ms))),
        p99Ms: round3(median(runs.map((r) => r.latency.p99Ms))),
        generatorCpuNsPerDelivery: median(runs.map((r) => r.generatorCpuNsPerDelivery)),
        generatorCpuPercent: median(runs.map((r) => r.generatorCpuPercent)),
        lossless: runs.every((r) => r.lossless),
      });
    }
  }
  const memory = s.systems.map((system) => ({
    system,
    heapBytesPerConnection: median(of(system).map((r) => r.memory.heapBytesPerConnection)),
    rssBytesPerConnection: median(of(system).map((r) => r.memory.rssBytesPerConnection)),
  }));
  // Ratios are taken within each round (same conditions), then the median over rounds.
  const roundRatio = (peer: SystemName, pick: (r: SystemRound) => number) => {
    const values: number[] = [];
    for (let round = 0; round < s.rounds; round++) {
      const mine = rounds.find((r) => r.round === round && r.system === 'meridian');
      const theirs = rounds.find((r) => r.round === round && r.system === peer);
      if (mine && theirs) values.push(ratio(pick(mine), pick(theirs)));
    }
    return round3(median(values));
  };
  const ratios: Record<string, Record<string, number>> = {};
  if (s.systems.includes('meridian')) {
    for (const peer of s.systems.filter((x) => x !== 'meridian')) {
      const entry: Record<string, number> = {};
      for (const subscribers of s.sizes) {
        const pickSize = (r: SystemRound) => r.sizes.find((x) => x.subscribers === subscribers)!;
        entry[`deliveredPerSec@${subscribers}`] = roundRatio(peer, (r) => pickSize(r).deliveredPerSec);
        entry[`deliveriesPerServerCpuSec@${subscribers}`] = roundRatio(peer, (r) => pickSize(r).deliveriesPerServerCpuSec);
        entry[`p99@${subscribers}`] = roundRatio(peer, (r) => pickSize(r).latency.p99Ms);
      }
      entry.heapPerConnection = roundRatio(peer, (r) => r.memory.heapBytesPerConnection);
      entry.rssPerConnection = roundRatio(peer, (r) => r.memory.rssBytesPerConnection);
      ratios[`meridian/${peer}`] = entry;
    }
  }
  return { rows, memory, ratios };
}

function report(s: Settings, summary: ReturnType<typeof summarize>): string {
  const label = (system: SystemName) => SYSTEMS[system].label;
  const throughput = markdownTable(
    ['system', 'subscribers', 'delivered msg/s (median)', 'deliveries per server CPU-s', 'p50 ms', 'p99 ms', 'generator ns per delivery', 'generator CPU %', 'all delivered'],
    summary.rows.map((r) => [
      label(r.system),
      r.subscribers,
      r.deliveredPerSec,
      r.deliveriesPerServerCpuSec,
      r.p50Ms,
      r.p99Ms,
      r.generatorCpuNsPerDelivery,
      r.generatorCpuPercent,
      r.lossless ? 'yes' : 'NO (see JSON)',
    ]),
  );
  const memory = markdownTable(
    ['system', `heap B/conn at ${Math.max(s.idle, s.sizes[0])} idle`, 'RSS B/conn'],
    summary.memory.map((m) => [label(m.system), m.heapBytesPerConnection, m.rssBytesPerConnection]),
  );
  const ratioRows = Object.entries(summary.ratios).flatMap(([pair, values]) => Object.entries(values).map(([metric, value]) => [pair, metric, value]));
  const ratios = ratioRows.length ? markdownTable(['ratio (median of per-round ratios)', 'metric', 'value'], ratioRows) : '';
  return [throughput, '', memory, '', ratios].join('\n');
}

export async function run(args: readonly string[]): Promise<unknown> {
  const s = settingsFrom(args);
  const log = (line: string) => {
    if (!s.quiet) process.stderr.write(`${line}\n`);
  };
  const header = runHeader();
  const rounds: SystemRound[] = [];
  for (let round = 0; round < s.rounds; round++) {
    const order = rotate(s.systems, round);
    log(`fanout round ${round + 1}/${s.rounds}: ${order.join(' → ')}`);
    for (const [position, system] of order.entries()) rounds.push(await measureSystem(s, system, round, position, log));
  }
  const summary = summarize(s, rounds);
  const { record, path } = await saveRunRecord(
    'fanout',
    header,
    {
      processes: 'one server process per system; one load-generator process holding every subscriber and the publisher (shared clock), reading frames with BenchSocket (bench/clients/bench-socket.ts)',
      settings: s,
      summary,
    },
    rounds,
    s.out || undefined,
  );
  if (!s.quiet) process.stdout.write(`\n## Fan-out (${s.rounds} round(s), window ${s.window}, ${s.payloadBytes} B payload)\n\n${report(s, summary)}\n\nfull record: ${path}\n`);
  return record;
}
