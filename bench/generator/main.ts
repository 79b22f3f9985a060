/**
 * The load generator: one process holding every subscriber and publisher connection of a
 * benchmark, so publish and delivery times come from one clock. Driven by the runner over IPC:
 *   open      connect `count` more subscribers to `room` (group `group`; `server`: the index of
 *             the publisher on the same server, so deliveries are split local / remote)
 *   trim      close a group's subscribers down to `keep`
 *   publishers connect one publisher per base URL
 *   run       publish (window or fixed rate) and count every delivery; returns DeliveryTotals
 *   closeAll  close every connection
 *   crowdOpen connect subscribers over many rooms, servers and source addresses (crowd.ts)
 *   storm     drop some of the crowd at once; they come back with recover (crowd.ts)
 *   crowdStatus closes the server made and how the crowd came back (crowd.ts)
 * Usage: node --expose-gc bench/generator/main.ts (spawned by bench/lib/processes.ts)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchError, BenchErrorCode } from '../lib/errors.ts';
import { serveIpc, type IpcRequest } from '../lib/ipc.ts';
import { WindowProfiler, sampleCpu } from '../lib/memory-hook.ts';
import { PROTOCOLS } from '../clients/index.ts';
import type { BenchConnection, ConnectOptions, ProtocolName } from '../clients/types.ts';
import { Crowd, type CrowdOpenRequest, type StormRequest } from './crowd.ts';
import { DeliveryRun, benchPayload, nowMicros, type DeliveryTotals, type RunTarget, type SubscriberState } from './delivery-run.ts';

export interface ClientSettings {
  protocol: ProtocolName;
  secret?: string;
  replyTimeoutMs: number;
  maxPayloadBytes: number;
  /** Connections opened at once: more would overflow the server's listen backlog. */
  connectConcurrency: number;
}

export interface RunRequest {
  targets: RunTarget[];
  /** `window`: keep at most `window` messages not yet delivered to everyone; `rate`: `rate` msg/s. */
  mode: 'window' | 'rate';
  window: number;
  rate: number;
  /** Publishing stops after this long or `maxMessages`, whichever comes first. */
  durationMs: number;
  maxMessages: number;
  payloadBytes: number;
  /** After publishing stops, wait this long without any delivery before calling the rest lost. */
  drainTimeoutMs: number;
  /** Rate mode: how often the pacing timer runs. */
  tickMs: number;
}

export interface RunResult extends DeliveryTotals {
  /** Error frames and unexpected closes during the run, by code. */
  problems: Record<string, number>;
  generatorCpuMs: number;
  /** The kernel's part of generatorCpuMs (socket reads and polling). */
  generatorSystemCpuMs: number;
  /** Generator CPU time per delivery, in nanoseconds: what one delivery costs the measuring side. */
  generatorCpuNsPerDelivery: number;
  /** Generator CPU time over the run's wall time: near 100 means the generator was the limit. */
  generatorCpuPercent: number;
}

interface Subscriber {
  connection: BenchConnection;
  state: SubscriberState;
}

const groups = new Map<string, Subscriber[]>();
let publishers: BenchConnection[] = [];
let current: DeliveryRun | undefined;
let problems: Record<string, number> = {};
let strayOutsideRuns = 0;
let nextSeqBase = 0;
let userCounter = 0;
let crowd: Crowd | undefined;

function noteProblem(code: string): void {
  problems[code] = (problems[code] ?? 0) + 1;
}

function connectOptions(settings: ClientSettings, baseUrl: string, state?: SubscriberState): ConnectOptions {
  return {
    baseUrl,
    user: `bench-${process.pid}-${userCounter++}`,
    secret: settings.secret,
    replyTimeoutMs: settings.replyTimeoutMs,
    maxPayloadBytes: settings.maxPayloadBytes,
    trackPosition: settings.protocol === 'meridian',
    onDelivery: (frame, benchFieldAt) => {
      if (current && state) current.record(frame, benchFieldAt, state);
      else strayOutsideRuns++;
    },
    onAck: () => {
      if (current) current.acked++;
    },
    onProblem: noteProblem,
  };
}

