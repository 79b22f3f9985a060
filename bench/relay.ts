/**
 * Cross-region relay: publishers in region a, subscribers in region b, the relay between them
 * through the Google Cloud Pub/Sub emulator. Each region has its own redis-server and
 * `pods-per-region` gateway processes; one load-generator process holds the WebSocket publishers
 * (on a's pods) and subscribers (on b's pods), so publish and delivery are stamped by one clock.
 *
 * Side by side in the same run, against the same emulator, at the same rate and payload: the bare
 * `@google-cloud/pubsub` client publishing and receiving in one process (bench/lib/pubsub-raw.ts),
 * with one ordering key per room as the relay publishes, and without ordering for context.
 * `meridian-pipelined` is the same relay with `relay.outboxMode=pipelined` (each envelope handed
 * to the bus at once) instead of the default `window`, so the two outboxes can be compared in
 * one run.
 * Systems run in rotated order over several rounds; the last round also climbs a rate ladder
 * (each step warmed up, then measured) to find the highest rate whose p99 stays under a limit.
 *
 * Reported per system: publish→deliver p50/p99/max, delivered versus expected, duplicates, out
 * of order; for Meridian also the relay's own counters (repair requests, unrecoverable gaps,
 * duplicates applied) and its origin→append histogram, to tell where the time goes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { parseOptions, type OptionSpec } from './lib/args.ts';
import { deliveryRunOptions } from './lib/run-options.ts';
import { BenchError, BenchErrorCode } from './lib/errors.ts';
import type { BenchProcess } from './lib/processes.ts';
import { RESULTS_DIR, markdownTable, rotate, runHeader, saveRunRecord, sourceInfo, type SourceInfo } from './lib/results.ts';
import { settle } from './lib/settle.ts';
import { median, ratio, round3, type LatencySummary } from './lib/stats.ts';
import { RawPubSubSession, type RawRunResult } from './lib/pubsub-raw.ts';
import { RELAY_COUNTERS, relayCounterDelta, scrape, startRegions, stopRegions, type RelayPod, type RelayRegion } from './lib/relay-regions.ts';
import { spawnGenerator } from './systems.ts';
import { skipUnlessPubsubEmulator, startPubsubEmulator } from '../test/helpers/services.ts';
import { configFields } from '../gateway/config-schema.ts';
import { envName, resolveConfig } from '../gateway/config.ts';
import type { ClientSettings, RunRequest, RunResult } from './generator/main.ts';

const RELAY_SYSTEMS = ['meridian', 'meridian-pipelined', 'raw-ordered', 'raw-unordered'] as const;
type RelaySystem = (typeof RELAY_SYSTEMS)[number];
const MERIDIAN_SYSTEMS = ['meridian', 'meridian-pipelined'] as const;
type MeridianSystem = (typeof MERIDIAN_SYSTEMS)[number];
const LABELS: Record<RelaySystem, string> = {
  meridian: 'Meridian relay (WS a → Redis a → Pub/Sub → Redis b → WS b)',
  'meridian-pipelined': 'Meridian relay, relay.outboxMode=pipelined (each envelope sent at once)',
  'raw-ordered': 'raw @google-cloud/pubsub, ordering key per room',
  'raw-unordered': 'raw @google-cloud/pubsub, no ordering',
};

const defaults = resolveConfig({}, {}).relay;

export const relayOptions: Record<string, OptionSpec> = {
  ...deliveryRunOptions,
  systems: { kind: 'list', default: ['meridian', 'raw-ordered', 'raw-unordered'], doc: `systems to compare (${RELAY_SYSTEMS.join(', ')}; meridian-pipelined is the relay with relay.outboxMode=pipelined, for an A/B of the outbox)` },
  rate: { kind: 'int', default: 200, doc: 'published messages per second over all rooms, for the side-by-side rounds' },
  rooms: { kind: 'int', default: 10, doc: 'rooms (ordering keys) published into, in turn' },
  'subscribers-per-room': { kind: 'int', default: 2, doc: "WebSocket subscribers per room in region b, split evenly over b's pods" },
  'pods-per-region': { kind: 'int', default: 2, doc: 'gateway processes per region' },
  rounds: { kind: 'int', default: 3, quick: 1, doc: 'rounds, system order rotated each round' },
  'warmup-ms': { kind: 'int', default: 5_000, quick: 2_000, doc: 'publishing at the rate before each measured run (not counted)' },
  'duration-ms': { kind: 'int', default: 15_000, quick: 4_000, doc: 'publishing time of each measured run' },
  ladder: { kind: 'intList', default: [100, 200, 300, 400, 600, 800], quick: [200, 400], doc: 'rates (msg/s) climbed in the last round, each a measured run of --ladder-step-ms; the climb stops at the first rate over --ladder-p99-ms or with a loss (empty: no ladder)' },
  'ladder-step-ms': { kind: 'int', default: 15_000, quick: 3_000, doc: 'publishing time of each measured ladder step' },
  'ladder-warmup-ms': { kind: 'int', default: 3_000, quick: 1_000, doc: 'publishing at the new rate before each ladder step is measured (not counted): the emulator queues the change of rate' },
  'ladder-p99-ms': { kind: 'int', default: 100, doc: 'the p99 a ladder rate must stay under' },
  'ladder-systems': { kind: 'list', default: ['meridian', 'raw-ordered'], doc: 'systems that climb the ladder' },
  'batch-max-ms': { kind: 'int', default: defaults.pubsub.batchMaxMs, doc: "publisher batching wait, for the relay (relay.pubsub.batchMaxMs) and the raw client alike" },
  'batch-max-messages': { kind: 'int', default: defaults.pubsub.batchMaxMessages, doc: 'publisher batch size, for the relay (relay.pubsub.batchMaxMessages) and the raw client alike' },
  'mirror-subscription': { kind: 'bool', default: true, doc: "the raw client also drains a second subscription, as region a's own subscription is drained in a relay run (the emulator applies no filter)" },
  'gateway-env': { kind: 'list', default: [], doc: 'extra KEY=VALUE settings for every gateway (comma-separated), e.g. MERIDIAN_RELAY_REORDER_WINDOW_MS=200' },
  profile: { kind: 'bool', default: false, doc: "CPU-profile region b's gateways during the measured runs only (bench/results/profiles/*.cpuprofile)" },
  out: { kind: 'string', default: '', doc: 'result file (default bench/results/relay.json)' },
};

const REGIONS = ['a', 'b'] as const;
const PROJECT = 'meridian-bench';
const FD_HEADROOM = 256;
const IPC_TIMEOUT_MS = 60_000;
const TICK_MS = 2;
const SETTLE = { intervalMs: 250, maxPercent: 5, timeoutMs: 15_000, ipcTimeoutMs: IPC_TIMEOUT_MS };

interface Settings {
  systems: RelaySystem[];
  rate: number;
  rooms: number;
  subscribersPerRoom: number;
  podsPerRegion: number;
  rounds: number;
  warmupMs: number;
  durationMs: number;
  ladder: number[];
  ladderStepMs: number;
  ladderWarmupMs: number;
  ladderP99Ms: number;
  ladderSystems: RelaySystem[];
  batchMaxMs: number;
  batchMaxMessages: number;
  mirrorSubscription: boolean;
  gatewayEnv: Record<string, string>;
  payloadBytes: number;
  connectConcurrency: number;
  replyTimeoutMs: number;
  drainTimeoutMs: number;
  readyTimeoutMs: number;
  profile: boolean;
  out: string;
  quiet: boolean;
}

/** One measured run of one system, whatever it is. */
interface Measured {
  rate: number;
  published: number;
  expectedDeliveries: number;
  delivered: number;
  duplicates: number;
  outOfOrder: number;
  incompleteMessages: number;
  lossless: boolean;
  latency: LatencySummary;
}

