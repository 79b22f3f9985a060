/**
 * `npm run bench -- redis --cluster`: Meridian's two gateway pods on one redis-server and on
 * Redis Clusters of 1, 3 and 6 masters (no replicas, so only the work of serving counts), and of
 * 3 masters with a replica each, without and with `redis.waitReplicas: 1` (the price of WAIT), in
 * one run, rotated over rounds. Many rooms, spread over the slots by their names. Masters' CPU
 * only: with replicas, what the replicas spend is not counted.
 *
 * Reported per topology: Redis CPU per published message (INFO cpu, user + sys, summed over the
 * masters) and each master's share of it, Redis commands per message, delivered / expected,
 * publish→deliver p50/p99. The question is whether a publication costs one shard only (sharded
 * pub/sub) and whether the load spreads: this machine has 2 cores, so throughput itself cannot
 * grow with shards here; CPU per message and its spread show what would.
 */
import { Redis } from 'ioredis';
import { parseOptions } from './lib/args.ts';
import { BenchError, BenchErrorCode } from './lib/errors.ts';
import { markdownTable, rotate, runHeader, saveRunRecord } from './lib/results.ts';
import { median, round3 } from './lib/stats.ts';
import { redisCpuMs } from './lib/redis-stats.ts';
import { measureSystem, redisOptions, settingsFrom, type Settings, type SystemRound } from './redis.ts';
import { startRedis, startRedisCluster } from '../test/helpers/services.ts';

interface Topology {
  name: string;
  url: string;
  /** Gateway settings of this topology (WAIT). */
  env: Record<string, string>;
  /** One client per master, for INFO. */
  nodes: Redis[];
  stop(): Promise<void>;
}

async function startTopology(name: string): Promise<Topology> {
  if (name === 'single') {
    const server = await startRedis();
    const nodes = [new Redis(server.url, { maxRetriesPerRequest: 1 })];
    return { name: 'one redis-server', url: server.url, env: {}, nodes, stop: async () => (nodes[0].disconnect(), server.stop()) };
  }
  const [, masters, mode] = /^(\d+)([rw]?)$/.exec(name)!;
  // Redis's default node timeout: the test helper's 2 s let a replica take over from a master
  // that a loaded machine merely stalled (seen once in the first recorded run).
  const cluster = await startRedisCluster({ masters: Number(masters), replicas: mode ? 1 : 0, nodeTimeoutMs: 15_000 });
  const nodes = (await cluster.masters()).map((master) => new Redis({ host: '127.0.0.1', port: master.port, maxRetriesPerRequest: 1 }));
  const replicas = mode === 'w' ? ' + replicas, WAIT 1' : mode === 'r' ? ' + replicas' : '';
  return {
    name: `cluster, ${masters} shard${masters === '1' ? '' : 's'}${replicas}`,
    url: cluster.url,
    env: mode === 'w' ? { MERIDIAN_REDIS_WAIT_REPLICAS: '1', MERIDIAN_REDIS_WAIT_TIMEOUT_MS: '500' } : {},
    nodes,
    stop: async () => {
      for (const node of nodes) node.disconnect();
      await cluster.stop();
    },
  };
}

/** How long each topology's idle CPU is measured before its run (cluster cron and gossip cost CPU with no traffic). */
const IDLE_WINDOW_MS = 2_000;

interface TopologyRound {
  topology: string;
  round: number;
  result: SystemRound;
  /** Redis CPU during the run over every master, divided by the messages published. */
  redisCpuUsPerMessage: number;
  /** The same after subtracting what the masters burn idle over as long a time. */
  netRedisCpuUsPerMessage: number;
  /** CPU of all masters together with no traffic, ms per second. */
  idleCpuMsPerSecond: number;
  /** Each master's share of the Redis CPU, highest first. */
  shares: number[];
  deliveredPerSecond: number;
}

