/**
 * Redis relay: two gateway processes of one system through one redis-server, rooms of
 * `subscribers-per-room` subscribers split evenly over both pods, steady publishing at a fixed
 * rate (room k published from pod k mod 2, so half of every room's deliveries cross Redis).
 * Meridian (Redis engine via MERIDIAN_REDIS_URL) and Socket.IO 4 + @socket.io/redis-adapter run
 * side by side in one run, in rotated order over several rounds.
 *
 * Reported per system: publish→deliver p50/p99/max over every delivery on both pods, deliveries
 * versus expected (zero loss is part of the result), and Redis commands and Redis server CPU per
 * published message (INFO commandstats and INFO cpu taken just before and after the measured run).
 * Each round also measures the floor, a bare ioredis PUBLISH → SUBSCRIBE round trip through the
 * same redis-server, at its place in the rotation, so every round has its own floor to compare with.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { deliveryRunOptions } from './lib/run-options.ts';
import { BenchError, BenchErrorCode } from './lib/errors.ts';
import type { BenchProcess } from './lib/processes.ts';
import { commandCounts, commandDelta, commandUsec, redisCpuMs, type CommandCounts } from './lib/redis-stats.ts';
import { measureRedisBaseline, type BaselineResult } from './lib/redis-baseline.ts';
import { RESULTS_DIR, markdownTable, rotate, runHeader, saveRunRecord, sourceInfo, type SourceInfo } from './lib/results.ts';
import { join } from 'node:path';
import { settle, type SettleResult } from './lib/settle.ts';
import { median, ratio, round3 } from './lib/stats.ts';
import { SYSTEMS, spawnGenerator, startServer, type StartedServer, type SystemName } from './systems.ts';
import { startRedis } from '../test/helpers/services.ts';
import type { ClientSettings, RunRequest, RunResult } from './generator/main.ts';
import type { RunTarget } from './generator/delivery-run.ts';

export const redisOptions: Record<string, OptionSpec> = {
  ...deliveryRunOptions,
  systems: { kind: 'list', default: ['meridian', 'socketio', 'rawws'], doc: 'systems to compare (meridian, socketio, rawws: a raw `ws` relay that PUBLISHes each message and writes it, the floor of a WebSocket relay through Redis)' },
  rooms: { kind: 'int', default: 10, doc: 'rooms published into' },
  'subscribers-per-room': { kind: 'int', default: 100, doc: 'subscribers per room, split evenly over the two pods' },
  rate: { kind: 'int', default: 50, doc: 'published messages per second, over all rooms (kept below saturation: the question is latency)' },
  rounds: { kind: 'int', default: 3, quick: 1, doc: 'rounds, system order rotated each round' },
  'duration-ms': { kind: 'int', default: 10_000, quick: 3_000, doc: 'publishing time of each measured run' },
  'max-messages': { kind: 'int', default: 1_000_000, doc: 'publishing stops after this many messages even if time remains' },
  'warmup-messages': { kind: 'int', default: 100, quick: 40, doc: 'messages published before each measured run (not counted)' },
  'settle-timeout-ms': { kind: 'int', default: 30_000, doc: 'longest wait for the servers to go idle before the measurement' },
  profile: { kind: 'bool', default: false, doc: 'CPU-profile each server during the measured runs only (bench/results/profiles/*.cpuprofile)' },
  out: { kind: 'string', default: '', doc: 'result file (default bench/results/redis.json, or redis-cluster.json with --cluster)' },
  cluster: { kind: 'bool', default: false, doc: 'Meridian on one redis-server and on Redis Clusters of --shards masters, side by side (bench/redis-cluster.ts)' },
  shards: { kind: 'list', default: ['1', '3', '6', '3r', '3w'], doc: 'with --cluster: clusters to measure: N masters, Nr with one replica each, Nw the same with redis.waitReplicas 1' },
  'baseline-messages': { kind: 'int', default: 500, quick: 100, doc: 'messages of the bare ioredis PUBLISH → SUBSCRIBE floor, measured in every round (0: none)' },
};

const PODS = ['a', 'b'] as const;
const FD_HEADROOM = 256;
const PROFILES_DIR = join(RESULTS_DIR, 'profiles');
const IPC_TIMEOUT_MS = 60_000;
/** Rate mode's pacing timer: publishes due are sent every tick. */
const TICK_MS = 2;
/** Idle means under this share of one core, measured over one interval. */
const SETTLE_MAX_PERCENT = 5;
const SETTLE_INTERVAL_MS = 250;
/** How long Redis's idle CPU (pods connected, nothing published) is sampled before each run. */
const REDIS_IDLE_SAMPLE_MS = 2_000;