interface LadderStep extends Measured {
  underLimit: boolean;
}

interface SystemRound extends Measured {
  round: number;
  position: number;
  system: RelaySystem;
  source: SourceInfo;
  /** The full result of the measuring side (generator or raw client). */
  detail: RunResult | RawRunResult;
  /** Meridian: CPU share of each gateway during the measured run (a0, a1, b0, b1). */
  gatewayCpuPercent?: number[];
  /** Meridian: relay counters over the measured run, summed per region. */
  relayCounters?: Record<string, Record<string, number>>;
  /** Meridian: region b's origin→append histogram over the measured run (cumulative, seconds). */
  appendLatencyBuckets?: Record<string, number>;
  ladder?: LadderStep[];
}

function isRelaySystem(name: string): name is RelaySystem {
  return (RELAY_SYSTEMS as readonly string[]).includes(name);
}

function envVar(path: string): string {
  const field = configFields.find((f) => f.path === path);
  if (!field) throw new Error(`no config field ${path}`);
  return envName(field);
}

function settingsFrom(args: readonly string[]): Settings {
  const o = parseOptions(args, relayOptions);
  const systemsOf = (names: string[], option: string) => {
    for (const name of names) if (!isRelaySystem(name)) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `unknown system '${name}' in --${option} (${RELAY_SYSTEMS.join(', ')})`);
    return names as RelaySystem[];
  };
  const podsPerRegion = o['pods-per-region'] as number;
  const subscribersPerRoom = o['subscribers-per-room'] as number;
  if (podsPerRegion < 1) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, '--pods-per-region must be at least 1');
  if (subscribersPerRoom < podsPerRegion || subscribersPerRoom % podsPerRegion !== 0) {
    throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--subscribers-per-room must be a positive multiple of --pods-per-region (${podsPerRegion})`);
  }
  if ((o.rooms as number) < 1 || (o.rate as number) < 1) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, '--rooms and --rate must be at least 1');
  const gatewayEnv: Record<string, string> = {};
  for (const pair of o['gateway-env'] as string[]) {
    const eq = pair.indexOf('=');
    if (eq < 1 || !pair.startsWith('MERIDIAN_')) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--gateway-env takes MERIDIAN_KEY=VALUE pairs, got '${pair}'`);
    gatewayEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const batchMaxMs = o['batch-max-ms'] as number;
  const batchMaxMessages = o['batch-max-messages'] as number;
  gatewayEnv[envVar('relay.pubsub.batchMaxMs')] = String(batchMaxMs);
  gatewayEnv[envVar('relay.pubsub.batchMaxMessages')] = String(batchMaxMessages);
  return {
    systems: systemsOf(o.systems as string[], 'systems'),
    rate: o.rate as number,
    rooms: o.rooms as number,
    subscribersPerRoom,
    podsPerRegion,
    rounds: Math.max(1, o.rounds as number),
    warmupMs: o['warmup-ms'] as number,
    durationMs: o['duration-ms'] as number,
    ladder: o.ladder as number[],
    ladderStepMs: o['ladder-step-ms'] as number,
    ladderWarmupMs: o['ladder-warmup-ms'] as number,
    ladderP99Ms: o['ladder-p99-ms'] as number,
    ladderSystems: systemsOf(o['ladder-systems'] as string[], 'ladder-systems'),
    batchMaxMs,
    batchMaxMessages,
    mirrorSubscription: o['mirror-subscription'] as boolean,
    gatewayEnv,
    payloadBytes: o['payload-bytes'] as number,
    connectConcurrency: Math.max(1, o['connect-concurrency'] as number),
    replyTimeoutMs: o['reply-timeout-ms'] as number,
    drainTimeoutMs: o['drain-timeout-ms'] as number,
    readyTimeoutMs: o['ready-timeout-ms'] as number,
    profile: o.profile as boolean,
    out: o.out as string,
    quiet: o.quiet as boolean,
  };
}

