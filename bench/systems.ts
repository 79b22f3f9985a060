/**
 * How to start each benchmarked system as its own server process, and how to tell it is ready.
 * Meridian runs through bench/servers/meridian.ts, which starts the real gateway (gateway/main.ts)
 * in a process that also answers the runner's memory samples.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBenchProcess, waitReady, type BenchProcess } from './lib/processes.ts';
import { portOpen } from '../test/helpers/services.ts';
import { freePort } from '../test/helpers/net.ts';
import type { ProtocolName } from './clients/types.ts';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

export const SYSTEM_NAMES = ['meridian', 'socketio', 'rawws', 'rawws-batched'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export interface SystemSpec {
  name: SystemName;
  /** The wire protocol its clients speak. */
  protocol: ProtocolName;
  label: string;
  script: string;
  /** Environment for a server on `port`, sharing `redisUrl` when given. */
  env(port: number, secret: string, redisUrl?: string): Record<string, string>;
  ready(port: number): Promise<boolean>;
}

/** A publisher connection sends far more than a user would: the gateway's per-connection rate limit is raised for it. */
const BENCH_PUBLISH_RATE_PER_SEC = 1_000_000;

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url);
    await response.body?.cancel();
    return response.ok;
  } catch {
    // Not listening yet: the caller polls again.
    return false;
  }
}

export const SYSTEMS: Record<SystemName, SystemSpec> = {
  meridian: {
    name: 'meridian',
    protocol: 'meridian',
    label: 'Meridian',
    script: join(BENCH_DIR, 'servers', 'meridian.ts'),
    env: (port, secret, redisUrl) => ({
      MERIDIAN_HOST: '127.0.0.1',
      MERIDIAN_PORT: String(port),
      MERIDIAN_JWT_SECRET: secret,
      MERIDIAN_API_KEY: randomBytes(16).toString('hex'),
      // The peers log nothing per connection; Meridian logs warnings and errors only.
      MERIDIAN_LOG_LEVEL: 'warn',
      MERIDIAN_LIMITS_PUBLISH_RATE_PER_SEC: String(BENCH_PUBLISH_RATE_PER_SEC),
      MERIDIAN_LIMITS_PUBLISH_BURST: String(BENCH_PUBLISH_RATE_PER_SEC),
      MERIDIAN_LIMITS_MAX_PENDING_COMMANDS: '10000',
      // One publisher per load generator publishes into hundreds of rooms (a user may name 300 a minute).
      MERIDIAN_LIMITS_ROOMS_PER_USER_PER_MINUTE: '1000000',
      // Two gateways share the machine (redis runs): each metrics listener takes a free port.
      MERIDIAN_METRICS_PORT: '0',
      // Every subscriber connects from 127.0.0.1 at once; the peers have no such cap either.
      MERIDIAN_LIMITS_MAX_ANONYMOUS_SOCKETS: '1000000',
      MERIDIAN_LIMITS_MAX_ANONYMOUS_SOCKETS_PER_ADDRESS: '1000000',
      ...(redisUrl ? { MERIDIAN_REDIS_URL: redisUrl } : {}),
    }),
    ready: (port) => httpOk(`http://127.0.0.1:${port}/readyz`),
  },
  socketio: {
    name: 'socketio',
    protocol: 'socketio',
    label: 'Socket.IO 4',
    script: join(BENCH_DIR, 'servers', 'socketio.ts'),
    env: (port, _secret, redisUrl) => ({ BENCH_PORT: String(port), ...(redisUrl ? { BENCH_REDIS_URL: redisUrl } : {}) }),
    ready: (port) => portOpen(port),
  },
  rawws: {
    name: 'rawws',
    protocol: 'rawws',
    label: 'raw ws (pre-framed)',
    script: join(BENCH_DIR, 'servers', 'rawws.ts'),
    env: (port, _secret, redisUrl) => ({ BENCH_PORT: String(port), ...(redisUrl ? { BENCH_REDIS_URL: redisUrl } : {}) }),
    ready: (port) => portOpen(port),
  },
  // Not a peer: the raw ceiling with the frames a socket gets in one tick written at once,
  // to show what coalescing writes is worth. Not in the default system lists.
  'rawws-batched': {
    name: 'rawws-batched',
    protocol: 'rawws',
    label: 'raw ws (pre-framed, coalesced per tick)',
    script: join(BENCH_DIR, 'servers', 'rawws.ts'),
    env: (port) => ({ BENCH_PORT: String(port), BENCH_COALESCE: '1' }),
    ready: (port) => portOpen(port),
  },
};

export interface StartedServer {
  process: BenchProcess;
  port: number;
  baseUrl: string;
}

export interface StartServerOptions {
  secret: string;
  redisUrl?: string;
  /** Added to the server's environment (e.g. MERIDIAN_REDIS_WAIT_REPLICAS). */
  env?: Record<string, string>;
  fileDescriptors: number;
  readyTimeoutMs: number;
  nodeFlags?: string[];
  labelSuffix?: string;
}

export async function startServer(system: SystemSpec, options: StartServerOptions): Promise<StartedServer> {
  const port = await freePort();
  const proc = spawnBenchProcess({
    label: `${system.label} server${options.labelSuffix ?? ''}`,
    script: system.script,
    env: { ...system.env(port, options.secret, options.redisUrl), ...options.env },
    nodeFlags: options.nodeFlags,
    fileDescriptors: options.fileDescriptors,
  });
  try {
    await waitReady(proc, () => system.ready(port), options.readyTimeoutMs);
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return { process: proc, port, baseUrl: `ws://127.0.0.1:${port}` };
}

export function spawnGenerator(fileDescriptors: number, label = 'load generator'): BenchProcess {
  return spawnBenchProcess({ label, script: join(BENCH_DIR, 'generator', 'main.ts'), fileDescriptors });
}

export function isSystemName(name: string): name is SystemName {
  return Object.hasOwn(SYSTEMS, name);
}