function mergeCounts(sum: CommandCounts, counts: CommandCounts): CommandCounts {
  for (const [name, calls] of Object.entries(counts)) sum[name] = (sum[name] ?? 0) + calls;
  return sum;
}

export interface Settings {
  systems: SystemName[];
  rooms: number;
  subscribersPerRoom: number;
  rate: number;
  rounds: number;
  durationMs: number;
  maxMessages: number;
  warmupMessages: number;
  payloadBytes: number;
  connectConcurrency: number;
  replyTimeoutMs: number;
  drainTimeoutMs: number;
  readyTimeoutMs: number;
  settleTimeoutMs: number;
  profile: boolean;
  out: string;
  baselineMessages: number;
  quiet: boolean;
}

export interface SystemRound extends RunResult {
  round: number;
  source: SourceInfo;
  position: number;
  system: SystemName;
  lossless: boolean;
  redisCommands: number;
  redisCommandsPerMessage: number;
  redisCommandsByName: CommandCounts;
  /** Microseconds Redis spent executing each command over the run (a script's time includes its commands'). */
  redisCommandUsecByName: CommandCounts;
  /**
   * redis-server CPU time (user + system, INFO cpu) over the measured run, less what the same
   * Redis with the same connected pods used while idle just before (its cron, health probes),
   * per published message.
   */
  redisCpuUsPerMessage: number;
  /** The same without the idle share subtracted. */
  redisCpuUsPerMessageRaw: number;
  /** redis-server CPU while the pods were connected and idle, in µs per second. */
  redisIdleCpuUsPerSecond: number;
  serverCpuPercent: number[];
  /** CPU time of both pods together per published message (includes relaying it through Redis). */
  serverCpuMsPerMessage: number;
  /** Per pod: how long it kept working after the last subscriber joined. */
  settle: SettleResult[];
  /** CPU (user + sys, INFO cpu) each Redis node spent during the measured run, ms. */
  redisCpuMsByNode: number[];
}

/** The systems that relay through Redis; Meridian is compared with each of the others. */
const REDIS_SYSTEMS = ['meridian', 'socketio', 'rawws'] as const;