export async function runCluster(args: readonly string[]): Promise<unknown> {
  const options = parseOptions(args, redisOptions);
  const shards = (options.shards as string[]).map(String);
  for (const n of shards) if (!/^[1-9]\d*[rw]?$/.test(n)) throw new BenchError(BenchErrorCode.BAD_ARGUMENT, `--shards takes master counts, got '${n}'`);
  // Meridian only: the comparison here is between topologies, not systems.
  const s: Settings = { ...settingsFrom(args.filter((arg) => arg !== '--cluster')), systems: ['meridian'] };
  const log = (line: string) => {
    if (!s.quiet) process.stderr.write(`${line}\n`);
  };
  const header = runHeader();
  const topologies = ['single', ...shards];
  const rounds: TopologyRound[] = [];
  for (let round = 0; round < s.rounds; round++) {
    const order = rotate(topologies, round);
    log(`redis cluster round ${round + 1}/${s.rounds}: ${order.join(' → ')}`);
    for (const [position, name] of order.entries()) {
      const topology = await startTopology(name);
      try {
        log(` ${topology.name}`);
        const idleBefore = await Promise.all(topology.nodes.map(redisCpuMs));
        await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
        const idle = (await Promise.all(topology.nodes.map(redisCpuMs))).map((after, i) => (after - idleBefore[i]) / IDLE_WINDOW_MS);
        const result = await measureSystem(s, topology.url, topology.nodes, 'meridian', round, position, log, topology.env);
        const net = result.redisCpuMsByNode.map((ms, i) => Math.max(0, ms - idle[i] * s.durationMs));
        const cpu = result.redisCpuMsByNode.reduce((sum, ms) => sum + ms, 0);
        const netCpu = net.reduce((sum, ms) => sum + ms, 0);
        rounds.push({
          topology: topology.name,
          round,
          result,
          redisCpuUsPerMessage: round3((cpu * 1000) / Math.max(1, result.published)),
          netRedisCpuUsPerMessage: round3((netCpu * 1000) / Math.max(1, result.published)),
          idleCpuMsPerSecond: round3(idle.reduce((sum, x) => sum + x, 0) * 1000),
          // Shares of the work the traffic caused (idle cost is the same on every master).
          shares: net.map((ms) => round3(ms / Math.max(netCpu, 1e-9))).sort((x, y) => y - x),
          deliveredPerSecond: Math.round(result.delivered / (s.durationMs / 1000)),
        });
        const last = rounds.at(-1)!;
        log(`  Redis CPU ${last.redisCpuUsPerMessage} µs/msg (${last.netRedisCpuUsPerMessage} net of ${last.idleCpuMsPerSecond} ms/s idle), shares ${last.shares.join(' / ')}`);
      } finally {
        await topology.stop();
      }
    }
  }
  const single = (round: number) => rounds.find((r) => r.round === round && r.topology === 'one redis-server')!;
  const rows = [...new Set(rounds.map((r) => r.topology))].map((topology) => {
    const mine = rounds.filter((r) => r.topology === topology);
    return {
      topology,
      redisCpuUsPerMessage: round3(median(mine.map((r) => r.redisCpuUsPerMessage))),
      netRedisCpuUsPerMessage: round3(median(mine.map((r) => r.netRedisCpuUsPerMessage))),
      idleCpuMsPerSecond: round3(median(mine.map((r) => r.idleCpuMsPerSecond))),
      cpuVsSingle: round3(median(mine.map((r) => r.redisCpuUsPerMessage / single(r.round).redisCpuUsPerMessage))),
      netCpuVsSingle: round3(median(mine.map((r) => r.netRedisCpuUsPerMessage / single(r.round).netRedisCpuUsPerMessage))),
      largestShare: round3(median(mine.map((r) => r.shares[0]))),
      shares: mine.at(-1)!.shares,
      redisCommandsPerMessage: round3(median(mine.map((r) => r.result.redisCommandsPerMessage))),
      deliveredPerSecond: Math.round(median(mine.map((r) => r.deliveredPerSecond))),
      p50Ms: round3(median(mine.map((r) => r.result.latency.p50Ms))),
      p99Ms: round3(median(mine.map((r) => r.result.latency.p99Ms))),
      delivered: mine.reduce((sum, r) => sum + r.result.delivered, 0),
      expectedDeliveries: mine.reduce((sum, r) => sum + r.result.expectedDeliveries, 0),
      lossless: mine.every((r) => r.result.lossless),
    };
  });
  const { record, path } = await saveRunRecord(
    'redis-cluster',
    header,
    {
      processes: 'per topology: the redis-server processes (cluster masters without replicas), two Meridian gateway processes (pods a and b), one load-generator process; topologies run one after another, order rotated per round',
      settings: { ...s, shards },
      summary: { rows },
    },
    rounds.map((r) => ({ ...r, source: r.result.source })),
    s.out || undefined,
  );
  if (!s.quiet) {
    const table = markdownTable(
      ['topology', 'Redis CPU µs/msg (net of idle)', 'vs one redis-server (net)', 'idle CPU ms/s', 'largest shard share', 'Redis cmds/msg', 'delivered msg/s', 'p50 ms', 'p99 ms', 'delivered / expected'],
      rows.map((r) => [r.topology, `${r.redisCpuUsPerMessage} (${r.netRedisCpuUsPerMessage})`, `${r.cpuVsSingle} (${r.netCpuVsSingle})`, r.idleCpuMsPerSecond, r.largestShare, r.redisCommandsPerMessage, r.deliveredPerSecond, r.p50Ms, r.p99Ms, `${r.delivered} / ${r.expectedDeliveries}${r.lossless ? '' : ' LOSSES'}`]),
    );
    process.stdout.write(`\n## Redis Cluster (${s.rounds} round(s), ${s.rooms} rooms × ${s.subscribersPerRoom} subscribers over 2 pods, ${s.rate} msg/s)\n\n${table}\n\nfull record: ${path}\n`);
  }
  return record;
}
