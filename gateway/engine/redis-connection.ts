/**
 * Where the Redis engine connects: one redis-server or a Redis Cluster, chosen by the URL.
 *
 *   redis://[user:password@]host:port[/db]           one Redis (rediss:// for TLS)
 *   redis+cluster://[user:password@]h1:p1,h2:p2,…    a Redis Cluster (rediss+cluster:// for TLS);
 *                                                   the hosts are seeds, the rest is discovered
 *
 * Both give the engine the same three things: a command client (ioredis `Redis` or `Cluster`,
 * the same calls on both), a subscriber connection (`SUBSCRIBE` on one Redis; one `SSUBSCRIBE`
 * connection per master on a cluster, see redis-cluster-subscriber.ts), and the publish command
 * the scripts use (`publish`, or `spublish` so a cluster delivers a message only within the
 * room's shard instead of broadcasting it to every node).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { EngineInputError } from './common.ts';
import { SLOT_COUNT } from './redis-cluster-slot.ts';
import { ShardedRoomSubscriber } from './redis-cluster-subscriber.ts';
import type { SubscriberConnection } from './redis-subscriptions.ts';

export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean };

const clusterScheme = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#]+)\/?$/;

/** Parses a Redis URL; a `redis+cluster://` URL names the cluster's seed nodes. */
export function parseRedisUrl(url: string): RedisTarget {
  if (typeof url !== 'string' || url.length === 0) throw new EngineInputError('redis engine needs a url');
  const cluster = clusterScheme.exec(url);
  if (!cluster) {
    if (!URL.canParse(url) || !/^rediss?:$/.test(new URL(url).protocol)) {
      throw new EngineInputError('redis url must be redis://host:port, rediss://…, or redis+cluster://host1:port1,host2:port2');
    }
    return { kind: 'single', url };
  }
  const [, scheme, userinfo, hostList] = cluster;
  const nodes = hostList.split(',').map((hostPort) => {
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(hostPort.trim());
    const port = match ? Number(match[2]) : NaN;
    if (!match || port < 1 || port > 65535) throw new EngineInputError('redis+cluster url: every node must be host:port');
    return { host: match[1].replace(/^\[|\]$/g, ''), port };
  });
  const target: RedisTarget = { kind: 'cluster', nodes, tls: scheme === 'rediss' };
  if (userinfo) {
    const separator = userinfo.indexOf(':');
    const username = decodeURIComponent(separator < 0 ? userinfo : userinfo.slice(0, separator));
    if (username) target.username = username;
    if (separator >= 0) target.password = decodeURIComponent(userinfo.slice(separator + 1));
  }
  return target;
}

/** The URL without its password, for logs and errors. */
export function redactRedisUrl(url: string): string {
  if (clusterScheme.test(url)) return url.replace(/\/\/([^@/:]*):[^@/]*@/, '//$1:***@');
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    // An unparsable URL is reported by ioredis itself; never echo it, it may hold a secret.
    return '<invalid redis url>';
  }
}

export interface ConnectionSettings {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  maxReconnectDelayMs: number;
  /** Cluster only: how often the slot map is re-read even when nothing forced it. */
  clusterRefreshMs: number;
}

/** The command client: the calls the engine makes exist on a single connection and a cluster alike. */
export type CommandClient = Redis | Cluster;

/** What the engine listens to on its subscriber side. */
export interface Subscriber extends SubscriberConnection {
  connect(): Promise<unknown>;
  disconnect(): void;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'close' | 'ready', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export interface RedisConnections {
  kind: RedisTarget['kind'];
  command: CommandClient;
  subscriber: Subscriber;
  /** The command a room's publications and events go out with. */
  publishCommand: 'publish' | 'spublish';
  /**
   * Runs the health script on the one Redis, or on the master of every slot of a cluster: a
   * master that cannot be reached (down, not yet replaced by its replica) fails the probe,
   * even though the cluster client itself is still connected to the others.
   */
  probe(script: string): Promise<unknown>;
}

function probeCluster(cluster: Cluster, script: string): Promise<unknown> {
  const connected = new Map(cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
  const owners = new Set<string | undefined>();
  for (let slot = 0; slot < SLOT_COUNT; slot++) owners.add(cluster.slots[slot]?.[0]);
  return Promise.all(
    [...owners].map((owner) => {
      const node = owner === undefined ? undefined : connected.get(owner);
      if (!node || node.status === 'end') return Promise.reject(new Error(owner === undefined ? 'a slot has no master' : `no connection to master ${owner}`));
      return node.eval(script, 0);
    }),
  );
}

export function connectRedis(url: string, settings: ConnectionSettings): RedisConnections {
  const target = parseRedisUrl(url);
  const connection = {
    lazyConnect: true,
    // Fail fast instead of queueing while Redis is away: the caller answers UNAVAILABLE.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A backstop only: the engine's own deadline (withDeadline in redis-health.ts) answers first
    // and lets replies already in the socket win. ioredis's timer would fire in the same timer
    // phase and reject a command whose reply arrived while this process was descheduled.
    commandTimeout: settings.commandTimeoutMs * 2,
    connectTimeout: settings.connectTimeoutMs,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, settings.maxReconnectDelayMs),
  } satisfies RedisOptions;
  if (target.kind === 'single') {
    // No auto-pipelining: it holds every command for a setImmediate, behind whatever else the
    // turn scheduled (a fan-out's socket writes). Redis bench on a quiet machine: publish p99
    // 5.5–6.6 ms with it, 4.1–5.2 ms without (docs/benchmarks.md). Each command is written at
    // once instead (one socket write each).
    const command = new Redis(url, { ...connection, connectionName: 'meridian-engine' });
    // Subscriptions are restored by RoomSubscriptions, so the hub hears `resynced` after them.
    const subscriber = new Redis(url, { ...connection, autoResubscribe: false, connectionName: 'meridian-engine-sub' });
    return { kind: 'single', command, subscriber, publishCommand: 'publish', probe: (script) => command.eval(script, 0) };
  }
  // Node connections: the cluster client reconnects them itself (and drops those of nodes that
  // left), so they keep ioredis's own retry rule; a lazily connected node needs its offline
  // queue for its first command. The cluster-level offline queue is off instead.
  const nodeOptions: RedisOptions = {
    maxRetriesPerRequest: 0,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    ...(target.username ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: {} } : {}),
  };
  const options: ClusterOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    slotsRefreshInterval: settings.clusterRefreshMs,
    slotsRefreshTimeout: settings.commandTimeoutMs,
    clusterRetryStrategy: (attempt: number) => Math.min(attempt * 100, settings.maxReconnectDelayMs),
    redisOptions: { ...nodeOptions, connectionName: 'meridian-engine' },
  };
  const command = new Cluster(target.nodes, options);
  const subscriber = new ShardedRoomSubscriber(command, { ...nodeOptions, connectionName: 'meridian-engine-ssub' });
  return {
    kind: 'cluster',
    command,
    subscriber,
    publishCommand: 'spublish',
    probe: (script) => probeCluster(command, script),
  };
}