async function inParallel(count: number, concurrency: number, work: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

async function open(request: IpcRequest): Promise<{ group: string; total: number }> {
  const { settings, baseUrl, room, count, group, server } = request as unknown as { settings: ClientSettings; baseUrl: string; room: string; count: number; group: string; server?: number };
  const connect = PROTOCOLS[settings.protocol];
  const members = groups.get(group) ?? [];
  groups.set(group, members);
  await inParallel(count, settings.connectConcurrency, async () => {
    const state: SubscriberState = { lastSeq: -1 };
    if (server !== undefined) state.server = server;
    const connection = await connect(connectOptions(settings, baseUrl, state));
    await connection.subscribe(room);
    members.push({ connection, state });
  });
  return { group, total: members.length };
}

async function trim(request: IpcRequest): Promise<{ group: string; total: number }> {
  const { group, keep, concurrency } = request as unknown as { group: string; keep: number; concurrency: number };
  const members = groups.get(group) ?? [];
  const closing = members.splice(keep);
  await inParallel(closing.length, concurrency, async (i) => closing[i].connection.close());
  return { group, total: members.length };
}

async function openPublishers(request: IpcRequest): Promise<{ publishers: number }> {
  const { settings, baseUrls } = request as unknown as { settings: ClientSettings; baseUrls: string[] };
  const connect = PROTOCOLS[settings.protocol];
  for (const baseUrl of baseUrls) publishers.push(await connect(connectOptions(settings, baseUrl)));
  return { publishers: publishers.length };
}

async function crowdOpen(request: IpcRequest) {
  const { settings } = request as unknown as { settings: ClientSettings };
  crowd ??= new Crowd(PROTOCOLS[settings.protocol], (baseUrl, state) => connectOptions(settings, baseUrl, state));
  return crowd.open(request as unknown as CrowdOpenRequest);
}

async function storm(request: IpcRequest) {
  if (!crowd) throw new BenchError(BenchErrorCode.PROTOCOL, 'no crowd: send `crowdOpen` first');
  return crowd.storm(request as unknown as StormRequest);
}

function crowdStatus() {
  if (!crowd) throw new BenchError(BenchErrorCode.PROTOCOL, 'no crowd: send `crowdOpen` first');
  return crowd.status();
}

async function closeAll(): Promise<{ closed: number }> {
  let closed = (await crowd?.closeAll(200)) ?? 0;
  crowd = undefined;
  for (const members of groups.values()) {
    await inParallel(members.length, 200, async (i) => members[i].connection.close());
    closed += members.length;
  }
  groups.clear();
  for (const publisher of publishers) await publisher.close();
  closed += publishers.length;
  publishers = [];
  return { closed };
}

async function run(request: IpcRequest): Promise<RunResult> {
  const spec = request as unknown as RunRequest;
  if (current) throw new BenchError(BenchErrorCode.PROTOCOL, 'a run is already in progress');
  if (publishers.length === 0) throw new BenchError(BenchErrorCode.PROTOCOL, 'no publishers: send `publishers` first');
  for (const target of spec.targets) {
    if (!publishers[target.publisher]) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `no publisher #${target.publisher}`);
  }
  let stopped = false;
  const publishOne = (activeRun: DeliveryRun) => {
    const { seq, target } = activeRun.next();
    activeRun.markPublished();
    publishers[target.publisher].publish(target.room, benchPayload(seq, spec.payloadBytes));
  };
  const canPublish = (activeRun: DeliveryRun) => !stopped && activeRun.published < spec.maxMessages;
  const pump = () => {
    const activeRun = current;
    if (!activeRun || spec.mode !== 'window') return;
    while (canPublish(activeRun) && activeRun.published - activeRun.completed < spec.window) publishOne(activeRun);
  };

  problems = {};
  const activeRun = new DeliveryRun(nextSeqBase, spec.maxMessages, spec.targets, pump);
  nextSeqBase += spec.maxMessages;
  current = activeRun;
  const cpuBefore = sampleCpu();
  const systemBefore = process.cpuUsage().system;
  const started = nowMicros();
  const stopTimer = setTimeout(() => {
    stopped = true;
  }, spec.durationMs);
  try {
    const stalled = () => nowMicros() - activeRun.lastProgressUs > spec.drainTimeoutMs * 1000;
    if (spec.mode === 'window') {
      activeRun.lastProgressUs = nowMicros();
      pump();
      // A lost message would hold its window slot forever: stop when nothing moves.
      while (canPublish(activeRun) && !stalled()) await sleep(spec.tickMs);
    } else {
      while (canPublish(activeRun)) {
        const due = Math.floor(((nowMicros() - started) / 1e6) * spec.rate);
        while (activeRun.published < due && canPublish(activeRun)) publishOne(activeRun);
        await sleep(spec.tickMs);
      }
    }
    stopped = true;
    // Drain: wait for every delivery, or for `drainTimeoutMs` without any progress.
    while (activeRun.completed < activeRun.published && !stalled()) {
      await sleep(spec.tickMs);
    }
  } finally {
    clearTimeout(stopTimer);
    current = undefined;
  }
  const cpuAfter = sampleCpu();
  const generatorSystemCpuMs = Math.round((process.cpuUsage().system - systemBefore) / 1000);
  const totals = activeRun.totals();
  const generatorCpuMs = Math.round(cpuAfter.cpuMs - cpuBefore.cpuMs);
  const wallMs = cpuAfter.uptimeMs - cpuBefore.uptimeMs;
  return {
    ...totals,
    problems,
    generatorCpuMs,
    generatorSystemCpuMs,
    generatorCpuNsPerDelivery: totals.delivered > 0 ? Math.round((generatorCpuMs * 1e6) / totals.delivered) : 0,
    generatorCpuPercent: Math.round((generatorCpuMs / wallMs) * 100),
  };
}

const profiler = new WindowProfiler();

serveIpc({
  open,
  trim,
  publishers: openPublishers,
  run,
  closeAll,
  crowdOpen,
  crowdStatus,
  storm,
  profileStart: () => profiler.start(),
  profileStop: (request) => profiler.stop(String(request.path)),
  status: () => ({ groups: Object.fromEntries([...groups].map(([name, members]) => [name, members.length])), publishers: publishers.length, problems, strayOutsideRuns }),
});