export function settingsFrom(args: readonly string[]): Settings {
  const o = parseOptions(args, redisOptions);
  const systems = o.systems as string[];
  for (const name of systems) {
    if (!(REDIS_SYSTEMS as readonly string[]).includes(name)) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `unknown system '${name}' for the redis benchmark (${REDIS_SYSTEMS.join(', ')})`);
  }
  const subscribersPerRoom = o['subscribers-per-room'] as number;
  if (subscribersPerRoom < PODS.length || subscribersPerRoom % PODS.length !== 0) {
    throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--subscribers-per-room must be a positive multiple of ${PODS.length} (split over the pods)`);
  }
  if ((o.rooms as number) < 1 || (o.rate as number) < 1) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, '--rooms and --rate must be at least 1');
  return {
    systems: systems as SystemName[],
    rooms: o.rooms as number,
    subscribersPerRoom,
    rate: o.rate as number,
    rounds: Math.max(1, o.rounds as number),
    durationMs: o['duration-ms'] as number,
    maxMessages: o['max-messages'] as number,
    warmupMessages: o['warmup-messages'] as number,
    payloadBytes: o['payload-bytes'] as number,
    connectConcurrency: Math.max(1, o['connect-concurrency'] as number),
    replyTimeoutMs: o['reply-timeout-ms'] as number,
    drainTimeoutMs: o['drain-timeout-ms'] as number,
    readyTimeoutMs: o['ready-timeout-ms'] as number,
    settleTimeoutMs: o['settle-timeout-ms'] as number,
    profile: o.profile as boolean,
    out: o.out as string,
    baselineMessages: o['baseline-messages'] as number,
    quiet: o.quiet as boolean,
  };
}

export function roomName(index: number): string {
  return `redis-bench-${index}`;
}

function runRequest(s: Settings, maxMessages: number, durationMs: number): RunRequest {
  const targets: RunTarget[] = Array.from({ length: s.rooms }, (_, k) => ({ publisher: k % PODS.length, room: roomName(k), expected: s.subscribersPerRoom }));
  return { targets, mode: 'rate', window: 0, rate: s.rate, durationMs, maxMessages, payloadBytes: s.payloadBytes, drainTimeoutMs: s.drainTimeoutMs, tickMs: TICK_MS };
}

/** `redis`: every node that may do the work (the masters of a cluster); counts are summed. */
export async function measureSystem(
  s: Settings,
  redisUrl: string,
  redis: Redis[],
  system: SystemName,
  round: number,
  position: number,
  log: (line: string) => void,
  serverEnv: Record<string, string> = {},
): Promise<SystemRound> {
  const secret = randomBytes(32).toString('hex');
  const connections = s.rooms * s.subscribersPerRoom;
  // Servers load the working tree when they start: record what this round ran.
  const source = sourceInfo();
  const servers: StartedServer[] = [];
  let generator: BenchProcess | undefined;
  try {
    for (const pod of PODS) {
      servers.push(
        await startServer(SYSTEMS[system], {
          secret,
          redisUrl,
          env: serverEnv,
          fileDescriptors: connections + FD_HEADROOM,
          readyTimeoutMs: s.readyTimeoutMs,
                labelSuffix: ` ${pod}`,
        }),
      );
    }
    generator = spawnGenerator(connections + FD_HEADROOM);
    const client: ClientSettings = { protocol: SYSTEMS[system].protocol, secret, replyTimeoutMs: s.replyTimeoutMs, maxPayloadBytes: 1024 * 1024, connectConcurrency: s.connectConcurrency };
    const gen = generator.ipc;
    const openTimeout = s.replyTimeoutMs + connections * 20;
    for (let k = 0; k < s.rooms; k++) {
      for (const [p, server] of servers.entries()) {
        await gen.request('open', { settings: client, baseUrl: server.baseUrl, room: roomName(k), count: s.subscribersPerRoom / PODS.length, group: PODS[p], server: p }, openTimeout);
      }
    }
    await gen.request('publishers', { settings: client, baseUrls: servers.map((x) => x.baseUrl) }, s.replyTimeoutMs);
    const runTimeout = s.durationMs + s.drainTimeoutMs * 4 + 60_000;
    await gen.request('run', runRequest(s, s.warmupMessages, runTimeout), runTimeout);
    const settleOptions = { intervalMs: SETTLE_INTERVAL_MS, maxPercent: SETTLE_MAX_PERCENT, timeoutMs: s.settleTimeoutMs, ipcTimeoutMs: IPC_TIMEOUT_MS };
    const settled = await Promise.all(servers.map((x) => settle(x.process.ipc, settleOptions)));

    const cpu = () => Promise.all(servers.map((x) => x.process.ipc.request<{ cpuMs: number; uptimeMs: number }>('cpu', {}, IPC_TIMEOUT_MS)));
    const countAll = async () => (await Promise.all(redis.map(commandCounts))).reduce(mergeCounts, {} as CommandCounts);
    // Redis CPU summed over every node (one redis-server, or each master and replica of a cluster).
    const totalCpuMs = async () => (await Promise.all(redis.map(redisCpuMs))).reduce((sum, ms) => sum + ms, 0);
    const idleStart = performance.now();
    const idleCpuStart = await totalCpuMs();
    await sleep(REDIS_IDLE_SAMPLE_MS);
    const redisIdleCpuUsPerSecond = Math.round((((await totalCpuMs()) - idleCpuStart) * 1e7) / (performance.now() - idleStart)) / 10;
    const usecAll = async () => (await Promise.all(redis.map(commandUsec))).reduce(mergeCounts, {} as CommandCounts);
    const commandsBefore = await countAll();
    const usecBefore = await usecAll();
    const redisCpuBefore = await Promise.all(redis.map(redisCpuMs));
    const runStart = performance.now();
    if (s.profile) await Promise.all(servers.map((x) => x.process.ipc.request('profileStart', {}, IPC_TIMEOUT_MS)));
    const cpuBefore = await cpu();
    const result = await gen.request<RunResult>('run', runRequest(s, s.maxMessages, s.durationMs), runTimeout);
    const cpuAfter = await cpu();
    const runSeconds = (performance.now() - runStart) / 1000;
    if (s.profile) {
      for (const [p, server] of servers.entries()) {
        const path = join(PROFILES_DIR, `redis-${system}-pod-${PODS[p]}-round${round + 1}.cpuprofile`);
        await server.process.ipc.request('profileStop', { path }, IPC_TIMEOUT_MS);
        log(`  profile: ${path}`);
      }
    }
    const commands = commandDelta(commandsBefore, await countAll());
    const commandTime = commandDelta(usecBefore, await usecAll());
    const redisCpuMsByNode = (await Promise.all(redis.map(redisCpuMs))).map((after, i) => round3(after - redisCpuBefore[i]));
    const redisCpuSeconds = redisCpuMsByNode.reduce((sum, ms) => sum + ms, 0) / 1000;
    const serverCpuPercent = cpuAfter.map((after, i) => Math.round(((after.cpuMs - cpuBefore[i].cpuMs) / (after.uptimeMs - cpuBefore[i].uptimeMs)) * 100));
    const serverCpuMs = cpuAfter.reduce((sum, after, i) => sum + after.cpuMs - cpuBefore[i].cpuMs, 0);
    const serverCpuMsPerMessage = result.published > 0 ? round3(serverCpuMs / result.published) : Number.NaN;
    const lossless = result.delivered === result.expectedDeliveries && result.duplicates === 0 && result.stray === 0;
    const redisCommandsPerMessage = result.published > 0 ? round3(commands.total / result.published) : Number.NaN;
    const perMessageUs = (seconds: number) => (result.published > 0 ? Math.round((seconds * 1e7) / result.published) / 10 : Number.NaN);
    const redisCpuUsPerMessageRaw = perMessageUs(redisCpuSeconds);
    const redisCpuUsPerMessage = perMessageUs(Math.max(0, redisCpuSeconds - (redisIdleCpuUsPerSecond / 1e6) * runSeconds));
    log(
      `  ${SYSTEMS[system].label}: ${result.published} published at ${s.rate}/s, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, max ${result.latency.maxMs} ms, ` +
        `${result.delivered}/${result.expectedDeliveries} delivered${lossless ? '' : ' (LOSSES OR DUPLICATES)'}, ${redisCommandsPerMessage} Redis commands/msg, Redis CPU ${redisCpuUsPerMessage} µs/msg (${redisCpuUsPerMessageRaw} before taking off ${redisIdleCpuUsPerSecond} µs/s idle), ` +
        `server CPU ${serverCpuPercent.join('% / ')}% (${serverCpuMsPerMessage} ms per message), generator CPU ${result.generatorCpuPercent}%`,
    );
    const sides = result.latencyBySide;
    if (sides) log(`    same pod as the publisher: p50 ${sides.local.p50Ms} ms, p99 ${sides.local.p99Ms} ms, max ${sides.local.maxMs} ms; the other pod: p50 ${sides.remote.p50Ms} ms, p99 ${sides.remote.p99Ms} ms, max ${sides.remote.maxMs} ms`);
    await gen.request('closeAll', {}, openTimeout);
    return {
      ...result,
      round,
      position,
      system,
      source,
      lossless,
      redisCommands: commands.total,
      redisCommandsPerMessage,
      redisCommandsByName: commands.byCommand,
      redisCommandUsecByName: commandTime.byCommand,
      redisCpuUsPerMessage,
      redisCpuUsPerMessageRaw,
      redisIdleCpuUsPerSecond,
      serverCpuPercent,
      serverCpuMsPerMessage,
      settle: settled,
      redisCpuMsByNode,
    };
  } finally {
    await generator?.stop();
    for (const server of servers) await server.process.stop();
  }
}

/** The floor of one round, measured at its place in the round's rotation. */
interface FloorRound extends BaselineResult {
  round: number;
  position: number;
}

const FLOOR = 'floor';

function summarize(s: Settings, rounds: SystemRound[], floors: FloorRound[]) {
  const peers = s.systems.includes('meridian') ? s.systems.filter((system) => system !== 'meridian') : [];
  const rows = s.systems.map((system) => {
    const mine = rounds.filter((r) => r.system === system);
    return {
      system,
      p50Ms: round3(median(mine.map((r) => r.latency.p50Ms))),
      p99Ms: round3(median(mine.map((r) => r.latency.p99Ms))),
      maxMs: round3(median(mine.map((r) => r.latency.maxMs))),
      redisCommandsPerMessage: round3(median(mine.map((r) => r.redisCommandsPerMessage))),
      redisCpuUsPerMessage: round3(median(mine.map((r) => r.redisCpuUsPerMessage))),
      serverCpuMsPerMessage: round3(median(mine.map((r) => r.serverCpuMsPerMessage))),
      delivered: mine.reduce((sum, r) => sum + r.delivered, 0),
      expectedDeliveries: mine.reduce((sum, r) => sum + r.expectedDeliveries, 0),
      lossless: mine.every((r) => r.lossless),
    };
  });
  const perRound = Array.from({ length: s.rounds }, (_, round) => {
    const floor = floors.find((f) => f.round === round);
    const entry: Record<string, number> = { round: round + 1 };
    if (floor) entry.floorP99Ms = floor.latency.p99Ms;
    for (const system of s.systems) {
      const mine = rounds.find((r) => r.round === round && r.system === system);
      if (!mine) continue;
      entry[`${system}P99Ms`] = mine.latency.p99Ms;
      if (floor) entry[`${system}/floor p99`] = ratio(mine.latency.p99Ms, floor.latency.p99Ms);
    }
    const mine = rounds.find((r) => r.round === round && r.system === 'meridian');
    for (const peer of peers) {
      const theirs = rounds.find((r) => r.round === round && r.system === peer);
      if (!mine || !theirs) continue;
      entry[`meridian/${peer} p99`] = ratio(mine.latency.p99Ms, theirs.latency.p99Ms);
      entry[`meridian/${peer} redisCpuUsPerMessage`] = ratio(mine.redisCpuUsPerMessage, theirs.redisCpuUsPerMessage);
    }
    return entry;
  });
  const ratios: Record<string, number> = {};
  for (const peer of peers) {
    for (const [metric, pick] of [
      ['p50', (r: SystemRound) => r.latency.p50Ms],
      ['p99', (r: SystemRound) => r.latency.p99Ms],
      ['redisCommandsPerMessage', (r: SystemRound) => r.redisCommandsPerMessage],
      ['redisCpuUsPerMessage', (r: SystemRound) => r.redisCpuUsPerMessage],
      ['serverCpuMsPerMessage', (r: SystemRound) => r.serverCpuMsPerMessage],
    ] as const) {
      const values: number[] = [];
      for (let round = 0; round < s.rounds; round++) {
        const mine = rounds.find((r) => r.round === round && r.system === 'meridian');
        const theirs = rounds.find((r) => r.round === round && r.system === peer);
        if (mine && theirs) values.push(ratio(pick(mine), pick(theirs)));
      }
      ratios[`meridian/${peer} ${metric}`] = round3(median(values));
    }
  }
  for (const system of s.systems) {
    const values = perRound.map((r) => r[`${system}/floor p99`]).filter((v) => v !== undefined);
    if (values.length > 0) ratios[`${system}/floor p99`] = round3(median(values));
  }
  const floor = floors.length > 0 ? { p50Ms: round3(median(floors.map((f) => f.latency.p50Ms))), p99Ms: round3(median(floors.map((f) => f.latency.p99Ms))) } : undefined;
  return { rows, ratios, perRound, floor };
}

export async function run(args: readonly string[]): Promise<unknown> {
  if (args.includes('--cluster')) return (await import('./redis-cluster.ts')).runCluster(args);
  const s = settingsFrom(args);
  const log = (line: string) => {
    if (!s.quiet) process.stderr.write(`${line}\n`);
  };
  const header = runHeader();
  const redisServer = await startRedis();
  const redis = new Redis(redisServer.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const rounds: SystemRound[] = [];
  const floors: FloorRound[] = [];
  try {
    for (let round = 0; round < s.rounds; round++) {
      const order = rotate<SystemName | typeof FLOOR>(s.baselineMessages > 0 ? [...s.systems, FLOOR] : s.systems, round);
      log(`redis round ${round + 1}/${s.rounds}: ${order.join(' → ')}`);
      for (const [position, system] of order.entries()) {
        if (system === FLOOR) {
          const floor = await measureRedisBaseline(redisServer.url, s.rate, s.baselineMessages);
          floors.push({ ...floor, round, position });
          log(`  floor (bare ioredis PUBLISH → SUBSCRIBE, one process): p50 ${floor.latency.p50Ms} ms, p99 ${floor.latency.p99Ms} ms, max ${floor.latency.maxMs} ms`);
        } else {
          rounds.push(await measureSystem(s, redisServer.url, [redis], system, round, position, log));
        }
      }
    }
  } finally {
    redis.disconnect();
    await redisServer.stop();
  }
  const summary = summarize(s, rounds, floors);
  const { record, path } = await saveRunRecord(
    'redis',
    header,
    {
      processes: 'one redis-server; two server processes per system (pods a and b); one load-generator process holding every subscriber and both publishers (shared clock); the floor runs in the runner process',
      settings: s,
      summary,
      floors,
    },
    rounds,
    s.out || undefined,
  );
  if (!s.quiet) {
    const table = markdownTable(
      ['system', 'p50 ms', 'p99 ms', 'max ms', 'Redis cmds/msg', 'Redis CPU µs/msg', 'server CPU ms/msg (2 pods)', 'delivered / expected'],
      summary.rows.map((r) => [SYSTEMS[r.system].label, r.p50Ms, r.p99Ms, r.maxMs, r.redisCommandsPerMessage, r.redisCpuUsPerMessage, r.serverCpuMsPerMessage, `${r.delivered} / ${r.expectedDeliveries}${r.lossless ? '' : ' LOSSES'}`]),
    );
    const roundKeys = [...new Set(summary.perRound.flatMap((r) => Object.keys(r)))];
    const perRound = markdownTable(roundKeys, summary.perRound.map((r) => roundKeys.map((k) => r[k] ?? Number.NaN)));
    const floor = summary.floor ? `\n\nfloor (median of rounds): bare ioredis PUBLISH → SUBSCRIBE p50 ${summary.floor.p50Ms} ms, p99 ${summary.floor.p99Ms} ms` : '';
    const ratios = Object.entries(summary.ratios).map(([k, v]) => `- ${k}: ${v}`).join('\n') + floor;
    process.stdout.write(`\n## Redis relay (${s.rounds} round(s), ${s.rooms} rooms × ${s.subscribersPerRoom} subscribers over 2 pods, ${s.rate} msg/s)\n\n${table}\n\nper round:\n\n${perRound}\n\n${ratios}\n\nfull record: ${path}\n`);
  }
  return record;
}
