/**
 * Two Meridian regions joined by the relay, for the relay benchmark: per region one
 * redis-server and `podsPerRegion` gateway processes (the real gateway in
 * bench/servers/meridian.ts, with its IPC hook), all on one Pub/Sub emulator and one topic.
 * The gateways create the topic and their region's subscription themselves
 * (MERIDIAN_PUBSUB_CREATE=true, as in local runs). Each pod's metrics listener gets its own port
 * so the runner can read the relay's counters and wait until every subscription is open.
 */
import { SYSTEMS } from '../systems.ts';
import { spawnBenchProcess, waitReady, type BenchProcess } from './processes.ts';
import { startRedis, type RedisServer } from '../../test/helpers/services.ts';
import { freePort, waitFor } from '../../test/helpers/net.ts';

export interface RelayPod {
  region: string;
  process: BenchProcess;
  baseUrl: string;
  metricsUrl: string;
}

export interface RelayRegion {
  name: string;
  redis: RedisServer;
  pods: RelayPod[];
}

export interface RegionsOptions {
  names: readonly string[];
  podsPerRegion: number;
  secret: string;
  emulatorHost: string;
  projectId: string;
  topic: string;
  fileDescriptors: number;
  readyTimeoutMs: number;
  /** Extra MERIDIAN_* variables for every pod (relay settings under test). */
  gatewayEnv: Record<string, string>;
}

async function startPod(region: string, index: number, redis: RedisServer, o: RegionsOptions): Promise<RelayPod> {
  const port = await freePort();
  const metricsPort = await freePort();
  const meridian = SYSTEMS.meridian;
  const proc = spawnBenchProcess({
    label: `Meridian ${region}${index}`,
    script: meridian.script,
    env: {
      ...meridian.env(port, o.secret, redis.url),
      MERIDIAN_REGION: region,
      MERIDIAN_METRICS_PORT: String(metricsPort),
      MERIDIAN_PUBSUB_PROJECT: o.projectId,
      MERIDIAN_PUBSUB_TOPIC: o.topic,
      MERIDIAN_PUBSUB_CREATE: 'true',
      PUBSUB_EMULATOR_HOST: o.emulatorHost,
      METADATA_SERVER_DETECTION: 'none',
      ...o.gatewayEnv,
    },
    fileDescriptors: o.fileDescriptors,
  });
  const pod: RelayPod = { region, process: proc, baseUrl: `ws://127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
  try {
    await waitReady(proc, () => meridian.ready(port), o.readyTimeoutMs);
    // Ready serves the region; the relay's subscription opens on its own: wait for it.
    await waitFor(async () => (await scrape(pod).catch(() => new Map<string, number>())).get('meridian_relay_receiving') === 1, { what: `${proc.label}: relay subscription open`, timeoutMs: o.readyTimeoutMs, intervalMs: 100 });
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return pod;
}

export async function startRegions(o: RegionsOptions): Promise<RelayRegion[]> {
  const regions: RelayRegion[] = [];
  try {
    for (const name of o.names) {
      const region: RelayRegion = { name, redis: await startRedis(), pods: [] };
      regions.push(region);
      // One at a time: the first pod of a region creates the subscription the others share.
      for (let i = 0; i < o.podsPerRegion; i++) region.pods.push(await startPod(name, i, region.redis, o));
    }
    return regions;
  } catch (error) {
    await stopRegions(regions);
    throw error;
  }
}

export async function stopRegions(regions: readonly RelayRegion[]): Promise<void> {
  for (const region of regions) {
    await Promise.all(region.pods.map((pod) => pod.process.stop()));
    await region.redis.stop();
  }
}

/** Every sample of the pod's `/metrics`, summed over labels: `name` or `name{labels}` → value. */
export async function scrape(pod: RelayPod): Promise<Map<string, number>> {
  const text = await (await fetch(pod.metricsUrl)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('meridian_relay_')) continue;
    const space = line.lastIndexOf(' ');
    const sample = line.slice(0, space);
    const value = Number(line.slice(space + 1));
    values.set(sample, (values.get(sample) ?? 0) + value);
    const brace = sample.indexOf('{');
    if (brace > 0) {
      const name = sample.slice(0, brace);
      if (!name.endsWith('_bucket')) values.set(name, (values.get(name) ?? 0) + value);
    }
  }
  return values;
}

/** Relay counters of a region's pods (summed), the difference between two scrapes. */
export function relayCounterDelta(before: readonly Map<string, number>[], after: readonly Map<string, number>[], names: readonly string[]): Record<string, number> {
  const sum = (maps: readonly Map<string, number>[], name: string) => maps.reduce((total, m) => total + (m.get(name) ?? 0), 0);
  return Object.fromEntries(names.map((name) => [name, Math.round((sum(after, name) - sum(before, name)) * 1e6) / 1e6]));
}

export const RELAY_COUNTERS = [
  'meridian_relay_sent_total',
  'meridian_relay_received_total{kind="msg"}',
  'meridian_relay_own_dropped_total',
  'meridian_relay_applied_total{outcome="stored"}',
  'meridian_relay_applied_total{outcome="duplicate"}',
  'meridian_relay_apply_failures_total',
  'meridian_relay_repair_requests_total{direction="sent"}',
  'meridian_relay_unrecoverable_gaps_total',
  'meridian_relay_outbox_dropped_total',
  'meridian_relay_deliver_seconds_sum',
  'meridian_relay_deliver_seconds_count',
] as const;