function measured(rate: number, r: RunResult | RawRunResult): Measured {
  const lossless = r.delivered === r.expectedDeliveries && r.duplicates === 0 && r.stray === 0;
  return { rate, published: r.published, expectedDeliveries: r.expectedDeliveries, delivered: r.delivered, duplicates: r.duplicates, outOfOrder: r.outOfOrder, incompleteMessages: r.incompleteMessages, lossless, latency: r.latency };
}

function describe(system: RelaySystem, m: Measured): string {
  return `${system} at ${m.rate}/s: p50 ${m.latency.p50Ms} ms, p99 ${m.latency.p99Ms} ms, max ${m.latency.maxMs} ms, ${m.delivered}/${m.expectedDeliveries} delivered, ${m.duplicates} duplicates, ${m.outOfOrder} out of order${m.lossless ? '' : ' (LOSSES OR DUPLICATES)'}`;
}

/** Climbs the rates in order with `step`, stopping after the first one over the limit or with a loss. */
async function climb(s: Settings, system: RelaySystem, step: (rate: number) => Promise<Measured>, log: (line: string) => void): Promise<LadderStep[]> {
  const steps: LadderStep[] = [];
  for (const rate of s.ladder) {
    const m = await step(rate);
    const underLimit = m.lossless && m.latency.p99Ms < s.ladderP99Ms;
    steps.push({ ...m, underLimit });
    log(`    ladder ${describe(system, m)}`);
    if (!underLimit) break;
  }
  return steps;
}

function roomName(k: number): string {
  return `relay-bench-${k}`;
}

function isMeridian(system: RelaySystem): system is MeridianSystem {
  return (MERIDIAN_SYSTEMS as readonly string[]).includes(system);
}

/** A ladder step: a warm-up at the new rate (not counted), then the measured run. */
async function ladderStep<T extends RunResult | RawRunResult>(s: Settings, rate: number, runAt: (rate: number, durationMs: number) => Promise<T>): Promise<Measured> {
  if (s.ladderWarmupMs > 0) await runAt(rate, s.ladderWarmupMs);
  return measured(rate, await runAt(rate, s.ladderStepMs));
}

async function measureMeridian(s: Settings, system: MeridianSystem, emulatorHost: string, round: number, withLadder: boolean, log: (line: string) => void): Promise<Omit<SystemRound, 'round' | 'position' | 'system' | 'source'>> {
  const secret = randomBytes(32).toString('hex');
  const connections = s.rooms * s.subscribersPerRoom;
  let regions: RelayRegion[] = [];
  let generator: BenchProcess | undefined;
  try {
    regions = await startRegions({
      names: REGIONS,
      podsPerRegion: s.podsPerRegion,
      secret,
      emulatorHost,
      projectId: PROJECT,
      topic: `relay-bench-${randomUUID().slice(0, 8)}`,
      fileDescriptors: connections + FD_HEADROOM,
      readyTimeoutMs: s.readyTimeoutMs,
      gatewayEnv: system === 'meridian-pipelined' ? { ...s.gatewayEnv, [envVar('relay.outboxMode')]: 'pipelined' } : s.gatewayEnv,
    });
    const [a, b] = regions;
    const pods: RelayPod[] = regions.flatMap((r) => r.pods);
    generator = spawnGenerator(connections + FD_HEADROOM);
    const gen = generator.ipc;
    const client: ClientSettings = { protocol: 'meridian', secret, replyTimeoutMs: s.replyTimeoutMs, maxPayloadBytes: 1024 * 1024, connectConcurrency: s.connectConcurrency };
    const openTimeout = s.replyTimeoutMs + connections * 20;
    const perPod = s.subscribersPerRoom / b.pods.length;
    for (let k = 0; k < s.rooms; k++) {
      for (const pod of b.pods) await gen.request('open', { settings: client, baseUrl: pod.baseUrl, room: roomName(k), count: perPod, group: `b-${k}` }, openTimeout);
    }
    await gen.request('publishers', { settings: client, baseUrls: a.pods.map((p) => p.baseUrl) }, s.replyTimeoutMs);
    // Room k is published from a's pod k mod N: one origin pod per room, as one user's stream is.
    const targets = Array.from({ length: s.rooms }, (_, k) => ({ publisher: k % a.pods.length, room: roomName(k), expected: s.subscribersPerRoom }));
    const runAt = async (rate: number, durationMs: number): Promise<RunResult> => {
      const request: RunRequest = { targets, mode: 'rate', window: 0, rate, durationMs, maxMessages: Math.ceil((rate * durationMs) / 1000) + 1, payloadBytes: s.payloadBytes, drainTimeoutMs: s.drainTimeoutMs, tickMs: TICK_MS };
      const timeout = durationMs + s.drainTimeoutMs * 4 + 60_000;
      return gen.request<RunResult>('run', request, timeout);
    };
    const warm = await runAt(s.rate, s.warmupMs);
    log(`    warm-up: ${describe(system, measured(s.rate, warm))}`);
    await Promise.all(pods.map((p) => settle(p.process.ipc, SETTLE)));

    const cpu = () => Promise.all(pods.map((p) => p.process.ipc.request<{ cpuMs: number; uptimeMs: number }>('cpu', {}, IPC_TIMEOUT_MS)));
    const scrapeAll = () => Promise.all(regions.map((r) => Promise.all(r.pods.map(scrape))));
    const metricsBefore = await scrapeAll();
    if (s.profile) await Promise.all(b.pods.map((p) => p.process.ipc.request('profileStart', {}, IPC_TIMEOUT_MS)));
    const cpuBefore = await cpu();
    const result = await runAt(s.rate, s.durationMs);
    const cpuAfter = await cpu();
    if (s.profile) {
      for (const [i, pod] of b.pods.entries()) {
        const path = join(RESULTS_DIR, 'profiles', `relay-${system}-b${i}-round${round + 1}.cpuprofile`);
        await pod.process.ipc.request('profileStop', { path }, IPC_TIMEOUT_MS);
        log(`    profile: ${path}`);
      }
    }
    const metricsAfter = await scrapeAll();
    const relayCounters = Object.fromEntries(regions.map((r, i) => [r.name, relayCounterDelta(metricsBefore[i], metricsAfter[i], RELAY_COUNTERS)]));
    const bucketNames = [...metricsAfter[1][0].keys()].filter((k) => k.startsWith('meridian_relay_deliver_seconds_bucket'));
    const appendLatencyBuckets = relayCounterDelta(metricsBefore[1], metricsAfter[1], bucketNames);
    const gatewayCpuPercent = cpuAfter.map((after, i) => Math.round(((after.cpuMs - cpuBefore[i].cpuMs) / (after.uptimeMs - cpuBefore[i].uptimeMs)) * 100));
    const ladder = withLadder ? await climb(s, system, (rate) => ladderStep(s, rate, runAt), log) : undefined;
    await gen.request('closeAll', {}, openTimeout);
    return { ...measured(s.rate, result), detail: result, gatewayCpuPercent, relayCounters, appendLatencyBuckets, ladder };
  } finally {
    await generator?.stop();
    await stopRegions(regions);
  }
}

async function measureRaw(s: Settings, ordered: boolean, withLadder: boolean, log: (line: string) => void): Promise<Omit<SystemRound, 'round' | 'position' | 'system' | 'source'>> {
  const system: RelaySystem = ordered ? 'raw-ordered' : 'raw-unordered';
  const session = new RawPubSubSession({ projectId: PROJECT, ordered, keys: s.rooms, batchMaxMs: s.batchMaxMs, batchMaxMessages: s.batchMaxMessages, flowMaxMessages: defaults.flowMaxMessages, mirrorSubscription: s.mirrorSubscription });
  try {
    await session.open();
    const runAt = (rate: number, durationMs: number) => session.run({ rate, durationMs, payloadBytes: s.payloadBytes, drainTimeoutMs: s.drainTimeoutMs, tickMs: TICK_MS });
    const warm = await runAt(s.rate, s.warmupMs);
    log(`    warm-up: ${describe(system, measured(s.rate, warm))}`);
    const result = await runAt(s.rate, s.durationMs);
    const ladder = withLadder ? await climb(s, system, (rate) => ladderStep(s, rate, runAt), log) : undefined;
    return { ...measured(s.rate, result), detail: result, ladder };
  } finally {
    await session.close();
  }
}

function summarize(s: Settings, rounds: SystemRound[]) {
  const rows = s.systems.map((system) => {
    const mine = rounds.filter((r) => r.system === system);
    const ladder = mine.flatMap((r) => r.ladder ?? []);
    const passed = ladder.filter((step) => step.underLimit).map((step) => step.rate);
    return {
      system,
      p50Ms: round3(median(mine.map((r) => r.latency.p50Ms))),
      p99Ms: round3(median(mine.map((r) => r.latency.p99Ms))),
      maxMs: round3(median(mine.map((r) => r.latency.maxMs))),
      delivered: mine.reduce((sum, r) => sum + r.delivered, 0),
      expectedDeliveries: mine.reduce((sum, r) => sum + r.expectedDeliveries, 0),
      duplicates: mine.reduce((sum, r) => sum + r.duplicates, 0),
      outOfOrder: mine.reduce((sum, r) => sum + r.outOfOrder, 0),
      lossless: mine.every((r) => r.lossless),
      highestRateUnderP99Limit: ladder.length > 0 ? (passed.length > 0 ? Math.max(...passed) : 0) : undefined,
      ladderClimbed: ladder.length > 0 ? ladder.length === s.ladder.length && ladder.every((step) => step.underLimit) : undefined,
    };
  });
  const ratios: Record<string, number> = {};
  const pairs: [RelaySystem, RelaySystem][] = [
    ...MERIDIAN_SYSTEMS.flatMap((mine) => (['raw-ordered', 'raw-unordered'] as const).map((peer): [RelaySystem, RelaySystem] => [mine, peer])),
    ['meridian-pipelined', 'meridian'],
  ];
  for (const [mineName, peer] of pairs) {
    if (!s.systems.includes(mineName) || !s.systems.includes(peer)) continue;
    for (const metric of ['p50Ms', 'p99Ms', 'maxMs'] as const) {
      const values: number[] = [];
      for (let round = 0; round < s.rounds; round++) {
        const mine = rounds.find((r) => r.round === round && r.system === mineName);
        const theirs = rounds.find((r) => r.round === round && r.system === peer);
        if (mine && theirs) values.push(ratio(mine.latency[metric], theirs.latency[metric]));
      }
      ratios[`${mineName}/${peer} ${metric.replace('Ms', '')}`] = round3(median(values));
    }
  }
  return { rows, ratios, goal: 'meridian/raw-ordered p99 ≤ 1.2' };
}

export async function run(args: readonly string[]): Promise<unknown> {
  const s = settingsFrom(args);
  const log = (line: string) => {
    if (!s.quiet) process.stderr.write(`${line}\n`);
  };
  const skip = skipUnlessPubsubEmulator('the relay benchmark');
  if (skip) throw new BenchError(BenchErrorCode.PROCESS_EXITED, skip);
  const header = runHeader();
  const emulator = await startPubsubEmulator();
  // The raw client in this process reads these, as the gateways do.
  process.env.PUBSUB_EMULATOR_HOST = emulator.host;
  process.env.METADATA_SERVER_DETECTION = 'none';
  const rounds: SystemRound[] = [];
  try {
    for (let round = 0; round < s.rounds; round++) {
      const order = rotate(s.systems, round);
      const lastRound = round === s.rounds - 1;
      log(`relay round ${round + 1}/${s.rounds}: ${order.join(' → ')}`);
      for (const [position, system] of order.entries()) {
        const withLadder = lastRound && s.ladder.length > 0 && s.ladderSystems.includes(system);
        const source = sourceInfo();
        const result = isMeridian(system) ? await measureMeridian(s, system, emulator.host, round, withLadder, log) : await measureRaw(s, system === 'raw-ordered', withLadder, log);
        log(`  ${describe(system, result)}${result.gatewayCpuPercent ? `, gateway CPU ${result.gatewayCpuPercent.join('% / ')}%` : ''}`);
        rounds.push({ ...result, round, position, system, source });
      }
    }
  } finally {
    await emulator.stop();
  }
  const summary = summarize(s, rounds);
  const processes =
    `one Pub/Sub emulator (JVM); per region one redis-server and ${s.podsPerRegion} gateway process(es); one load-generator process with every WebSocket publisher (on a's pods) and subscriber (on b's pods); ` +
    'the raw client publishes and receives in the runner process; machine: ' + `${header.machine.cores} cores`;
  const { record, path } = await saveRunRecord('relay', header, { processes, settings: s, summary }, rounds, s.out || undefined);
  if (!s.quiet) {
    const table = markdownTable(
      ['system', 'p50 ms', 'p99 ms', 'max ms', 'delivered / expected', 'duplicates', `highest rate with p99 < ${s.ladderP99Ms} ms`],
      summary.rows.map((r) => [LABELS[r.system], r.p50Ms, r.p99Ms, r.maxMs, `${r.delivered} / ${r.expectedDeliveries}${r.lossless ? '' : ' LOSSES'}`, r.duplicates, r.highestRateUnderP99Limit === undefined ? '—' : r.highestRateUnderP99Limit === 0 ? `< ${s.ladder[0]}` : `${r.highestRateUnderP99Limit}${r.ladderClimbed ? '+' : ''}`]),
    );
    const ratios = Object.entries(summary.ratios).map(([k, v]) => `- ${k}: ${v}`).join('\n');
    process.stdout.write(`\n## Cross-region relay (${s.rounds} round(s), ${s.rate} msg/s, ${s.rooms} rooms, ${s.subscribersPerRoom} subscribers per room in b, ${s.podsPerRegion} pods per region)\n\n${table}\n\n${ratios}\n- goal: ${summary.goal}\n\nfull record: ${path}\n`);
  }
  return record;
}
